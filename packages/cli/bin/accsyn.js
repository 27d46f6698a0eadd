#!/usr/bin/env node
// The `accsyn` command. A plain file rather than the build's output, so that npm links it on install, before the
// first build has made dist/.
import { main } from '../dist/main.js';

main();
