import { createHash } from 'node:crypto';
import { stat } from 'node:fs/promises';
import { basename, resolve, sep } from 'node:path';
import { AbortError, AccsynError, TransferError } from '../errors.js';
import type { Session } from '../session.js';
import type { JobStatus, Transfer } from '../types.js';
import type { AgentEvent } from './agent-event.js';
import { Carrier } from './carrier.js';
import type { Link } from './link.js';
import { Presence } from './presence.js';
import type { Overwrite } from './protocol.js';
import { Roots } from './roots.js';

/**
 * `session.upload` and `session.download`: this machine checks in as a Client, a Transfer is made between it and
 * the share path (or the unfinished one of an earlier call with the same ends is taken up again, so that its files
 * resume), its tasks are carried by a carrier of its own, and the job is followed until it ends.
 */

export interface TransferOptions {
  /** Called with the job's progress, at most once a second, and once more when it ends. */
  readonly onProgress?: ((progress: TransferProgress) => void) | undefined;
  /** Stops the transfer: the job is paused, its part files kept, and the call fails with an AbortError. */
  readonly signal?: AbortSignal | undefined;
  /** What to do with destination files that exist (the job's `overwrite` setting; `skip_identical` by default). */
  readonly overwrite?: Overwrite | undefined;
  /** Files carried at once (16). */
  readonly concurrency?: number | undefined;
}

export interface TransferProgress {
  /** The transfer's id. */
  readonly job: string;
  readonly status: JobStatus;
  /** Bytes carried so far. */
  readonly bytes: number;
  /** Bytes of all its files; null until the source has been measured. */
  readonly size: number | null;
  /** Percent. */
  readonly progress: number;
  /** MB/s (10^6 bytes a second). */
  readonly speed: number;
  /** Seconds left at this speed; null while unknown. */
  readonly etr: number | null;
}

type Publish = (progress: TransferProgress) => void;

/** An upload or download under way: await it for the finished Transfer, or iterate it for its progress. */
export class TransferRun implements PromiseLike<Transfer>, AsyncIterable<TransferProgress> {
  private readonly result: Promise<Transfer>;
  private latest: { progress: TransferProgress; count: number } | undefined;
  private readonly waiting = new Set<() => void>();

  constructor(start: (publish: Publish) => Promise<Transfer>) {
    this.result = start((progress) => {
      this.latest = { progress, count: (this.latest?.count ?? 0) + 1 };
      this.ring();
    });
    // Only to wake the iterators; the result itself is left for its awaiters to handle.
    this.result.then(
      () => this.ring(),
      () => this.ring(),
    );
  }

  // biome-ignore lint/suspicious/noThenProperty: awaitable by design, as the client's docs show
  then<A = Transfer, B = never>(
    onFulfilled?: ((job: Transfer) => A | PromiseLike<A>) | null,
    onRejected?: ((reason: unknown) => B | PromiseLike<B>) | null,
  ): Promise<A | B> {
    return this.result.then(onFulfilled, onRejected);
  }

  /** The progress as it changes, ending when the job is done (or throwing its error). */
  async *[Symbol.asyncIterator](): AsyncGenerator<TransferProgress> {
    let seen = 0;
    let settled = false;
    this.result.then(
      () => {
        settled = true;
      },
      () => {
        settled = true;
      },
    );
    for (;;) {
      const latest = this.latest;
      if (latest && latest.count > seen) {
        seen = latest.count;
        yield latest.progress;
      } else if (settled) {
        await this.result;
        return;
      } else {
        await new Promise<void>((resolve) => this.waiting.add(resolve));
      }
    }
  }

  private ring(): void {
    for (const wake of this.waiting) wake();
    this.waiting.clear();
  }
}

export function transfer(
  session: Session,
  link: Link,
  direction: 'upload' | 'download',
  localPath: string,
  remote: string,
  options: TransferOptions,
): TransferRun {
  return new TransferRun((publish) =>
    run(session, link, direction, localPath, remote, options, (progress) => {
      publish(progress);
      options.onProgress?.(progress);
    }),
  );
}

async function run(
  session: Session,
  link: Link,
  direction: 'upload' | 'download',
  localPath: string,
  remote: string,
  options: TransferOptions,
  publish: Publish,
): Promise<Transfer> {
  const signal = options.signal;
  if (signal?.aborted) throw new AbortError('The call was aborted.');
  const local = absolute(localPath);
  if (direction === 'upload' && !(await stat(local).catch(() => undefined))) {
    throw new AccsynError(`"${local}" does not exist.`);
  }
  const roots = await Roots.of([local]);
  // Stopped by the caller's signal only once the job is paused: see `stop` below.
  const controller = new AbortController();
  const presence = new Presence(link, roots.given);
  const { client, checkin } = await presence.checkIn(signal ?? controller.signal);
  const job = await openJob(session, direction, local, remote, client, options, signal);
  let wake = () => {};
  const carrier = new Carrier(link, {
    client,
    roots,
    job: job.id,
    concurrency: options.concurrency,
    // A task that ends may end the job: it is looked at again at once.
    onEvent: (event: AgentEvent) => {
      if (event.type === 'task-done' || event.type === 'task-failed') wake();
    },
    idle: { first: 100, most: 1000 },
  });
  const carrying = Promise.all([carrier.run(controller.signal), presence.keep(checkin, controller.signal)]);
  const stop = () => controller.abort();
  signal?.addEventListener('abort', stop, { once: true });
  try {
    return await follow(session, job.id, carrier, publish, controller.signal, (ring) => {
      wake = ring;
    });
  } catch (error) {
    if (!signal?.aborted) throw error;
    // Paused, so that it waits for the next call with the same ends (or for `status: waiting`), its files resumed.
    await carrying;
    await session.update('Transfer', job.id, { status: 'paused' }).catch(() => undefined);
    await carrier.release();
    throw new AbortError('The call was aborted.', { cause: error });
  } finally {
    signal?.removeEventListener('abort', stop);
    controller.abort();
    await carrying;
  }
}

