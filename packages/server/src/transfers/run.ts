import { mkdir, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import type { FastifyBaseLogger } from 'fastify';
import type { Caller } from '../auth/authenticate.js';
import type { ServerConfig } from '../config.js';
import type { TaskEnd } from '../entities/endpoints.js';
import { type Located, locate, RealRoots } from '../files/locate.js';
import { may, type Need, type Rights, rightsOn } from '../files/rights.js';
import { HttpError } from '../http/errors.js';
import { sql } from '../store/sql.js';
import type { Store } from '../store/store.js';
import type { UserRow, WorkspaceRow } from '../store/tables.js';
import { copyFile } from './copy.js';
import { measure } from './measure.js';
import { type JobSettings, jobSettings } from './settings.js';

/**
 * One job run by this node, from its claim until it ends, pauses, is aborted or is interrupted (the node stops, or
 * loses its claim). Its tasks are copied a few at a time; progress reaches the database at most once a second, and
 * each task's end at once, so that a node that dies loses no finished task. The job's status is read back at each
 * of those writes: a pause or an abort set through the API stops the copies within a second.
 */

/**
 * Files copied at once within one job. Small files gain from many: their syncs to disk overlap, and one sync of a
 * directory serves all the files renamed into it meanwhile. Large files gain nothing from more than a few on one
 * disk, and each holds buffers of up to 12 MiB; a file is large from LARGE bytes, or when its size is not known.
 */
const PARALLEL = 32;
const PARALLEL_LARGE = 4;
const LARGE = 4 * 1024 * 1024;
/** How long the rights of the job's user, and the real paths of its shares' directories, are trusted. */
const RIGHTS_MS = 10_000;
const FLUSH_MS = 1000;
/**
 * Runnable tasks read at once and copied in turn: a job of many files does not query and sort its queue for each
 * one. A task put on hold meanwhile is not copied (its claim finds it no longer queued); one given a higher
 * priority waits at most for these to start.
 */
const READ_AHEAD = 256;

interface JobRow {
  readonly id: string;
  readonly workspace: string;
  readonly user: string | null;
  readonly queue: string | null;
  readonly status: string;
  readonly size: number | null;
  readonly settings: string | null;
}

interface TaskRow {
  readonly id: string;
  readonly uri: string;
  readonly source: string;
  readonly destination: string;
  readonly attempts: number | null;
  readonly size: number | null;
}

/** A task being copied, as the next flush writes its progress. */
interface Copying {
  readonly id: string;
  bytes: number;
  size: number;
  speed: number;
  flushedBytes: number;
}

/** Why a run stopped early: the node stops or lost its claim, or the job's status changed. */
class Stopped extends Error {
  override readonly name = 'Stopped';
}

/** A failure that trying again will not mend: rights taken away, a path that no longer resolves. */
class Permanent extends Error {
  override readonly name = 'Permanent';
}

export class JobRun {
  readonly done: Promise<void>;
  /** The run ended with tasks left that this node cannot copy (they are for users' machines). */
  idle = false;
  readonly #stop = new AbortController();
  readonly #copying = new Map<string, Copying>();
  #ahead: TaskRow[] = [];
  #bytes = 0;
  #speed = 0;
  #lastFlush = { at: Date.now(), bytes: 0 };
  readonly #rights = new Map<string, { rights: Promise<Rights>; until: number }>();
  readonly #roots = new RealRoots(RIGHTS_MS);
  /** Destination directories this run made (or found there): not made again for each file. */
  readonly #made = new Set<string>();

  constructor(
    readonly id: string,
    private readonly store: Store,
    private readonly config: ServerConfig,
    private readonly log: FastifyBaseLogger,
  ) {
    this.done = this.#run();
  }

  /** Stops the run; its tasks are taken up again later, from where they stopped. */
  interrupt(): void {
    this.#stop.abort(new Stopped('interrupted'));
  }

  async #run(): Promise<void> {
    const job = await this.#job();
    if (!job) return;
    const caller = await callerOf(this.store, job);
    if (!caller) {
      await this.#finish('failed', 'The user who made this transfer is no longer an active user of the workspace.');
      return;
    }
    // Tasks a node was copying when it stopped (or died) are taken up again.
    // Tasks a client carries (to or from a user's machine) are its own until its claim runs out.
    await this.store.execute(sql`UPDATE tasks SET status = 'queued' WHERE job = ${job.id} AND status = 'executing'
      AND carrier IS NULL`);
    await measure(this.store, caller, this.config.dataDir, job.id);
    // A job created paused is measured, and waits to be resumed.
    if (job.status === 'paused') return;
    const settings = await jobSettings(this.store, job);
    const now = new Date().toISOString();
    await this.store.execute(sql`UPDATE jobs SET status = 'running', started = COALESCE(started, ${now}),
      finished = NULL, message = NULL WHERE id = ${job.id} AND status IN ('init', 'waiting')`);
    this.#bytes = await this.#bytesDone();
    this.#lastFlush = { at: Date.now(), bytes: this.#bytes };
    try {
      await this.#copyAll(caller, settings);
    } catch (error) {
      if (!(error instanceof Stopped)) throw error;
    } finally {
      await this.#flush().catch(() => undefined);
    }
  }

  async #job(): Promise<JobRow | undefined> {
    const [job] = await this.store.rows<JobRow>(sql`SELECT id, workspace, "user", queue, status, size, settings
      FROM jobs WHERE id = ${this.id}`);
    return job;
  }

  /** Bytes of the job's files already written: those of its finished tasks. */
  async #bytesDone(): Promise<number> {
    const [row] = await this.store.rows<{ bytes: number | null }>(sql`SELECT SUM(size) AS bytes FROM tasks
      WHERE job = ${this.id} AND status = 'done'`);
    return Number(row?.bytes ?? 0);
  }

  /** Copies the runnable tasks, a few at once, until none is left; then settles the job's status. */
  async #copyAll(caller: Caller, settings: JobSettings): Promise<void> {
    const running = new Set<Promise<void>>();
    try {
      await this.#loop(running, (task) => this.#copyTask(caller, settings, task));
    } finally {
      // Copies stopped midway put their tasks back in the queue before the run lets the job go.
      await Promise.allSettled(running);
    }
    await this.#flush();
    await this.#settle();
  }

  async #loop(running: Set<Promise<void>>, copy: (task: TaskRow) => Promise<void>): Promise<void> {
    let nextFlush = Date.now() + FLUSH_MS;
    for (;;) {
      if (Date.now() >= nextFlush) {
        await this.#flush();
        nextFlush = Date.now() + FLUSH_MS;
      }
      this.#stop.signal.throwIfAborted();
      const free = PARALLEL - running.size;
      const tasks = free > 0 ? await this.#next(free) : [];
      for (const task of tasks) {
        const copying = copy(task).finally(() => running.delete(copying));
        running.add(copying);
      }
      if (running.size === 0) {
        const wait = await this.#nextRetry();
        if (wait === undefined) break;
        await sleep(Math.min(wait, FLUSH_MS), this.#stop.signal);
        continue;
      }
      // Wake for the first copy to end (a stop ends them all), or for the next flush.
      const timer = timeout(Math.max(0, nextFlush - Date.now()));
      await Promise.race([...running, timer.promise]);
      timer.cancel();
    }
  }

  /**
   * Up to `limit` tasks to copy next, in order: those read ahead, read again when none is left; a large file waits
   * while PARALLEL_LARGE are copied.
   */
  async #next(limit: number): Promise<TaskRow[]> {
    if (this.#ahead.length === 0) this.#ahead = await this.#runnable(READ_AHEAD, [...this.#copying.keys()]);
    let large = [...this.#copying.values()].filter((copying) => isLarge(copying.size)).length;
    const next: TaskRow[] = [];
    for (const task of this.#ahead) {
      if (next.length === limit) break;
      if (isLarge(task.size)) {
        if (large === PARALLEL_LARGE) break;
        large++;
      }
      next.push(task);
    }
    this.#ahead.splice(0, next.length);
    return next;
  }

  /** Queued tasks whose ends both lie on this server's shares and whose retry, if any, is due. */
  async #runnable(limit: number, busy: readonly string[]): Promise<TaskRow[]> {
    const rows = await this.store.rows<TaskRow>(sql`SELECT id, uri, source, destination, attempts, size FROM tasks
      WHERE job = ${this.id} AND status = 'queued' AND (retry_at IS NULL OR retry_at <= ${new Date().toISOString()})
      ${busy.length > 0 ? sql`AND id NOT IN (${sql.join(busy)})` : sql.empty}
      ORDER BY priority DESC, created, uri LIMIT ${limit + 50}`);
    return rows.filter((task) => onShares(task)).slice(0, limit);
  }

  /** Milliseconds until the next task's retry is due; undefined when no task waits for one. */
  async #nextRetry(): Promise<number | undefined> {
    const [row] = await this.store.rows<{ at: string | null }>(sql`SELECT MIN(retry_at) AS at FROM tasks
      WHERE job = ${this.id} AND status = 'queued' AND retry_at IS NOT NULL`);
    return row?.at ? Math.max(0, Date.parse(row.at) - Date.now()) : undefined;
  }

  async #copyTask(caller: Caller, settings: JobSettings, task: TaskRow): Promise<void> {
    const copying: Copying = { id: task.id, bytes: 0, size: task.size ?? -1, speed: 0, flushedBytes: 0 };
    this.#copying.set(task.id, copying);
    const started = new Date().toISOString();
    let made: string | undefined;
    try {
      const claimed = await this.store.rows(sql`UPDATE tasks SET status = 'executing',
        started = COALESCE(started, ${started}), modified = ${started} WHERE id = ${task.id} AND status = 'queued'
        RETURNING id`);
      // Put on hold, excluded or removed since it was read ahead.
      if (claimed.length === 0) return;
      const source = await this.#place(caller, JSON.parse(task.source) as TaskEnd, 'read');
      const target = await this.#place(caller, JSON.parse(task.destination) as TaskEnd, 'write');
      const destination =
        target.text.endsWith('/') || (await isDirectory(target.absolute))
          ? join(target.absolute, basename(source.absolute))
          : target.absolute;
      made = dirname(destination);
      if (!this.#made.has(made)) await mkdir(made, { recursive: true });
      this.#made.add(made);
      const copied = await copyFile({
        source: source.absolute,
        destination,
        key: task.id,
        algorithm: settings.checksum,
        verify: settings.verify,
        overwrite: settings.overwrite,
        signal: this.#stop.signal,
        onBytes: (bytes) => {
          copying.bytes += bytes;
          this.#bytes += bytes;
        },
      });
      if (copied.resumed > 0) {
        // Rare (after a stop, a crash or a failed attempt) and worth seeing: the bytes kept were not copied again.
        const resumed = { job: this.id, task: task.id, resumed: copied.resumed, size: copied.size };
        this.log.info(resumed, 'transfer task resumed from its part file');
      }
      const finished = new Date().toISOString();
      const seconds = Math.max(0, Math.round((Date.parse(finished) - Date.parse(started)) / 1000));
      await this.store.execute(sql`UPDATE tasks SET status = 'done', size = ${copied.size}, bytes = ${copied.size},
        progress = 100, speed = -1, etr = 0, checksum = ${copied.checksum}, message = NULL, retry_at = NULL,
        time = ${seconds}, finished = ${finished}, modified = ${finished} WHERE id = ${task.id} AND status = 'executing'`);
    } catch (error) {
      this.#bytes -= copying.bytes;
      // Made again on the next attempt, should it have gone meanwhile.
      if (made !== undefined) this.#made.delete(made);
      if (this.#stop.signal.aborted) {
        await this.store.execute(
          sql`UPDATE tasks SET status = 'queued' WHERE id = ${task.id} AND status = 'executing'`,
        );
        return;
      }
      await this.#failed(task, settings, error, (JSON.parse(task.source) as TaskEnd).path);
    } finally {
      this.#copying.delete(task.id);
    }
  }

  /** Where a task's end lies, checked against the rights of the job's user as they are now. */
  async #place(caller: Caller, end: TaskEnd, need: Need): Promise<Located> {
    let located: Located;
    try {
      located = await locate(this.store, caller, this.config.dataDir, end.path, this.#roots);
    } catch (error) {
      if (error instanceof HttpError && error.status < 500) throw new Permanent(error.message);
      throw error;
    }
    if (!may(await this.#rightsOn(caller, located.volume.id), located.inVolume, need)) {
      const verb = need === 'read' ? 'read' : 'write to';
      throw new Permanent(`Permission denied: the transfer's user may no longer ${verb} "${end.path}".`);
    }
    return located;
  }

  /** The job user's rights on a volume, read again every RIGHTS_MS: an ACL taken away stops the job soon. */
  #rightsOn(caller: Caller, volume: string): Promise<Rights> {
    const known = this.#rights.get(volume);
    if (known && known.until > Date.now()) return known.rights;
    const rights = rightsOn(this.store, caller, volume);
    this.#rights.set(volume, { rights, until: Date.now() + RIGHTS_MS });
    return rights;
  }

  /** A failed attempt: tried again after a pause that doubles each time, until the job's retries are spent. */
  async #failed(task: TaskRow, settings: JobSettings, error: unknown, source: string): Promise<void> {
    const attempts = (task.attempts ?? 0) + 1;
    const message = describe(error, source);
    const now = new Date();
    if (error instanceof Permanent || attempts > settings.retries) {
      await this.store.execute(sql`UPDATE tasks SET status = 'failed', attempts = ${attempts}, message = ${message},
        speed = -1, finished = ${now.toISOString()}, modified = ${now.toISOString()}
        WHERE id = ${task.id} AND status = 'executing'`);
      return;
    }
    const retryAt = new Date(now.getTime() + Math.min(30_000, 500 * 2 ** (attempts - 1))).toISOString();
    await this.store.execute(sql`UPDATE tasks SET status = 'queued', attempts = ${attempts}, message = ${message},
      retry_at = ${retryAt}, modified = ${now.toISOString()} WHERE id = ${task.id} AND status = 'executing'`);
    this.log.info({ job: this.id, task: task.id, attempts, err: error }, 'transfer task failed; retrying');
  }

  /**
   * Writes the job's progress, and its tasks': bytes, percent, speed (MB/s, smoothed) and seconds left; then reads
   * the job's status back and stops the run when it is no longer to run.
   */
  async #flush(): Promise<void> {
    const now = Date.now();
    const seconds = Math.max(0.001, (now - this.#lastFlush.at) / 1000);
    const rate = Math.max(0, this.#bytes - this.#lastFlush.bytes) / seconds / 1e6;
    this.#speed = this.#lastFlush.bytes === this.#bytes && this.#copying.size === 0 ? 0 : smooth(this.#speed, rate);
    this.#lastFlush = { at: now, bytes: this.#bytes };
    const [job] = await this.store.rows<{ status: string; size: number | null; archived: string | null }>(sql`SELECT
      status, size, archived FROM jobs WHERE id = ${this.id}`);
    const size = Number(job?.size ?? 0);
    const progress = size > 0 ? Math.min(100, (this.#bytes / size) * 100) : 0;
    const etr = this.#speed > 0 ? Math.round((size - this.#bytes) / (this.#speed * 1e6)) : null;
    await this.store.execute(sql`UPDATE jobs SET bytes = ${this.#bytes}, progress = ${round(progress)},
      speed = ${this.#copying.size > 0 ? round(this.#speed) : -1}, etr = ${etr},
      status = CASE WHEN status = 'waiting' THEN 'running' ELSE status END WHERE id = ${this.id}`);
    for (const copying of this.#copying.values()) {
      if (copying.bytes === copying.flushedBytes) continue;
      copying.speed = smooth(copying.speed, (copying.bytes - copying.flushedBytes) / seconds / 1e6);
      copying.flushedBytes = copying.bytes;
      await this.store.execute(sql`UPDATE tasks SET bytes = ${copying.bytes}, speed = ${round(copying.speed)}
        WHERE id = ${copying.id} AND status = 'executing'`);
    }
    // Paused, aborted or deleted through the API: the copies stop.
    if (!job || job.archived !== null || !['running', 'waiting', 'init'].includes(job.status)) {
      this.#stop.abort(new Stopped(job?.status ?? 'deleted'));
    }
  }

  /**
   * The job's status once no task is left to run: done when every task is done or excluded, failed when one
   * failed, paused when what is left is on hold; tasks left for a user's machine keep it waiting.
   */
  async #settle(): Promise<void> {
    const counts = new Map(
      (
        await this.store.rows<{ status: string; count: number }>(sql`SELECT status, COUNT(*) AS count FROM tasks
          WHERE job = ${this.id} GROUP BY status`)
      ).map((row) => [row.status, Number(row.count)]),
    );
    const count = (status: string) => counts.get(status) ?? 0;
    if (count('queued') + count('executing') + count('pending') + count('booting') > 0) {
      this.idle = true;
      await this.store.execute(sql`UPDATE jobs SET status = 'waiting', speed = -1
        WHERE id = ${this.id} AND status = 'running'`);
      return;
    }
    if (count('failed') > 0) {
      const [first] = await this.store.rows<{ uri: string; message: string | null }>(sql`SELECT uri, message
        FROM tasks WHERE job = ${this.id} AND status = 'failed' ORDER BY modified LIMIT 1`);
      const total = [...counts.values()].reduce((sum, n) => sum + n, 0);
      await this.#finish(
        'failed',
        `${count('failed')} of ${total} tasks failed; task ${first?.uri}: ${first?.message ?? 'failed'}`,
      );
      return;
    }
    if (count('onhold') > 0) {
      await this.store.execute(sql`UPDATE jobs SET status = 'paused', speed = -1
        WHERE id = ${this.id} AND status = 'running'`);
      return;
    }
    await this.#finish('done', null);
  }

  async #finish(status: 'done' | 'failed', message: string | null): Promise<void> {
    const now = new Date().toISOString();
    await this.store.execute(sql`UPDATE jobs SET status = ${status}, message = ${message}, speed = -1, etr = NULL,
      ${status === 'done' ? sql`progress = 100, ` : sql.empty}finished = ${now}, modified = ${now}
      WHERE id = ${this.id} AND status IN ('init', 'waiting', 'running')`);
  }
}

