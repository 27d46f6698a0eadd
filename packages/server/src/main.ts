#!/usr/bin/env node
import './threads.js';
import { serve } from './serve.js';

/** `npm start`: the workspace server until SIGTERM or SIGINT. */
const stop = new AbortController();
// Handlers first: whoever reads the `listening on` line may signal at once.
process.on('SIGTERM', () => stop.abort());
process.on('SIGINT', () => stop.abort());
const code = await serve(process.argv.slice(2), {
  stdout: process.stdout,
  stderr: process.stderr,
  env: process.env,
  signal: stop.signal,
});
process.exit(code);
