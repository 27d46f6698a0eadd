import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { FastifyBaseLogger } from 'fastify';
import type { ServerConfig } from '../config.js';
import { sql } from '../store/sql.js';
import type { Store } from '../store/store.js';
import { JobRun } from './run.js';
import { concurrencyOf } from './settings.js';

/**
 * The transfer engine of one server node: it takes waiting transfers, runs each with a `JobRun`, and gives them up
 * when they end, pause or are aborted. On several nodes sharing PostgreSQL, a job is claimed by one node at a time:
 * the claim is a lease (`jobs.node`, `jobs.lease`) that the node renews while it runs the job; a job whose lease ran
 * out (its node died) is taken over by another node, which resumes its tasks (a finished file is not copied again:
 * see `copyFile`'s part files and `skip_identical`).
 *
 * Which jobs run: those of the highest queue priority first, then the job's own priority, then the oldest; at most
 * `transfer_concurrency` per workspace and `queue_concurrency` per queue (settings), and among users with jobs
 * waiting, those running the fewest go first.
 */

export interface EngineOptions {
  /** How often the engine looks for work and renews its leases. */
  readonly tickMs?: number;
  /** How long a claim lasts without being renewed. */
  readonly leaseMs?: number;
}

/** Jobs the engine looks at: transfers waiting or running, and paused ones not measured yet. */
const CANDIDATES = sql`j.type = 1 AND j.archived IS NULL
  AND (j.status IN ('init', 'waiting', 'running') OR (j.status = 'paused' AND j.size IS NULL))`;

interface Candidate {
  readonly id: string;
  readonly workspace: string;
  readonly user: string | null;
  readonly queue: string | null;
}

export class Engine {
  readonly node = `${hostname()}:${process.pid}:${randomBytes(3).toString('hex')}`;
  readonly #runs = new Map<string, JobRun>();
  /** Jobs left with only tasks for users' machines, and until when they are not looked at again. */
  readonly #idle = new Map<string, number>();
  /** When this node first saw each job it could take: a busy node leaves a new one to the other nodes a moment. */
  #seen = new Map<string, number>();
  readonly #tickMs: number;
  readonly #leaseMs: number;
  #timer: NodeJS.Timeout | undefined;
  #ticking: Promise<void> | undefined;
  #stopped = false;

  constructor(
    private readonly store: Store,
    private readonly config: ServerConfig,
    private readonly log: FastifyBaseLogger,
    options: EngineOptions = {},
  ) {
    this.#tickMs = options.tickMs ?? 250;
    this.#leaseMs = options.leaseMs ?? 15_000;
  }

  start(): void {
    this.#timer = setInterval(() => this.poke(), this.#tickMs);
    this.poke();
  }

