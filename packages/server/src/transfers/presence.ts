import { hostname, platform } from 'node:os';
import { CLIENT_TYPES } from 'accsyn-protocol';
import { fold } from 'accsyn-query';
import type { FastifyBaseLogger } from 'fastify';
import { newId } from '../store/ids.js';
import { sql } from '../store/sql.js';
import type { Store } from '../store/store.js';
import { CHECKIN_S, insertClient, markOffline } from './agents.js';
import { releaseLapsed } from './carried.js';

/**
 * A node that runs transfers shows in each workspace as a Server (reference §3.10: type server, roles storage and
 * site, online while it checks in), so that `find("Server WHERE roles CONTAINS storage")` finds it as it finds
 * accsyn's own servers. Nodes on one host share their Server. As it checks in, it also marks offline the clients
 * that stopped checking in, and puts back in the queue the tasks whose claim ran out.
 */
export class Presence {
  readonly #code = hostname();
  #timer: NodeJS.Timeout | undefined;
  #round: Promise<void> | undefined;

  constructor(
    private readonly store: Store,
    private readonly version: string,
    private readonly log: FastifyBaseLogger,
  ) {}

  start(): void {
    const round = () => {
      this.#round ??= this.#checkIn()
        .catch((error: unknown) => this.log.warn({ err: error }, 'presence: a check-in failed; the next one retries'))
        .finally(() => {
          this.#round = undefined;
        });
    };
    this.#timer = setInterval(round, CHECKIN_S * 1000);
    round();
  }

  async stop(): Promise<void> {
    clearInterval(this.#timer);
    await this.#round;
  }

  async #checkIn(): Promise<void> {
    const now = new Date().toISOString();
    const workspaces = await this.store.rows<{ id: string }>(sql`SELECT id FROM workspaces`);
    for (const { id } of workspaces) {
      const updated = await this.store.rows(sql`UPDATE clients SET status = 'online', last_checkin = ${now},
        version = ${this.version} WHERE workspace = ${id} AND type = ${CLIENT_TYPES.server}
        AND code_folded = ${fold(this.#code)} AND archived IS NULL AND status IN ('online', 'offline', 'init')
        RETURNING id`);
      const [known] =
        updated.length > 0
          ? updated
          : await this.store.rows(sql`SELECT id FROM clients
        WHERE workspace = ${id} AND type = ${CLIENT_TYPES.server} AND code_folded = ${fold(this.#code)}
        AND archived IS NULL`);
      if (known) continue;
      const [site] = await this.store.rows<{ id: string }>(sql`SELECT id FROM sites WHERE workspace = ${id}
        AND main = 1 AND archived IS NULL`);
      await insertClient(this.store, {
        id: newId(),
        workspace: id,
        code: this.#code,
        status: 'online',
        type: CLIENT_TYPES.server,
        os: osName(),
        roles: 'storage,site',
        site: site?.id ?? null,
        version: this.version,
        last_checkin: now,
      });
    }
    await markOffline(this.store);
    await releaseLapsed(this.store);
  }
}

/** The OS as reference §3.10 names it. */
export function osName(): string {
  const os = platform();
  return os === 'win32' ? 'windows' : os === 'darwin' ? 'mac' : 'linux';
}
