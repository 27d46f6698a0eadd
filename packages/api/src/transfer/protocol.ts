import { ServerError } from '../errors.js';
import { resultOf } from '../events.js';
import type { Link } from './link.js';

/** The agent events of docs/agent.md, typed: what a carrier says to the server and what it is told. */

export type Algorithm = 'xxhash64' | 'sha256';

/**
 * What to do with a destination file that exists: `skip_identical` keeps one of the source's size and modification
 * time and replaces any other; `overwrite` replaces it; `rename` writes beside it as `name (1).ext`.
 */
export type Overwrite = 'skip_identical' | 'overwrite' | 'rename';

/** A task claimed for this machine. */
export interface Work {
  readonly task: string;
  readonly job: string;
  readonly kind: 'measure' | 'upload' | 'download';
  /** The file on this machine: to read (upload), to write (download), or the source to measure. */
  readonly local: string;
  readonly remote: string;
  /** The source's file name: where a download lands when `local` is a directory. */
  readonly name?: string | undefined;
  readonly size: number | null;
  readonly mtime: number | null;
  readonly checksum: Algorithm;
  readonly overwrite: Overwrite;
  /** Seconds a claim lasts without a progress report. */
  readonly lease: number;
}

export interface CheckIn {
  readonly client: string;
  readonly status: string;
  /** Seconds between check-ins. */
  readonly checkin: number;
  /** Seconds without a check-in after which the client is offline. */
  readonly offline: number;
}

export interface Machine {
  readonly code: string;
  readonly os: 'windows' | 'linux' | 'mac';
  readonly version: string;
  readonly roots: readonly string[];
}

/** A file beneath a measured source: its path relative to it (`""` for the source itself), bytes, time in ms. */
export interface MeasuredFile {
  readonly path: string;
  readonly size: number;
  readonly mtime: number;
}

export function agentEvents(link: Link) {
  const call = async (method: 'GET' | 'PUT', operation: string, data: object, signal?: AbortSignal) =>
    resultOf(await link.send({ method, uri: `agent/${operation}`, data, signal }));
  return {
    async checkin(machine: Machine, client: string | undefined, signal?: AbortSignal): Promise<CheckIn> {
      const data = { ...(client ? { client } : {}), ...machine, roots: [...machine.roots] };
      const answer = (await call('PUT', 'checkin', data, signal)) as Partial<CheckIn> | null;
      if (typeof answer?.client !== 'string') throw new ServerError('agent/checkin answered no client.');
      return { status: 'online', checkin: 10, offline: 60, ...answer } as CheckIn;
    },
    async offline(client: string, signal?: AbortSignal): Promise<void> {
      await call('PUT', 'offline', { client }, signal);
    },
    async work(client: string, limit: number, job: string | undefined, signal?: AbortSignal): Promise<Work[]> {
      const data = { client, limit, ...(job ? { job } : {}) };
      const answer = (await call('GET', 'work', data, signal)) as { tasks?: unknown } | null;
      if (!Array.isArray(answer?.tasks)) throw new ServerError('agent/work answered no list of tasks.');
      return answer.tasks.map(workOf);
    },
    async progress(
      client: string,
      tasks: readonly { task: string; bytes: number }[],
      signal?: AbortSignal,
    ): Promise<string[]> {
      const answer = (await call('PUT', 'progress', { client, tasks }, signal)) as { stop?: unknown } | null;
      return Array.isArray(answer?.stop) ? answer.stop.map(String) : [];
    },
    async measured(
      client: string,
      task: string,
      outcome: { files: readonly MeasuredFile[] } | { error: string },
      signal?: AbortSignal,
    ): Promise<void> {
      await call('PUT', 'measured', { client, task, ...outcome }, signal);
    },
    async done(client: string, task: string, size: number, checksum: string, signal?: AbortSignal): Promise<void> {
      await call('PUT', 'done', { client, task, size, checksum }, signal);
    },
    async failed(client: string, task: string, message: string, permanent: boolean, signal?: AbortSignal) {
      await call('PUT', 'failed', { client, task, message: message.slice(0, 1000), permanent }, signal);
    },
  };
}

export type AgentEvents = ReturnType<typeof agentEvents>;

const KINDS = new Set(['measure', 'upload', 'download']);

function workOf(value: unknown): Work {
  const work = value as Partial<Work> | null;
  if (
    typeof work?.task !== 'string' ||
    typeof work.job !== 'string' ||
    typeof work.local !== 'string' ||
    !KINDS.has(work.kind as string)
  ) {
    throw new ServerError(`agent/work answered a task that is not one: ${JSON.stringify(value)?.slice(0, 200)}`);
  }
  return {
    ...work,
    remote: String(work.remote ?? ''),
    size: typeof work.size === 'number' ? work.size : null,
    mtime: typeof work.mtime === 'number' ? work.mtime : null,
    checksum: work.checksum === 'sha256' ? 'sha256' : 'xxhash64',
    overwrite: work.overwrite === 'overwrite' || work.overwrite === 'rename' ? work.overwrite : 'skip_identical',
    lease: typeof work.lease === 'number' && work.lease > 0 ? work.lease : 60,
  } as Work;
}
