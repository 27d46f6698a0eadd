#!/usr/bin/env node
import { join } from 'node:path';
import { pino } from 'pino';
import { ConfigError, readConfig } from './config.js';
import { startServer } from './server.js';

/** `npm start` / `accsyn server start`: runs the workspace server until SIGTERM or SIGINT. */
async function main(): Promise<void> {
  const config = readConfig(process.argv.slice(2), process.env);
  const logger = pino({ level: process.env.ACCSYN_LOG_LEVEL ?? 'info' });
  const server = await startServer(config, logger);
  // Handlers first: whoever reads the line below may signal at once.
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'stopping: finishing requests in flight');
    server.close().then(
      () => process.exit(0),
      (error) => {
        logger.error({ err: error }, 'stopping failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  const created = server.bootstrapped;
  if (created) {
    const file = join(config.dataDir, 'admin.env');
    const key = created.generated ? `\n  API key:    ${created.apiKey}   (shown once; also in ${file})` : '';
    process.stdout.write(`Created workspace '${created.workspace}' with admin ${created.admin}.${key}\n`);
  }
  process.stdout.write(`listening on ${server.url}\n`);
}

main().catch((error) => {
  const message = error instanceof ConfigError ? error.message : ((error as Error).stack ?? String(error));
  process.stderr.write(`accsyn server: ${message}\n`);
  process.exit(error instanceof ConfigError ? 2 : 1);
});
