import { rm, stat } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { AccsynError, ConnectionError, RateLimitError, ServerError } from '../errors.js';
import { retryable, sleep } from '../retry.js';
import type { AgentEvent, TaskFacts } from './agent-event.js';
import { checksum } from './checksum.js';
import { getDownload, OffsetConflict, putUpload, uploadOffset } from './data.js';
import type { Link } from './link.js';
import { LocalError, land, localError, measure, PartFile, SourceFile } from './local.js';
import { type AgentEvents, agentEvents, type MeasuredFile, type Work } from './protocol.js';
import type { Roots } from './roots.js';

/**
 * Carries the tasks the server gives this machine (docs/agent.md): asks for work (`agent/work`), runs several
 * files at once, reports the bytes of each once a second (`agent/progress`, which renews the claims and names the
 * tasks to stop), and how each ended (`agent/measured`, `agent/done`, `agent/failed`). A file whose connection
 * breaks is tried again after a pause, from where it stopped.
 */

export interface CarrierOptions {
  /** This machine's Client. */
  readonly client: string;
  readonly roots: Roots;
  /** Only this job's tasks. */
  readonly job?: string | undefined;
  /** Files at once (16); at most 4 of them large. */
  readonly concurrency?: number | undefined;
  readonly onEvent?: ((event: AgentEvent) => void) | undefined;
  /** Milliseconds to wait before asking for work again when none came: `first`, doubling up to `most`. */
  readonly idle?: { readonly first: number; readonly most: number } | undefined;
}

/** A file of this many bytes or more is large: a few of them at once keep a disk and a network busy. */
export const LARGE = 4 * 1024 * 1024;
const LARGE_AT_ONCE = 4;
const MAX_WORK = 64;
/** Answers in a row saying another offset, before the attempt is given up. */
const MAX_CONFLICTS = 10;

interface Held {
  readonly work: Work;
  readonly controller: AbortController;
  readonly large: boolean;
  /** The bytes of the file carried, resumed ones included: what the server is told. */
  bytes: number;
  /** The bytes that crossed the network. */
  sent: number;
  started: boolean;
}

/** A failure the server knows of already: not reported with agent/failed. */
class Reported extends Error {
  constructor(
    message: string,
    readonly permanent: boolean,
  ) {
    super(message);
  }
}

export class Carrier {
  private readonly events: AgentEvents;
  private readonly held = new Map<string, Held>();
  private readonly running = new Set<Promise<void>>();
  /** Bytes of the tasks finished, by job. */
  private readonly finished = new Map<string, number>();
  private readonly concurrency: number;
  private readonly largeAtOnce: number;
  private bell: (() => void) | undefined;
  /** The files held when `run` ended. */
  private stopped: Held[] = [];

  constructor(
    private readonly link: Link,
    private readonly options: CarrierOptions,
  ) {
    this.events = agentEvents(link);
    this.concurrency = Math.max(1, Math.min(MAX_WORK, Math.floor(options.concurrency ?? 16)));
    this.largeAtOnce = Math.min(LARGE_AT_ONCE, this.concurrency);
  }

  /** Carries until `signal` aborts; then stops every file (their part files stay) and resolves once all have. */
  async run(signal: AbortSignal): Promise<void> {
    const stopAll = () => {
      for (const held of this.held.values()) held.controller.abort();
      this.bell?.();
    };
    signal.addEventListener('abort', stopAll, { once: true });
    try {
      await Promise.all([this.askForWork(signal), this.reportProgress(signal)]);
    } finally {
      this.stopped = [...this.held.values()].filter((held) => held.work.kind !== 'measure');
      stopAll();
      signal.removeEventListener('abort', stopAll);
      while (this.running.size > 0) await Promise.allSettled([...this.running]);
    }
  }

  /**
   * After `run` ended: tells the server where the files it stopped are, once more. Those whose job is paused (or
   * aborted) are then taken back at once, rather than when their claims run out.
   */
  async release(): Promise<void> {
    const tasks = this.stopped.map((held) => ({ task: held.work.task, bytes: held.bytes }));
    this.stopped = [];
    if (tasks.length === 0) return;
    await this.events.progress(this.options.client, tasks, AbortSignal.timeout(10_000)).catch(() => undefined);
  }

