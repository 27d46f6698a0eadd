import { createHash } from 'node:crypto';
import { Xxh64 } from '@node-rs/xxhash';
import type { Algorithm } from './protocol.js';

/** A checksum taken as bytes go by, written `<algorithm>:<hex>` as the server writes it (its copy.ts `hasher`). */
export interface Checksum {
  update(data: Uint8Array): void;
  /** `xxhash64:<16 hex digits>` or `sha256:<64 hex digits>`. */
  text(): string;
}

export function checksum(algorithm: Algorithm): Checksum {
  if (algorithm === 'sha256') {
    const hash = createHash('sha256');
    return { update: (data) => hash.update(data), text: () => `sha256:${hash.digest('hex')}` };
  }
  // Seed 0, and the digest (a bigint) as 16 hex digits, zeros in front, exactly as the server prints it.
  const hash = new Xxh64();
  return {
    update: (data) => hash.update(data),
    text: () => `xxhash64:${hash.digest().toString(16).padStart(16, '0')}`,
  };
}