  /** Looks for work now rather than at the next tick (a transfer was created, a status changed). */
  poke(): void {
    if (this.#stopped || this.#ticking) return;
    this.#ticking = this.#tick()
      .catch((error: unknown) => this.log.warn({ err: error }, 'transfer engine: a round failed; the next one retries'))
      .finally(() => {
        this.#ticking = undefined;
      });
  }

  /** Stops taking work, stops the jobs it runs (their tasks resume later, here or on another node) and lets go. */
  async stop(): Promise<void> {
    this.#stopped = true;
    clearInterval(this.#timer);
    await this.#ticking;
    const runs = [...this.#runs.values()];
    for (const run of runs) run.interrupt();
    await Promise.allSettled(runs.map((run) => run.done));
    if (runs.length > 0) {
      await this.store.execute(sql`UPDATE jobs SET node = NULL, lease = NULL
        WHERE id IN (${sql.join(runs.map((run) => run.id))}) AND node = ${this.node}`);
    }
  }

  async #tick(): Promise<void> {
    await this.#renewLeases();
    const candidates = await this.store.rows<Candidate>(sql`SELECT j.id, j.workspace, j."user", j.queue
      FROM jobs j LEFT JOIN jobs q ON q.id = j.queue
      WHERE ${CANDIDATES} AND (j.node IS NULL OR j.node = ${this.node} OR j.lease < ${now()})
      ORDER BY COALESCE(q.priority, 0) DESC, COALESCE(j.priority, 500) DESC, j.created, j.id LIMIT 200`);
    const waiting = candidates.filter((job) => !this.#runs.has(job.id) && (this.#idle.get(job.id) ?? 0) < Date.now());
    const seen = new Map(waiting.map((job) => [job.id, this.#seen.get(job.id) ?? Date.now()]));
    this.#seen = seen;
    if (waiting.length === 0) return;
    const running = await this.#runningCounts();
    // Among users with work, the one running the fewest goes first; ties keep the priority order.
    const order = [...waiting].sort((a, b) => (running.users.get(a.user) ?? 0) - (running.users.get(b.user) ?? 0));
    for (const job of order) {
      if (this.#stopped) return;
      // A node running k jobs leaves a job it has just seen to the others for k times two ticks (k at most 4): an
      // idle node, or a less busy one, takes it first, so that jobs created together spread over the nodes.
      const wait = Math.min(this.#runs.size, 4) * 2 * this.#tickMs;
      if (Date.now() - (seen.get(job.id) ?? 0) < wait) continue;
      const limits = await concurrencyOf(this.store, job.workspace, job.queue);
      if ((running.workspaces.get(job.workspace) ?? 0) >= limits.workspace) continue;
      if ((running.queues.get(job.queue) ?? 0) >= limits.queue) continue;
      if (!(await this.#claim(job.id))) continue;
      bump(running.workspaces, job.workspace);
      bump(running.queues, job.queue);
      bump(running.users, job.user);
      this.#begin(job.id);
    }
  }

  /** Jobs running on any node whose claim holds, by workspace, queue and user. */
  async #runningCounts() {
    const rows = await this.store.rows<{ workspace: string; queue: string | null; user: string | null }>(sql`SELECT
      j.workspace, j.queue, j."user" FROM jobs j WHERE j.type = 1 AND j.node IS NOT NULL AND j.lease >= ${now()}`);
    const counts = {
      workspaces: new Map<string | null, number>(),
      queues: new Map<string | null, number>(),
      users: new Map<string | null, number>(),
    };
    for (const row of rows) {
      bump(counts.workspaces, row.workspace);
      bump(counts.queues, row.queue);
      bump(counts.users, row.user);
    }
    return counts;
  }

  /**
   * Claims a job for this node unless another holds it. On PostgreSQL the row is locked while it is claimed, and a
   * row another node is claiming is skipped rather than waited for.
   */
  async #claim(id: string): Promise<boolean> {
    const lease = new Date(Date.now() + this.#leaseMs).toISOString();
    const free = sql`(node IS NULL OR node = ${this.node} OR lease < ${now()})`;
    const claimed = await this.store.rows<{ id: string }>(
      this.store.dialect === 'postgres'
        ? sql`UPDATE jobs SET node = ${this.node}, lease = ${lease} WHERE id = (SELECT id FROM jobs
            WHERE id = ${id} AND ${free} FOR UPDATE SKIP LOCKED) RETURNING id`
        : sql`UPDATE jobs SET node = ${this.node}, lease = ${lease} WHERE id = ${id} AND ${free} RETURNING id`,
    );
    return claimed.length > 0;
  }

  #begin(id: string): void {
    this.log.debug({ job: id, node: this.node }, 'transfer engine: took a job');
    const run = new JobRun(id, this.store, this.config, this.log);
    this.#runs.set(id, run);
    run.done
      .catch((error: unknown) => this.log.error({ err: error, job: id }, 'transfer engine: a job run failed'))
      .finally(async () => {
        this.#runs.delete(id);
        if (run.idle) this.#idle.set(id, Date.now() + IDLE_MS);
        else this.#idle.delete(id);
        // Let go, so that another node (or this one, on a later round) may take the job when it has work again.
        await this.store
          .execute(sql`UPDATE jobs SET node = NULL, lease = NULL WHERE id = ${id} AND node = ${this.node}`)
          .catch((error: unknown) => this.log.warn({ err: error, job: id }, 'transfer engine: could not release'));
        this.poke();
      });
  }

  async #renewLeases(): Promise<void> {
    if (this.#runs.size === 0) return;
    const lease = new Date(Date.now() + this.#leaseMs).toISOString();
    const ids = [...this.#runs.keys()];
    const kept = await this.store.rows<{ id: string; runnable: number }>(sql`UPDATE jobs SET lease = ${lease}
      WHERE id IN (${sql.join(ids)}) AND node = ${this.node} RETURNING id,
        CASE WHEN status IN ('init', 'waiting', 'running') AND archived IS NULL THEN 1 ELSE 0 END AS runnable`);
    // A job whose claim another node took (this node stalled past its lease) is left to that node. One paused,
    // aborted or deleted through the API stops now, a tick after the change, rather than at its run's next flush.
    const runnable = new Set(kept.filter((row) => Number(row.runnable) === 1).map((row) => row.id));
    for (const id of ids) if (!runnable.has(id)) this.#runs.get(id)?.interrupt();
  }
}

function bump<K>(counts: Map<K, number>, key: K): void {
  counts.set(key, (counts.get(key) ?? 0) + 1);
}

const now = () => new Date().toISOString();

/** How long a job with nothing this node can copy is left alone. */
const IDLE_MS = 5000;
