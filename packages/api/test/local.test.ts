import { createHash, randomBytes } from 'node:crypto';
import {
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { checksumOf } from '../../server/src/transfers/copy.js';
import { checksum } from '../src/transfer/checksum.js';
import { LocalError, land, measure, PartFile, partPath, SourceFile } from '../src/transfer/local.js';
import { Roots } from '../src/transfer/roots.js';

/** The files on the agent's machine, on their own: part files, checksums, landing, measuring and roots. */

const folder = mkdtempSync(join(tmpdir(), 'accsyn-local-test-'));
afterAll(() => rmSync(folder, { recursive: true, force: true }));
let n = 0;
const fresh = () => {
  const dir = join(folder, String(n++));
  mkdirSync(dir, { recursive: true });
  return dir;
};

async function* chunks(buffer: Buffer, size = 100_000): AsyncGenerator<Uint8Array> {
  for (let at = 0; at < buffer.length; at += size) yield buffer.subarray(at, at + size);
}

function fault(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => undefined,
    (error: unknown) => error,
  );
}

describe('checksums', () => {
  it.each([0, 1, 15, 4096, 1_000_003])('are the server’s, byte for byte, for %i bytes', async (size) => {
    const file = join(fresh(), 'f');
    const bytes = randomBytes(size);
    writeFileSync(file, bytes);
    for (const algorithm of ['xxhash64', 'sha256'] as const) {
      const hash = checksum(algorithm);
      for await (const chunk of chunks(bytes, 7777)) hash.update(chunk);
      expect(hash.text()).toBe(await checksumOf(file, algorithm));
    }
    expect(checksum('sha256').text()).toBe(`sha256:${createHash('sha256').digest('hex')}`);
  });
});

describe('part files', () => {
  it('are written beside the destination under the task, and resume from their size with the checksum carried on', async () => {
    const dir = fresh();
    const destination = join(dir, 'sub', 'plate.exr');
    const bytes = randomBytes(3_000_000);
    const first = await PartFile.open(destination, 'task1', 'xxhash64', bytes.length - 1);
    expect(first.path).toBe(join(dir, 'sub', '.plate.exr.task1.accsyn-part'));
    expect(first.path).toBe(partPath(destination, 'task1'));
    let counted = 0;
    await first.append(chunks(bytes.subarray(0, 1_234_567)), (added) => {
      counted += added;
    });
    expect(counted).toBe(1_234_567);
    await first.close();

    const again = await PartFile.open(destination, 'task1', 'xxhash64', bytes.length - 1);
    expect(again.size).toBe(1_234_567);
    await again.append(chunks(bytes.subarray(1_234_567)), () => undefined);
    expect(again.size).toBe(bytes.length);
    const hash = checksum('xxhash64');
    hash.update(bytes);
    expect(again.checksum()).toBe(hash.text());
    await again.seal(1_600_000_000_123, 0o640);
    const stats = statSync(again.path);
    expect(stats.mode & 0o777).toBe(0o640);
    expect(Math.abs(stats.mtimeMs - 1_600_000_000_123)).toBeLessThan(1);
    expect(readFileSync(again.path).equals(bytes)).toBe(true);
  });

  it('keep no more than asked (a part as long as the file keeps one byte less) and restart from nothing', async () => {
    const destination = join(fresh(), 'a.bin');
    writeFileSync(partPath(destination, 't'), 'abcdef');
    const part = await PartFile.open(destination, 't', 'sha256', 5);
    expect(part.size).toBe(5);
    await part.restart();
    await part.append(chunks(Buffer.from('xyz')), () => undefined);
    expect(part.checksum()).toBe(`sha256:${createHash('sha256').update('xyz').digest('hex')}`);
    await part.discard();
    expect(readdirSync(join(destination, '..'))).toEqual([]);
  });
});

