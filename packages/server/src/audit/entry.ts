import { type Envelope, entityType } from 'accsyn-protocol';
import { isId } from '../store/ids.js';

/**
 * What an audit log entry keeps of an event: the entity it wrote, as `<family>:<id>`, and its payload with the
 * secrets masked, cut short when it is large, so that one call cannot fill the log.
 */

/** Keys whose values are secrets, also a setting's `value` when its `name` is such a word. */
const SECRET = /key|pwd|password|token|secret/i;
export const MASKED = '***';
/** The most characters of JSON an entry keeps of a payload. */
export const MAX_DATA = 4096;
/** Below this depth a payload is not kept: nothing an API call sends nests so deep. */
const MAX_DEPTH = 32;
/** The most characters an entry keeps of a uri or a query, which are the caller's text too. */
const MAX_TEXT = 1000;

/**
 * The payload as an entry keeps it: secrets masked; a payload of more than MAX_DATA characters of JSON as
 * `{"truncated": <its length>, "head": <its first MAX_DATA characters>}`.
 */
export function loggedData(data: unknown): unknown {
  if (data === undefined || data === null) return null;
  const masked = mask(data, 0);
  const text = JSON.stringify(masked);
  if (text.length <= MAX_DATA) return masked;
  return { truncated: text.length, head: cut(text, MAX_DATA) };
}

function mask(value: unknown, depth: number): unknown {
  if (value === null || typeof value !== 'object') return value;
  if (depth >= MAX_DEPTH) return '…';
  if (Array.isArray(value)) return value.map((item) => mask(item, depth + 1));
  const object = value as Record<string, unknown>;
  const secretSetting = typeof object.name === 'string' && SECRET.test(object.name);
  // fromEntries makes own properties of every key, `__proto__` included, as the payload had them.
  return Object.fromEntries(
    Object.entries(object).map(([key, item]) => [
      key,
      SECRET.test(key) || (secretSetting && key === 'value') ? MASKED : mask(item, depth + 1),
    ]),
  );
}

/** The first `length` characters of `text`, and of text the caller chose, without U+0000 (PostgreSQL keeps none). */
export function cut(text: string, length = MAX_TEXT): string {
  const head = text.length <= length ? text : text.slice(0, length);
  // Half a surrogate pair is no character.
  const whole = /[\uD800-\uDBFF]$/.test(head) ? head.slice(0, -1) : head;
  return whole.replaceAll('\u0000', '');
}

/**
 * The entity an event wrote, as `<family>:<id>` (`job:...` for transfers, deliveries and their tasks, `share:...` for
 * every kind of share): a new one's id from the result, else the envelope's id, or the workspace's own for
 * `workspace/...`. Null when the uri names no entity type (`setting`), or the entity is not known by id.
 */
export function entityOf(envelope: Envelope, workspace: string, result: unknown): string | null {
  const uri = envelope.uri.trim().toLowerCase();
  const slash = uri.indexOf('/');
  const spec = slash > 0 ? entityType(uri.slice(0, slash)) : undefined;
  if (!spec) return null;
  const family = spec.family === 'task' ? 'job' : spec.family;
  const created = spec.family !== 'task' && uri.slice(slash + 1) === 'create' && Array.isArray(result);
  let id = created ? (result[0] as { id?: unknown } | undefined)?.id : envelope.id;
  if (family === 'workspace') id ??= workspace;
  return typeof id === 'string' && isId(id) ? `${family}:${id}` : null;
}