/**
 * The job of this call: an unfinished one with the same ends (an earlier call that was stopped), taken up again;
 * else a new one. Its name is the file's, and a mark of its ends, by which it is found again.
 */
async function openJob(
  session: Session,
  direction: 'upload' | 'download',
  local: string,
  remote: string,
  client: string,
  options: TransferOptions,
  signal: AbortSignal | undefined,
): Promise<Transfer> {
  const here = `client=${client}:${local}`;
  const [source, destination] = direction === 'upload' ? [here, remote] : [remote, here];
  const mark = `${direction} ${createHash('sha256').update(`${source}\n${destination}`).digest('hex').slice(0, 12)}`;
  const call = signal ? { signal } : {};
  const unfinished = await session.findOne(
    `Transfer WHERE code CONTAINS "(${mark})" AND status IN (init, waiting, running, paused)`,
    call,
  );
  if (unfinished?.status === 'paused') return session.update('Transfer', unfinished.id, { status: 'waiting' }, call);
  if (unfinished) return unfinished;
  const name = `${basename((direction === 'upload' ? local : remote).replace(/[\\/]+$/, '')) || 'transfer'} (${mark})`;
  const settings = options.overwrite ? { settings: { overwrite: options.overwrite } } : {};
  return session.create('Transfer', { name, source, destination, ...settings }, call);
}

const ENDED: ReadonlySet<string> = new Set(['done', 'failed', 'aborted']);

/** Reads the job until it ends, publishing its progress at most once a second (and once when it ends). */
async function follow(
  session: Session,
  id: string,
  carrier: Carrier,
  publish: Publish,
  signal: AbortSignal,
  onWake: (ring: () => void) => void,
): Promise<Transfer> {
  let last: { at: number; bytes: number; speed: number } | undefined;
  for (;;) {
    const job = await session.getEntity('Transfer', id, { signal });
    if (!job) throw new AccsynError(`The transfer ${id} is gone (deleted).`);
    const now = performance.now();
    if (ENDED.has(job.status) || !last || now - last.at >= 1000) {
      const figures = progressOf(job, carrier.bytesOf(id), now, last);
      last = { at: now, bytes: figures.bytes, speed: figures.speed };
      publish(figures);
    }
    if (job.status === 'done') return job;
    if (job.status === 'failed' || job.status === 'aborted') {
      const why = typeof job.message === 'string' && job.message ? `: ${job.message}` : '.';
      throw new TransferError(
        `The transfer ${job.name ?? id} ${job.status === 'failed' ? 'failed' : 'was aborted'}${why}`,
        job,
      );
    }
    await new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer);
        signal.removeEventListener('abort', done);
        resolve();
      };
      const timer = setTimeout(done, 1000);
      signal.addEventListener('abort', done, { once: true });
      onWake(done);
    });
    signal.throwIfAborted();
  }
}

function progressOf(
  job: Transfer,
  carried: number,
  now: number,
  last: { at: number; bytes: number; speed: number } | undefined,
): TransferProgress {
  const size = typeof job.size === 'number' ? job.size : null;
  const done = job.status === 'done';
  const bytes = done && size !== null ? size : Math.max(carried, Number(job.bytes ?? 0));
  const seconds = last ? (now - last.at) / 1000 : 0;
  const sample = last && seconds > 0 ? Math.max(0, bytes - last.bytes) / seconds / 1e6 : 0;
  const speed = ENDED.has(job.status) ? 0 : last && last.speed > 0 ? 0.3 * sample + 0.7 * last.speed : sample;
  const progress = done ? 100 : size ? Math.min(100, (bytes / size) * 100) : 0;
  const etr = speed > 0 && size !== null ? Math.max(0, Math.round((size - bytes) / (speed * 1e6))) : null;
  return {
    job: job.id,
    status: job.status,
    bytes,
    size,
    progress: Math.round(progress * 100) / 100,
    speed: Math.round(speed * 100) / 100,
    etr,
  };
}

/** The path made absolute, its trailing separator (into a directory) kept. */
function absolute(path: string): string {
  const into = /[\\/]$/.test(path) && path.length > 1;
  return `${resolve(path)}${into ? sep : ''}`;
}
