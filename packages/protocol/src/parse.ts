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
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new ProtocolError(`${what} is not valid JSON: ${(error as Error).message}`);
  }
}
