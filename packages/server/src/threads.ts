/**
 * Imported first by the server's entry point. Node's file system calls run on libuv's thread pool, four threads
 * unless told otherwise, and the transfer engine keeps several of them busy in fsync: with four, an `ls` waits
 * behind a copy. The pool is sized when first used, so this must run before any other module does I/O.
 */
process.env.UV_THREADPOOL_SIZE ??= '16';