  /** The bytes carried so far of a job's tasks: those held now and those finished. */
  bytesOf(job: string): number {
    let bytes = this.finished.get(job) ?? 0;
    for (const held of this.held.values()) if (held.work.job === job) bytes += held.bytes;
    return bytes;
  }

  private async askForWork(signal: AbortSignal): Promise<void> {
    const { first, most } = this.options.idle ?? { first: 250, most: 2000 };
    let idle = first;
    let failures = 0;
    while (!signal.aborted) {
      const free = this.concurrency - this.held.size;
      if (free === 0) {
        await this.nap(most, signal);
        continue;
      }
      let got: Work[];
      try {
        got = await this.events.work(this.options.client, free, this.options.job, signal);
        failures = 0;
      } catch (error) {
        if (signal.aborted) return;
        const delay = this.retrying('asking for work', ++failures, error);
        await this.nap(delay, signal);
        continue;
      }
      for (const work of got) this.hold(work);
      if (got.length === free) continue;
      idle = got.length > 0 ? first : idle;
      await this.nap(idle, signal);
      if (got.length === 0) idle = Math.min(most, idle * 2);
    }
  }

  /** Once a second: the bytes of each file, which renews the claims; the server answers the tasks to stop. */
  private async reportProgress(signal: AbortSignal): Promise<void> {
    let failures = 0;
    while (!signal.aborted) {
      await sleep(1000, signal).catch(() => undefined);
      // Measures are quick, and not claimed as files are.
      const tasks = [...this.held.values()]
        .filter((held) => held.work.kind !== 'measure')
        .map((held) => ({ task: held.work.task, bytes: held.bytes }));
      if (tasks.length === 0 || signal.aborted) continue;
      try {
        const stop = await this.events.progress(this.options.client, tasks, signal);
        failures = 0;
        for (const task of stop) this.held.get(task)?.controller.abort();
      } catch (error) {
        // Tried again in a second anyway; said once per outage.
        if (!signal.aborted && ++failures === 1) this.retrying('reporting progress', failures, error);
      }
    }
  }

  private hold(work: Work): void {
    if (this.held.has(work.task)) return;
    const large = work.kind !== 'measure' && (work.size ?? 0) >= LARGE;
    this.held.set(work.task, { work, controller: new AbortController(), large, bytes: 0, sent: 0, started: false });
    this.schedule();
  }

  /** Starts what may start: any file while fewer than `concurrency` run, a large one while few large ones do. */
  private schedule(): void {
    let large = [...this.held.values()].filter((held) => held.started && held.large).length;
    for (const held of this.held.values()) {
      if (held.started || (held.large && large >= this.largeAtOnce)) continue;
      held.started = true;
      if (held.large) large++;
      const carrying: Promise<void> = this.carry(held).finally(() => {
        this.running.delete(carrying);
        this.held.delete(held.work.task);
        this.schedule();
        this.bell?.();
      });
      this.running.add(carrying);
    }
  }

  private async carry(held: Held): Promise<void> {
    const { work, controller } = held;
    const facts: TaskFacts = { task: work.task, job: work.job, kind: work.kind, local: work.local };
    const signal = controller.signal;
    this.emit({ type: 'task-started', ...facts });
    try {
      const { local, size } = await this.perform(held, signal);
      this.finished.set(work.job, (this.finished.get(work.job) ?? 0) + size);
      this.emit({ type: 'task-done', ...facts, local, size, sent: held.sent });
    } catch (error) {
      if (signal.aborted) {
        this.emit({ type: 'task-stopped', ...facts });
        return;
      }
      const permanent = (error instanceof LocalError || error instanceof Reported) && error.permanent;
      const message = (error as Error).message ?? String(error);
      if (!(error instanceof Reported)) {
        await this.reliably('reporting a failure', signal, () =>
          this.events.failed(this.options.client, work.task, message, permanent, signal),
        ).catch(() => undefined);
      }
      this.emit({ type: 'task-failed', ...facts, message, permanent });
    }
  }

  private perform(held: Held, signal: AbortSignal): Promise<{ local: string; size: number }> {
    switch (held.work.kind) {
      case 'measure':
        return this.measure(held, signal);
      case 'upload':
        return this.upload(held, signal);
      case 'download':
        return this.download(held, signal);
    }
  }