const isLarge = (size: number | null) => size === null || size < 0 || size >= LARGE;

/** Both ends on the workspace's shares: what this engine copies. The ends on users' machines are their agents'. */
function onShares(task: TaskRow): boolean {
  const ends = [JSON.parse(task.source), JSON.parse(task.destination)] as TaskEnd[];
  return ends.every((end) => end.s !== null && end.user === null && end.client === null);
}

/** The job's user, as a caller of the API would be: the rights of the transfer are theirs. */
async function callerOf(store: Store, job: JobRow): Promise<Caller | undefined> {
  if (job.user === null) return undefined;
  const [workspace] = await store.rows<WorkspaceRow>(sql`SELECT * FROM workspaces WHERE id = ${job.workspace}`);
  const [user] = await store.rows<UserRow>(sql`SELECT * FROM users WHERE id = ${job.user} AND archived IS NULL
    AND inactive = 0 AND status = 'enabled'`);
  return workspace && user ? { workspace, user, session: 'engine' } : undefined;
}

async function isDirectory(path: string): Promise<boolean> {
  return (await stat(path).catch(() => undefined))?.isDirectory() ?? false;
}

/** A failure in words for the task's `message`: what went wrong, the source named, no server path. */
function describe(error: unknown, source: string): string {
  const code = (error as NodeJS.ErrnoException).code;
  const text = error instanceof Error ? error.message : String(error);
  switch (code) {
    case 'ENOENT':
      return `The source "${source}" does not exist (any more).`;
    case 'ENOSPC':
    case 'EDQUOT':
      return 'The destination volume is full.';
    case 'EACCES':
    case 'EPERM':
    case 'EROFS':
      return "The server's file system refused the copy (permission or read-only).";
    default:
      if (error instanceof Permanent) return text;
      // A system error's own text names the server's directories: its code says enough.
      return code ? `Copying "${source}" failed (${code}).` : `Copying "${source}" failed: ${text}.`;
  }
}

const smooth = (previous: number, sample: number) => (previous === 0 ? sample : 0.3 * sample + 0.7 * previous);
const round = (n: number) => Math.round(n * 100) / 100;

function timeout(ms: number): { promise: Promise<void>; cancel(): void } {
  let timer: NodeJS.Timeout | undefined;
  const promise = new Promise<void>((resolve) => {
    timer = setTimeout(resolve, ms);
  });
  return { promise, cancel: () => clearTimeout(timer) };
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}
