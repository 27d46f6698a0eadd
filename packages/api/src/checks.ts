import { AccsynError } from './errors.js';

/** Checks of arguments, made before anything is sent: a mistake costs no round trip and reads as a sentence. */

/** An id, as the official client asserts it: 24 lowercase letters and digits. */
export const ID = /^[a-z0-9]{24}$/;

export function checkId(id: unknown, what: string): asserts id is string {
  if (typeof id !== 'string' || !ID.test(id)) {
    throw new AccsynError(`${what} must be an id: 24 lowercase letters and digits, not ${JSON.stringify(id)}.`);
  }
}

/** An entity type as a uri carries it: trimmed and lowercased. */
export function normalType(entityType: string): string {
  const type = String(entityType ?? '')
    .trim()
    .toLowerCase();
  if (!/^[a-z][a-z0-9_]*$/.test(type)) throw new AccsynError(`'${entityType}' is not an entity type.`);
  return type;
}

/** A path of a file call: text, not empty. */
export function checkPath(path: unknown, what = 'path'): asserts path is string {
  if (typeof path !== 'string' || path.trim() === '') {
    throw new AccsynError(`${what} must be a path such as "folder=projects/in" or "renders/a.exr".`);
  }
}
