import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openSqlite, type Store } from '../src/store/store.js';

/**
 * What the SQLite store does beneath kysely: rows answered as the objects better-sqlite3 itself would make, by
 * statements that are prepared once and kept.
 */

let dir: string;
let file: string;
let store: Store;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'accsyn-sqlite-'));
  file = join(dir, 'accsyn.db');
  store = await openSqlite(file);
});
afterAll(async () => {
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('rows', () => {
  it('are the objects better-sqlite3 makes: keys in column order, a later column of the same name winning', async () => {
    const text = `SELECT 1 AS a, 'x' AS b, NULL AS c, 2.5 AS a, x'00ff' AS d`;
    const { rows } = await sql.raw(text).execute(store.db);
    const own = new Database(file).prepare(text).all();
    expect(rows).toEqual(own);
    expect(Object.keys(rows[0] as object)).toEqual(['a', 'b', 'c', 'd']);
  });

  it('follow the table when another connection changes its columns', async () => {
    await sql`CREATE TABLE widened (x INTEGER)`.execute(store.db);
    await sql`INSERT INTO widened VALUES (1)`.execute(store.db);
    const all = sql`SELECT * FROM widened`;
    expect((await all.execute(store.db)).rows).toEqual([{ x: 1 }]);
    const other = new Database(file);
    other.exec(`ALTER TABLE widened ADD COLUMN y TEXT DEFAULT 'new'`);
    other.close();
    expect((await all.execute(store.db)).rows).toEqual([{ x: 1, y: 'new' }]);
  });
});
