import { mkdirSync } from 'node:fs';
import type { FastifyBaseLogger, FastifyInstance } from 'fastify';
import { buildApp } from './app.js';
import { type Bootstrapped, bootstrap, writeAdminEnv } from './bootstrap.js';
import type { ServerConfig } from './config.js';
import { MemoryStore } from './limits/memory.js';
import { RedisStore } from './limits/redis.js';
import { openStore } from './store/open.js';
import type { Store } from './store/store.js';

/** A running server: its URL, what its first start created, and how to stop it. */
export interface RunningServer {
  readonly url: string;
  readonly app: FastifyInstance;
  readonly store: Store;
  readonly bootstrapped: Bootstrapped | undefined;
  /** Stops taking connections, lets requests in flight finish, then closes the database. */
  close(): Promise<void>;
}

export async function startServer(config: ServerConfig, logger: FastifyBaseLogger | boolean): Promise<RunningServer> {
  mkdirSync(config.dataDir, { recursive: true });
  const log = typeof logger === 'object' ? logger : undefined;
  const store = await openStore(config.database, (error) =>
    log?.warn({ err: error }, 'a database connection broke; the pool connects again when needed'),
  );
  const limitStore = config.redis ? new RedisStore(config.redis) : new MemoryStore();
  try {
    const bootstrapped = await bootstrap(store, config);
    const app = buildApp({ store, config, logger, limitStore });
    await app.listen({ host: config.host, port: config.port });
    const address = app.server.address();
    const port = typeof address === 'object' && address ? address.port : config.port;
    const host = config.host.includes(':') ? `[${config.host}]` : config.host;
    const url = `${config.tls ? 'https' : 'http'}://${host}:${port}`;
    if (bootstrapped) writeAdminEnv(config.dataDir, bootstrapped, url);
    return {
      url,
      app,
      store,
      bootstrapped,
      async close() {
        await app.close();
        await Promise.all([store.close(), limitStore.close()]);
      },
    };
  } catch (error) {
    await Promise.all([store.close(), limitStore.close()]);
    throw error;
  }
}
