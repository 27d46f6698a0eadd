import { formatDate } from 'accsyn-protocol';
import { normalType } from './checks.js';
import { AccsynError } from './errors.js';
import { type CallOptions, resultOf, type Send } from './events.js';
import { idOf } from './lookup.js';

/**
 * The settings of the workspace, of users, of jobs and of shares (reference §2.3 get_setting ... delete_setting):
 * one `setting` event each. A setting's holder is `entityType` (the workspace by default) with `entityId`: none for
 * the workspace or yourself, else an id, or a code where the type has unique codes (an e-mail, a queue's code).
 * Values are strings on the wire, always.
 */

export interface SettingTarget extends CallOptions {
  /** `workspace` (the default), `user`, `job` (any job: a queue's settings too), `queue`, `transfer`, `share` ... */
  readonly entityType?: string;
  /** The holder's id (or code); none for the workspace, or for yourself with `user`. */
  readonly entityId?: string;
}

export interface GetSettingOptions extends SettingTarget {
  /** The integration the setting belongs to (accsyn's cloud; this server has none). */
  readonly integration?: string;
  /** Passed on as the official client's `data`. */
  readonly data?: unknown;
}

export interface GetSettingsOptions extends SettingTarget {
  /** Also what the holder inherits (from a job's queue, a folder's volume, the workspace); by default not. */
  readonly upstream?: boolean;
  /** Leave out what is set nowhere (the default); false shows every setting, at its default when unset. */
  readonly omitDefaults?: boolean;
  /** Also what is set on the entities below the holder, each as a dict under `<holder>:<id>`. */
  readonly recursive?: boolean;
  /** A share's id, standing for `entityId`. */
  readonly share?: string;
}

/** Setting names and values. */
export type SettingValues = Record<string, string>;

/** The value of a setting on a holder: set there, else inherited, else its default; null when it has none. */
export async function getSetting(send: Send, name: string, options: GetSettingOptions = {}): Promise<string | null> {
  checkName(name);
  const { type, id } = await holderOf(send, options);
  const data = {
    entitytype: type,
    name,
    ...(options.integration !== undefined ? { integration: options.integration } : {}),
    data: options.data ?? null,
  };
  const answer = await send({ method: 'GET', uri: 'setting', data, id, signal: options.signal });
  const value = answer.result;
  return value === undefined || value === null ? null : text(value);
}

/** The settings of a holder, by name. */
export async function getSettings(
  send: Send,
  options: GetSettingsOptions = {},
): Promise<Record<string, string | SettingValues>> {
  const { type, id } = await holderOf(send, options);
  const data = {
    entitytype: options.entityType === undefined ? null : type,
    recursive: options.recursive === true,
    upstream: options.upstream === true,
    omit_defaults: options.omitDefaults !== false,
    ...(options.share !== undefined ? { share: options.share } : {}),
  };
  const answer = await send({ method: 'GET', uri: 'setting', data, id, signal: options.signal });
  return texts((answer.result ?? {}) as Record<string, unknown>) as Record<string, string | SettingValues>;
}

export async function setSetting(
  send: Send,
  name: string,
  value: string | number | boolean,
  options: SettingTarget = {},
): Promise<true> {
  checkName(name);
  if (!['string', 'number', 'boolean'].includes(typeof value)) {
    throw new AccsynError(`A setting's value is text (or a number or true/false, sent as text), not ${typeof value}.`);
  }
  const { type, id } = await holderOf(send, options);
  const data = { entitytype: type, name, value: String(value) };
  resultOf(await send({ method: 'PUT', uri: 'setting', data, id, signal: options.signal }));
  return true;
}

/** Removes a value, so that the holder inherits again. */
export async function deleteSetting(send: Send, name: string, options: SettingTarget = {}): Promise<true> {
  checkName(name);
  const { type, id } = await holderOf(send, options);
  const data = { entitytype: type, name };
  resultOf(await send({ method: 'DELETE', uri: 'setting', data, id, signal: options.signal }));
  return true;
}

async function holderOf(send: Send, target: SettingTarget): Promise<{ type: string; id: string | undefined }> {
  const type = normalType(target.entityType ?? 'workspace');
  if (target.entityId === undefined) return { type, id: undefined };
  const id = await idOf(send, type, target.entityId, target.signal);
  if (id === undefined) {
    throw new AccsynError(`There is no ${type} ${target.entityId}, or you may not see it.`, { status: 404 });
  }
  return { type, id };
}

function checkName(name: unknown): void {
  if (typeof name !== 'string' || name.trim() === '') throw new AccsynError('A setting is named, such as "checksum".');
}

/** A value as the text it was on the wire: the decoder turns date-like text into a Date, which a setting never is. */
function text(value: unknown): string {
  return value instanceof Date ? formatDate(value) : String(value);
}

function texts(values: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(
    Object.entries(values).map(([name, value]) => [
      name,
      typeof value === 'object' && value !== null && !(value instanceof Date)
        ? texts(value as Record<string, unknown>)
        : text(value),
    ]),
  );
}
