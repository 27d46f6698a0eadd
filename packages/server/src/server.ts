import type { FastifyBaseLogger, FastifyInstance } from 'fastify';
import { buildApp } from './app.js';
import { type Bootstrapped, bootstrap, writeAdminEnv } from './bootstrap.js';
import type { ServerConfig } from './config.js';
import { MemoryStore } from './limits/memory.js';
import { RedisStore } from './limits/redis.js';
import { makePrivateFolder, openToOthers } from './private-files.js';
import { openStore } from './store/open.js';
import type { Store } from './store/store.js';
import { Engine } from './transfers/engine.js';
import { Presence } from './transfers/presence.js';

/** The server's version, as its Server entities tell it. */
const SERVER_VERSION = '0.1.0';

/** A running server: its URL, what its first start created, and how to stop it. */
export interface RunningServer {
  readonly url: string;
  readonly app: FastifyInstance;
  readonly store: Store;
  readonly bootstrapped: Bootstrapped | undefined;
  /** The transfer engine, unless `--transfers off`. */
  readonly engine: Engine | undefined;
  /** Stops taking connections, lets requests in flight finish, then closes the database. */
  close(): Promise<void>;
}

export async function startServer(config: ServerConfig, logger: FastifyBaseLogger | boolean): Promise<RunningServer> {
  const log = typeof logger === 'object' ? logger : undefined;
  const mode = openToOthers(config.dataDir);
  // An operator's folder is theirs to change: say so rather than refuse to start.
  if (mode) {
    log?.warn(
      { dataDir: config.dataDir, mode },
      `the data directory ${config.dataDir} is open to other users (mode ${mode}); make it private: chmod 700 ${config.dataDir}`,
    );
  }
  makePrivateFolder(config.dataDir);
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
    const engine = config.transfers
      ? new Engine(store, config, app.log, { leaseMs: config.transferLeaseMs })
      : undefined;
    engine?.start();
    // A node that carries transfers shows as a Server of each workspace, online while it runs.
    const presence = config.transfers ? new Presence(store, SERVER_VERSION, app.log) : undefined;
    presence?.start();
    return {
      url,
      app,
      store,
      bootstrapped,
      engine,
      async close() {
        // Running copies stop first and keep their part files: this node or another resumes them.
        await engine?.stop();
        await presence?.stop();
        await app.close();
        await Promise.all([store.close(), limitStore.close()]);
      },
    };
  } catch (error) {
    await Promise.all([store.close(), limitStore.close()]);
    throw error;
  }
}
