#!/usr/bin/env -S node --
// The `accsyn` command. A plain file rather than the build's output, so that npm links it on install, before the
// first build has made dist/. The `--` keeps node from taking our --env-file as its own, which it does wherever
// the flag stands on its command line.
import { main } from '../dist/main.js';

main();
