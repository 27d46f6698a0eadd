import { readFileSync } from 'node:fs';
import type { Server } from 'node:net';
import type { FastifyBaseLogger } from 'fastify';

/**
 * The server's sockets, whoever opens them, limits or not: at most so many open at once, below the process's file
 * limit, so that descriptors remain for the database, the volumes' files and the clients already served. A
 * connection beyond the cap is closed as soon as it is accepted (Node's `maxConnections`), and that is logged.
 */
export function capConnections(server: Server, max: number | undefined, log: FastifyBaseLogger): void {
  const cap = max ?? defaultConnectionCap(fileLimit());
  if (cap !== undefined) server.maxConnections = cap;
  const note = throttledLog(10_000);
  let dropped = 0;
  server.on('drop', () => {
    dropped++;
    note(() => {
      log.warn({ dropped, max: cap }, `${cap} connections are open, the most allowed: new ones are closed at once`);
      dropped = 0;
    });
  });
  // Once it listens, an accept that fails (EMFILE when descriptors run out after all) costs that connection, not
  // the server; before, an error is `listen`'s to report.
  server.once('listening', () =>
    server.on('error', (error: NodeJS.ErrnoException) => {
      if (error.syscall === 'accept') note(() => log.warn({ err: error }, 'a connection could not be accepted'));
      else log.error({ err: error }, 'server error');
    }),
  );
}

/** The cap when none is set: an eighth of the file limit, and at least 64 descriptors, left for everything else. */
export function defaultConnectionCap(limit: number | undefined): number | undefined {
  if (limit === undefined) return undefined;
  return Math.max(16, limit - Math.max(64, Math.floor(limit / 8)));
}

/** The most files this process may open (its soft RLIMIT_NOFILE), where the system says; Linux does. */
export function fileLimit(): number | undefined {
  try {
    const line = /^Max open files\s+(\d+|unlimited)\s/m.exec(readFileSync('/proc/self/limits', 'utf8'));
    return line?.[1] && line[1] !== 'unlimited' ? Number(line[1]) : undefined;
  } catch {
    return undefined;
  }
}

/** Runs what it is given at most once per `ms`, so that a flood does not flood the log too. */
function throttledLog(ms: number): (write: () => void) => void {
  let last = 0;
  return (write) => {
    const now = Date.now();
    if (now - last < ms) return;
    last = now;
    write();
  };
}
