import { createHash, randomBytes } from 'node:crypto';
import {
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  truncateSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { chmod } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type CopyOptions, checksumOf, copyFile } from '../src/transfers/copy.js';

/** The engine's copy of one file: whole or not at all, checksummed, resumable, with mode and time kept. */

let dir: string;
const content = randomBytes(9 * 1024 * 1024 + 123);
const sha256 = `sha256:${createHash('sha256').update(content).digest('hex')}`;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'accsyn-copy-'));
  writeFileSync(join(dir, 'source.bin'), content);
  utimesSync(join(dir, 'source.bin'), new Date('2024-05-06T07:08:09.123Z'), new Date('2024-05-06T07:08:09.456Z'));
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

const options = (destination: string, more: Partial<CopyOptions> = {}): CopyOptions => ({
  source: join(dir, 'source.bin'),
  destination: join(dir, destination),
  key: 'task-1',
  algorithm: 'sha256',
  verify: true,
  overwrite: 'overwrite',
  ...more,
});

const parts = () => readdirSync(dir).filter((name) => name.endsWith('.accsyn-part'));

describe('copyFile', () => {
  it('copies the bytes, their checksum, the mode and the modification time, and leaves no part file', async () => {
    await chmod(join(dir, 'source.bin'), 0o640);
    let reported = 0;
    const copied = await copyFile(options('a.bin', { onBytes: (n) => (reported += n) }));
    expect(copied).toMatchObject({ outcome: 'copied', size: content.length, checksum: sha256, resumed: 0 });
    expect(readFileSync(join(dir, 'a.bin')).equals(content)).toBe(true);
    expect(reported).toBe(content.length);
    const written = statSync(join(dir, 'a.bin'));
    expect(written.mode & 0o777).toBe(0o640);
    expect(written.mtime.toISOString()).toBe('2024-05-06T07:08:09.456Z');
    expect(parts()).toEqual([]);
  });

  it('takes xxhash64 checksums as well', async () => {
    const copied = await copyFile(options('x.bin', { algorithm: 'xxhash64' }));
    expect(copied.checksum).toMatch(/^xxhash64:[0-9a-f]{16}$/);
    expect(await checksumOf(join(dir, 'x.bin'), 'xxhash64')).toBe(copied.checksum);
  });

  it('stops when aborted, leaving only a part file, and resumes from it without writing the start again', async () => {
    const controller = new AbortController();
    let seen = 0;
    const first = copyFile(
      options('b.bin', {
        signal: controller.signal,
        onBytes: (n) => {
          seen += n;
          if (seen >= 4 * 1024 * 1024) controller.abort();
        },
      }),
    );
    await expect(first).rejects.toThrow();
    expect(statSync(join(dir, 'b.bin'), { throwIfNoEntry: false })).toBeUndefined();
    const [part] = parts();
    const kept = statSync(join(dir, part as string)).size;
    expect(kept).toBeGreaterThan(0);
    expect(kept).toBeLessThan(content.length);
    const resumed = await copyFile(options('b.bin'));
    expect(resumed).toMatchObject({ outcome: 'copied', checksum: sha256, resumed: kept });
    expect(readFileSync(join(dir, 'b.bin')).equals(content)).toBe(true);
    expect(parts()).toEqual([]);
  });

  it('starts a part longer than the source again', async () => {
    await copyFile(options('c.bin'));
    rmSync(join(dir, 'c.bin'));
    const controller = new AbortController();
    controller.abort();
    await expect(copyFile(options('c.bin', { signal: controller.signal }))).rejects.toThrow();
    const [part] = parts();
    writeFileSync(join(dir, part as string), Buffer.alloc(content.length + 10));
    const copied = await copyFile(options('c.bin'));
    expect(copied).toMatchObject({ resumed: 0, checksum: sha256 });
  });

  it('skips an identical destination, renames beside an existing one, or overwrites it', async () => {
    await copyFile(options('d.bin'));
    const skipped = await copyFile(options('d.bin', { overwrite: 'skip_identical' }));
    expect(skipped).toMatchObject({ outcome: 'skipped', checksum: sha256 });
    writeFileSync(join(dir, 'd.bin'), 'other');
    const replaced = await copyFile(options('d.bin', { overwrite: 'skip_identical' }));
    expect(replaced.outcome).toBe('copied');
    expect(readFileSync(join(dir, 'd.bin')).equals(content)).toBe(true);
    const renamed = await copyFile(options('d.bin', { overwrite: 'rename' }));
    expect(renamed.destination).toBe(join(dir, 'd (1).bin'));
    const again = await copyFile(options('d.bin', { overwrite: 'rename' }));
    expect(again.destination).toBe(join(dir, 'd (2).bin'));
  });

  it('refuses a source that shrinks while it is copied, leaving the destination untouched', async () => {
    writeFileSync(join(dir, 'shrinking.bin'), content);
    const copying = copyFile({
      ...options('e.bin'),
      source: join(dir, 'shrinking.bin'),
      onBytes: () => truncateSync(join(dir, 'shrinking.bin'), 1024),
    });
    await expect(copying).rejects.toThrow(/the source changed while it was copied/);
    expect(statSync(join(dir, 'e.bin'), { throwIfNoEntry: false })).toBeUndefined();
  });
});
