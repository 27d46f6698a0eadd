import type { HolderRef } from '../settings/holders.js';
import { effectiveValue } from '../settings/values.js';
import type { Store } from '../store/store.js';
import type { Algorithm, Overwrite } from './copy.js';

/**
 * The settings the engine runs a job by (settings/registry.ts): what the job was created with (`settings` of its
 * create payload), else what is set on the job, its queue or the workspace, else the default.
 */

export interface JobSettings {
  readonly checksum: Algorithm;
  readonly verify: boolean;
  readonly retries: number;
  readonly overwrite: Overwrite;
}

export async function jobSettings(
  store: Store,
  job: { id: string; workspace: string; queue: string | null; settings: string | null },
): Promise<JobSettings> {
  const given = parsed(job.settings);
  const chain: HolderRef[] = [{ holder: 'job', id: job.id }];
  if (job.queue) chain.push({ holder: 'job', id: job.queue });
  chain.push({ holder: 'workspace', id: job.workspace });
  const value = async (name: string) => given[name] ?? (await effectiveValue(store, job.workspace, chain, name)) ?? '';
  const checksum = await value('checksum');
  const overwrite = await value('overwrite');
  const retries = Number(await value('task_retries'));
  return {
    checksum: checksum === 'sha256' ? 'sha256' : 'xxhash64',
    verify: (await value('verify_checksums')) !== 'false',
    retries: Number.isSafeInteger(retries) && retries >= 0 ? retries : 3,
    overwrite: overwrite === 'overwrite' || overwrite === 'rename' ? overwrite : 'skip_identical',
  };
}

/** How many transfers may run at once in a workspace, and in one of its queues. */
export async function concurrencyOf(
  store: Store,
  workspace: string,
  queue: string | null,
): Promise<{ workspace: number; queue: number }> {
  const top: HolderRef = { holder: 'workspace', id: workspace };
  const queueChain: HolderRef[] = queue ? [{ holder: 'job', id: queue }, top] : [top];
  return {
    workspace: Number(await effectiveValue(store, workspace, [top], 'transfer_concurrency')) || 4,
    queue: Number(await effectiveValue(store, workspace, queueChain, 'queue_concurrency')) || 2,
  };
}

/** The `settings` a job was created with: a dict of strings, whatever else it holds left out. */
function parsed(text: string | null): Record<string, string> {
  if (!text) return {};
  try {
    const value = JSON.parse(text) as unknown;
    if (typeof value !== 'object' || value === null || Array.isArray(value)) return {};
    return Object.fromEntries(Object.entries(value).filter(([, v]) => typeof v === 'string')) as Record<string, string>;
  } catch {
    return {};
  }
}
