import { createHash, randomBytes, randomInt, timingSafeEqual } from 'node:crypto';

/**
 * API keys. A key is 64 letters and digits, like accsyn's own (381 random bits); only its SHA-256 is stored. A
 * slow password hash would add nothing: a key has far too much entropy to guess, and hashing runs on every login.
 */

const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
export const KEY_LENGTH = 64;

export function newApiKey(): string {
  let key = '';
  // randomInt draws without modulo bias.
  for (let i = 0; i < KEY_LENGTH; i++) key += ALPHABET[randomInt(ALPHABET.length)];
  return key;
}

export function hashApiKey(key: string): string {
  return createHash('sha256').update(key, 'utf8').digest('hex');
}

/** Whether `key` hashes to `hash`, in time that does not depend on where they differ. */
export function keyMatches(key: string, hash: string): boolean {
  const actual = Buffer.from(hashApiKey(key), 'hex');
  const expected = Buffer.from(hash, 'hex');
  return actual.length === expected.length && timingSafeEqual(actual, expected);
}

/** A new opaque session id: 256 random bits. */
export function newSessionId(): string {
  return randomBytes(32).toString('hex');
}

/** Whether a key chosen by an operator (ACCSYN_BOOTSTRAP_API_KEY) is strong enough to accept. */
export function checkChosenKey(key: string): string | undefined {
  if (key.length < 32) return 'must be at least 32 characters';
  if (!/^[\x21-\x7e]+$/.test(key)) return 'must be printable ASCII without spaces';
  return undefined;
}
