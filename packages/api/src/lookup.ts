import { entityType } from 'accsyn-protocol';
import { ID, normalType } from './checks.js';
import { AccsynError } from './errors.js';
import { resultOf, type Send } from './events.js';

/**
 * Entities named by id or by code, as the official client's grant and revoke accept them (reference §2.3): a value
 * that is not an id is looked up as the code of an entity whose type has unique codes (a user's e-mail, a queue's,
 * a share's or a site's code), with the same find the official client sends.
 */

/** Whether `type` has unique codes, so that a code can stand for an id. */
export function hasUniqueCode(type: string): boolean {
  return entityType(type)?.uniqueCode === true;
}

/**
 * The id of the entity `idOrCode` names: itself when it is an id, else the id of the `type` of that code, or
 * undefined when there is none the caller may see. A code of a type without unique codes is refused.
 */
export async function idOf(
  send: Send,
  type: string,
  idOrCode: string,
  signal: AbortSignal | undefined,
): Promise<string | undefined> {
  const ident = String(idOrCode ?? '')
    .trim()
    .toLowerCase();
  if (ID.test(ident)) return ident;
  const entity = normalType(type);
  if (ident === '' || !hasUniqueCode(entity)) {
    throw new AccsynError(`A ${entity} is named by its id (24 lowercase letters and digits), not '${idOrCode}'.`);
  }
  const answer = await send({ method: 'GET', uri: `${entity}/find`, data: null, query: codeIs(ident), signal });
  const [found] = resultOf(answer) as { id?: unknown }[];
  return typeof found?.id === 'string' ? found.id : undefined;
}

/** `code='<code>'`, quoted as the query language reads it, quotes and backslashes in the code escaped. */
function codeIs(code: string): string {
  return `code='${code.replace(/[\\']/g, '\\$&')}'`;
}