  private async measure({ work }: Held, signal: AbortSignal): Promise<{ local: string; size: number }> {
    const path = await this.options.roots.check(work.local);
    let outcome: { files: MeasuredFile[] } | { error: string };
    try {
      outcome = { files: await measure(path) };
    } catch (error) {
      if (!(error instanceof LocalError)) throw error;
      outcome = { error: error.message };
    }
    await this.reliably('reporting a measure', signal, () =>
      this.events.measured(this.options.client, work.task, outcome, signal),
    );
    if ('error' in outcome) throw new Reported(outcome.error, true);
    return { local: path, size: outcome.files.reduce((sum, file) => sum + file.size, 0) };
  }

  /**
   * A small file is read once into memory, checksummed, and sent whole in one request that ends the upload. A large
   * one is streamed from where the server's part file stops, checksummed as it goes, then ended by an empty request
   * that carries its checksum.
   */
  private async upload(held: Held, signal: AbortSignal): Promise<{ local: string; size: number }> {
    const { work } = held;
    const path = await this.options.roots.check(work.local);
    const source = await SourceFile.open(path);
    const whole =
      source.size < LARGE ? await source.read().catch((error) => Promise.reject(localError(error, path))) : undefined;
    const sum = whole && checksumOf(whole, work);
    const end = (text: string) => ({ size: source.size, checksum: text, mtime: source.mtime, mode: source.mode });
    const count = (bytes: number) => {
      held.bytes += bytes;
      held.sent += bytes;
    };
    // A small file's first try is sent from the start without asking: a part file there is answered with its size.
    let offset: number | undefined = whole ? 0 : undefined;
    await this.persist(`upload of "${path}"`, signal, async () => {
      try {
        offset ??= await uploadOffset(this.link, work.task, signal);
        if (offset > source.size) {
          throw new LocalError(`"${path}" is shorter than what the server holds of it: it changed since`, false);
        }
        held.bytes = offset;
        const length = source.size - offset;
        if (whole && sum) {
          const bytes = { bytes: pieces(whole, offset, count), length };
          const answer = await putUpload(this.link, work.task, offset, bytes, end(sum), signal);
          if (!answer.done) throw new ServerError(`The server did not take "${path}" as whole.`);
          return;
        }
        const hash = await source.checksumTo(offset, work.checksum);
        if (length > 0) {
          const bytes = { bytes: source.bytesFrom(offset, hash, count), length };
          await putUpload(this.link, work.task, offset, bytes, undefined, signal);
        }
        offset = source.size;
        const answer = await putUpload(this.link, work.task, offset, undefined, end(hash.text()), signal);
        if (!answer.done) throw new ServerError(`The server did not take "${path}" as whole.`);
      } catch (error) {
        // The next try goes on from the offset the server named; after a refusal (429, never processed) from the
        // same offset; else it asks.
        if (error instanceof OffsetConflict) offset = error.offset;
        else if (!(error instanceof RateLimitError)) offset = undefined;
        throw error;
      }
    });
    return { local: path, size: source.size };
  }

  /**
   * Downloads into the part file from where it stops, puts the file in place, then has the server compare its
   * checksum with the source's (`agent/done`): a task recorded done has its file where it belongs. The part keeps
   * one byte less than the file, so that a resumed request always has a byte to ask for.
   */
  private async download(held: Held, signal: AbortSignal): Promise<{ local: string; size: number }> {
    const { work } = held;
    const given = await this.options.roots.check(work.local);
    // `local` may be a directory to put the file in: then it lands under the source's name.
    const into = /[\\/]$/.test(work.local) || (await stat(given).catch(() => undefined))?.isDirectory();
    const name = basename(work.name ?? work.remote.replace(/\/+$/, ''));
    const path = into ? await this.options.roots.check(join(given, name)) : given;
    const written = await this.persist(`download to "${path}"`, signal, async () => {
      const keep = work.size === null ? Number.MAX_SAFE_INTEGER : work.size - 1;
      const part = await PartFile.open(path, work.task, work.checksum, keep).catch((error: unknown) => {
        throw localError(error, path);
      });
      let sealed = false;
      try {
        held.bytes = part.size;
        const download = await getDownload(this.link, work.task, part.size, signal).catch(async (error: unknown) => {
          if (!(error instanceof AccsynError && error.status === 416)) throw error;
          // The source is shorter than the part: it changed, and is downloaded afresh.
          await part.restart();
          return getDownload(this.link, work.task, 0, signal);
        });
        if (download.start !== part.size) {
          if (download.start !== 0) throw new ServerError(`GET /d/${work.task} answered from byte ${download.start}.`);
          await part.restart();
          held.bytes = 0;
        }
        await part.append(download.body, (bytes) => {
          held.bytes += bytes;
          held.sent += bytes;
        });
        if (part.size !== download.size) {
          throw new ConnectionError(`The download to "${path}" ended at ${part.size} of ${download.size} bytes.`);
        }
        const sum = part.checksum();
        await part.seal(download.mtime, download.mode).catch((error: unknown) => {
          throw localError(error, path);
        });
        sealed = true;
        const landed = await land(part.path, path, work.overwrite, download).catch((error: unknown) => {
          throw localError(error, path);
        });
        return { ...landed, size: download.size, checksum: sum };
      } finally {
        if (!sealed) await part.close();
      }
    });
    await this.reliably('reporting a download', signal, () =>
      this.events.done(this.options.client, work.task, written.size, written.checksum, signal),
    ).catch(async (error: unknown) => {
      if (!(error instanceof AccsynError && error.status === 409)) throw error;
      // The bytes are not the source's: what was put in place goes, and the server sends the file again.
      if (written.landed) await rm(written.path, { force: true });
      throw new Reported(error.message, false);
    });
    return { local: written.path, size: written.size };
  }

