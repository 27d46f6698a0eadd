#!/usr/bin/env -S node --
// The `accsyn` command. A plain file rather than the build's output, so that npm links it on install, before the
// first build has made dist/. The `--` keeps node from taking our --env-file as its own, which it does wherever
// the flag stands on its command line.
// `accsyn server start` copies files: a thread pool larger than libuv's four (see packages/server/src/threads.ts).
process.env.UV_THREADPOOL_SIZE ??= '16';
const { main } = await import('../dist/main.js');

main();
