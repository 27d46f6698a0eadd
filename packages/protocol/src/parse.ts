import { ProtocolError } from './errors.js';

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** Parses JSON that arrived on the wire, as text or as UTF-8 bytes; `what` names it in the error message. */
export function parseJson(input: string | Uint8Array, what: string): unknown {
  let text: string;
  try {
    text = typeof input === 'string' ? input : utf8.decode(input);
  } catch {
    throw new ProtocolError(`${what} is not valid UTF-8`);
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new ProtocolError(`${what} is not valid JSON: ${(error as Error).message}`);
  }
  if (depthOver(value, MAX_DEPTH))
    throw new ProtocolError(`${what} nests lists and objects more than ${MAX_DEPTH} deep`);
  return value;
}

/**
 * How deep wire JSON may nest. JSON.parse takes far deeper input, but whatever walks the value afterwards (our
 * code, JSON.stringify) recurses, and no accsyn payload comes near this.
 */
export const MAX_DEPTH = 64;

/** Whether `value` nests deeper than `limit`; walks iteratively, so that depth cannot exhaust the stack here. */
function depthOver(value: unknown, limit: number): boolean {
  const stack: [unknown, number][] = [[value, 0]];
  while (stack.length > 0) {
    const [item, depth] = stack.pop() as [unknown, number];
    if (typeof item !== 'object' || item === null) continue;
    if (depth >= limit) return true;
    for (const child of Object.values(item)) stack.push([child, depth + 1]);
  }
  return false;
}