  /**
   * Tries `attempt` until it succeeds: again at once when the server holds another offset, after a growing pause
   * when the network or the server failed, or the server is busy with the file (409). Anything else is a failure.
   */
  private async persist<T>(what: string, signal: AbortSignal, attempt: () => Promise<T>): Promise<T> {
    let conflicts = 0;
    let failures = 0;
    for (;;) {
      try {
        return await attempt();
      } catch (error) {
        if (signal.aborted) throw error;
        if (error instanceof OffsetConflict && ++conflicts < MAX_CONFLICTS) continue;
        const busy = error instanceof AccsynError && error.status === 409 && !(error instanceof OffsetConflict);
        if (!(retryable(error, true) || (busy && ++conflicts < MAX_CONFLICTS))) throw error;
        // A refusal (429) waits what the server asks, and does not lengthen the pauses after failures.
        if (!(error instanceof RateLimitError)) failures++;
        await sleep(this.retrying(what, failures, error), signal);
      }
    }
  }

  /** Sends a report until it is received, through network failures. */
  private async reliably(what: string, signal: AbortSignal, call: () => Promise<void>): Promise<void> {
    await this.persist(what, signal, call);
  }

  /**
   * Says that `what` is tried again, and answers after how long: what the server asked for when it refused (429),
   * with up to a second more so that refused files do not all come back at once; else a pause that doubles with
   * each failure, to 30 seconds at most.
   */
  private retrying(what: string, attempt: number, error: unknown): number {
    if (error instanceof RateLimitError) {
      const delay = (error.retryAfter ?? 1) * 1000 + Math.random() * 1000;
      this.emit({ type: 'rate-limited', what, delay });
      return delay;
    }
    const bound = Math.min(30_000, 500 * 2 ** Math.min(attempt - 1, 10));
    const delay = bound / 2 + (Math.random() * bound) / 2;
    this.emit({ type: 'retrying', what, attempt, delay, message: (error as Error)?.message ?? String(error) });
    return delay;
  }

  /** Waits `ms`, or until a file ends or the carrier stops. */
  private nap(ms: number, signal: AbortSignal): Promise<void> {
    if (signal.aborted) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        resolve();
      }
      this.bell = done;
    });
  }

  private emit(event: AgentEvent): void {
    try {
      this.options.onEvent?.(event);
    } catch {
      // A listener's mistake is not the carrier's.
    }
  }
}

function checksumOf(bytes: Buffer, work: Work): string {
  const hash = checksum(work.checksum);
  hash.update(bytes);
  return hash.text();
}

/** A buffer from `offset` on, in pieces, each counted once taken. */
async function* pieces(buffer: Buffer, offset: number, count: (bytes: number) => void): AsyncGenerator<Uint8Array> {
  for (let at = offset; at < buffer.length; at += 1024 * 1024) {
    const piece = buffer.subarray(at, Math.min(buffer.length, at + 1024 * 1024));
    yield piece;
    count(piece.length);
  }
}