describe('landing', () => {
  async function sealed(dir: string, name: string, text: string, mtime: number) {
    const part = await PartFile.open(join(dir, name), 'task', 'xxhash64', Number.MAX_SAFE_INTEGER);
    await part.append(chunks(Buffer.from(text)), () => undefined);
    await part.seal(mtime, 0o644);
    return part.path;
  }

  it('skip_identical keeps a file of the same size and time, and replaces one that differs', async () => {
    const dir = fresh();
    const target = join(dir, 'f.txt');
    writeFileSync(target, 'old');
    utimesSync(target, new Date(), new Date(1_700_000_000_000));
    let part = await sealed(dir, 'f.txt', 'new', 1_700_000_000_000);
    expect(await land(part, target, 'skip_identical', { size: 3, mtime: 1_700_000_000_000 })).toEqual({
      path: target,
      landed: false,
    });
    expect(readFileSync(target, 'utf8')).toBe('old');
    expect(readdirSync(dir)).toEqual(['f.txt']);
    part = await sealed(dir, 'f.txt', 'newer', 1_700_000_000_000);
    await land(part, target, 'skip_identical', { size: 5, mtime: 1_700_000_000_000 });
    expect(readFileSync(target, 'utf8')).toBe('newer');
  });

  it('overwrite replaces, rename writes beside as "name (1).ext"', async () => {
    const dir = fresh();
    const target = join(dir, 'shot.v1.exr');
    writeFileSync(target, 'one');
    await land(await sealed(dir, 'shot.v1.exr', 'two', 0), target, 'overwrite', { size: 3, mtime: 0 });
    expect(readFileSync(target, 'utf8')).toBe('two');
    const { path: beside } = await land(await sealed(dir, 'shot.v1.exr', 'three', 0), target, 'rename', {
      size: 5,
      mtime: 0,
    });
    expect(beside).toBe(join(dir, 'shot.v1 (1).exr'));
    expect(readFileSync(beside, 'utf8')).toBe('three');
    expect(readdirSync(dir).sort()).toEqual(['shot.v1 (1).exr', 'shot.v1.exr']);
  });
});

describe('upload sources', () => {
  it('give their bytes from an offset, the checksum carried on from the bytes before', async () => {
    const file = join(fresh(), 'src.bin');
    const bytes = randomBytes(2_500_001);
    writeFileSync(file, bytes);
    const source = await SourceFile.open(file);
    expect(source.size).toBe(bytes.length);
    const hash = await source.checksumTo(1_000_000, 'xxhash64');
    const sent: Buffer[] = [];
    let counted = 0;
    for await (const chunk of source.bytesFrom(1_000_000, hash, (bytes) => {
      counted += bytes;
    }))
      sent.push(Buffer.from(chunk));
    expect(Buffer.concat(sent).equals(bytes.subarray(1_000_000))).toBe(true);
    expect(counted).toBe(1_500_001);
    expect(hash.text()).toBe(await checksumOf(file, 'xxhash64'));
    expect((await source.read()).equals(bytes)).toBe(true);
  });

  it('that do not exist fail for good, naming the path', async () => {
    const missing = join(fresh(), 'gone.exr');
    const error = await fault(SourceFile.open(missing));
    expect(error).toBeInstanceOf(LocalError);
    expect(error).toMatchObject({ permanent: true, message: `"${missing}" does not exist` });
  });
});

describe('measure', () => {
  it('answers a file as itself and a directory as its files, by relative paths with "/"', async () => {
    const dir = fresh();
    mkdirSync(join(dir, 'ålesund', 'deep'), { recursive: true });
    mkdirSync(join(dir, 'empty-dir'));
    writeFileSync(join(dir, 'ålesund', '日本.exr'), 'pixels');
    writeFileSync(join(dir, 'ålesund', 'deep', 'empty'), '');
    writeFileSync(join(dir, 'top.txt'), 'x');
    utimesSync(join(dir, 'top.txt'), new Date(), new Date(1_700_000_000_500));
    symlinkSync(join(dir, 'top.txt'), join(dir, 'link.txt'));
    symlinkSync(join(dir, 'ålesund'), join(dir, 'loop'));
    const files = await measure(dir);
    expect(files.map(({ path, size }) => [path, size])).toEqual([
      ['link.txt', 1],
      ['top.txt', 1],
      ['ålesund/deep/empty', 0],
      ['ålesund/日本.exr', 6],
    ]);
    expect(files.find((file) => file.path === 'top.txt')?.mtime).toBe(1_700_000_000_500);
    expect(await measure(join(dir, 'top.txt'))).toEqual([{ path: '', size: 1, mtime: 1_700_000_000_500 }]);
  });

  it('fails for good on a source that does not exist', async () => {
    const error = await fault(measure(join(folder, 'nothing-here')));
    expect(error).toMatchObject({ permanent: true, message: `"${join(folder, 'nothing-here')}" does not exist` });
  });
});

describe('roots', () => {
  it('let paths beneath them through, also ones that do not exist yet', async () => {
    const root = fresh();
    const roots = await Roots.of([root, join(folder, 'other')]);
    expect(await roots.check(join(root, 'a', 'b.exr'))).toBe(join(root, 'a', 'b.exr'));
    expect(await roots.check(root)).toBe(root);
  });

  it('refuse a path that climbs out with "..", or through a link, naming it and the roots', async () => {
    const root = fresh();
    const outside = fresh();
    symlinkSync(outside, join(root, 'escape'));
    const roots = await Roots.of([root]);
    for (const path of [join(root, '..', 'x'), join(root, 'escape', 'y.exr'), `${root}-sibling/z`]) {
      const error = await fault(roots.check(path));
      expect(error).toBeInstanceOf(LocalError);
      expect(error).toMatchObject({
        permanent: true,
        message: `"${path}" is outside the roots this machine serves ("${root}")`,
      });
    }
  });
});
