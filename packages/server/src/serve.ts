import { join } from 'node:path';
import type { Writable } from 'node:stream';
import { pino } from 'pino';
import { ConfigError, readConfig } from './config.js';
import { startServer } from './server.js';

export interface ServeIo {
  readonly stdout: Writable;
  readonly stderr: Writable;
  readonly env: NodeJS.ProcessEnv;
  /** Stops the server: requests in flight finish, then the database closes. */
  readonly signal: AbortSignal;
}

/**
 * `npm start` and `accsyn server start`: runs the workspace server with these settings until the signal, and
 * resolves with the exit code (0 after a clean stop, 2 for bad settings, 1 when it could not start or stop).
 */
export async function serve(argv: readonly string[], io: ServeIo): Promise<number> {
  let server: Awaited<ReturnType<typeof startServer>>;
  const options = { level: io.env.ACCSYN_LOG_LEVEL ?? 'info' };
  // pino's own destination writes to fd 1 faster than the stream does.
  const logger = io.stdout === process.stdout ? pino(options) : pino(options, io.stdout);
  try {
    const config = readConfig(argv, io.env);
    server = await startServer(config, logger);
    const created = server.bootstrapped;
    if (created) {
      const file = join(config.dataDir, 'admin.env');
      const key = created.generated ? `\n  API key:    ${created.apiKey}   (shown once; also in ${file})` : '';
      io.stdout.write(`Created workspace '${created.workspace}' with admin ${created.admin}.${key}\n`);
    }
  } catch (error) {
    const message = error instanceof ConfigError ? error.message : ((error as Error).stack ?? String(error));
    io.stderr.write(`accsyn server: ${message}\n`);
    return error instanceof ConfigError ? 2 : 1;
  }
  const stopped = new Promise<void>((resolve) => {
    if (io.signal.aborted) resolve();
    io.signal.addEventListener('abort', () => resolve(), { once: true });
  });
  io.stdout.write(`listening on ${server.url}\n`);
  await stopped;
  logger.info('stopping: finishing requests in flight');
  try {
    await server.close();
    return 0;
  } catch (error) {
    logger.error({ err: error }, 'stopping failed');
    return 1;
  }
}
