import { randomBytes } from 'node:crypto';

/**
 * A new entity id: 24 lowercase hex characters like accsyn's (MongoDB ObjectId style): 4 bytes of seconds since
 * the epoch, so ids sort roughly by creation, then 8 random bytes.
 */
export function newId(now = Date.now()): string {
  const seconds = Math.floor(now / 1000)
    .toString(16)
    .padStart(8, '0');
  return seconds + randomBytes(8).toString('hex');
}

/** Whether `text` has the shape of an id: 24 lowercase letters and digits, as the official client checks. */
export function isId(text: string): boolean {
  return /^[a-z0-9]{24}$/.test(text);
}
