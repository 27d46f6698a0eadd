import type Database from 'better-sqlite3';
import type { Schema } from '../../src/index.js';
import type { PostgresSchema } from './databases.js';

/** A table of transfer-like rows, the same in SQLite and PostgreSQL, and the schema that maps queries onto it. */

export interface Row {
  readonly id: number;
  readonly code: string | null;
  readonly status: string | null;
  readonly size: number | null;
  readonly paused: boolean | null;
  readonly created: Date | null;
  readonly 'job.id': string | null;
}

export const schema: Schema = {
  id: { type: 'number', required: true },
  code: { type: 'string' },
  // Statuses are kept folded beside the value, as a store does for speed; the query must not care.
  status: { type: 'string', folded: 'status_folded' },
  size: { type: 'number' },
  paused: { type: 'boolean' },
  created: { type: 'date' },
  'job.id': { type: 'string' },
};

export function createSqliteTable(db: Database.Database, rows: readonly Row[]): void {
  db.exec(`
    CREATE TABLE transfers (
      id INTEGER PRIMARY KEY, code TEXT, status TEXT, status_folded TEXT, size REAL, paused INTEGER,
      created TEXT, job_id TEXT);
    CREATE INDEX transfers_code ON transfers (accsyn_fold(code));
    CREATE INDEX transfers_status ON transfers (status_folded);`);
  const insert = db.prepare('INSERT INTO transfers VALUES (?, ?, ?, accsyn_fold(?), ?, ?, ?, ?)');
  db.transaction(() => {
    for (const r of rows) {
      const paused = r.paused === null ? null : Number(r.paused);
      insert.run(r.id, r.code, r.status, r.status, r.size, paused, r.created?.toISOString() ?? null, r['job.id']);
    }
  })();
}

export async function createPostgresTable(database: PostgresSchema, rows: readonly Row[]): Promise<void> {
  const { client } = database;
  await client.query(`
    CREATE TABLE transfers (
      id integer PRIMARY KEY, code text, status text, status_folded text, size double precision, paused boolean,
      created timestamptz, job_id text);
    CREATE INDEX transfers_code ON transfers (lower(code COLLATE "und-x-icu"));
    CREATE INDEX transfers_status ON transfers (status_folded);`);
  await client.query(
    `INSERT INTO transfers
     SELECT id, code, status, lower(status COLLATE "und-x-icu"), size, paused, created, job_id
     FROM unnest($1::int[], $2::text[], $3::text[], $4::float8[], $5::bool[], $6::timestamptz[], $7::text[])
       AS r(id, code, status, size, paused, created, job_id)`,
    [
      rows.map((r) => r.id),
      rows.map((r) => r.code),
      rows.map((r) => r.status),
      rows.map((r) => r.size),
      rows.map((r) => r.paused),
      rows.map((r) => r.created),
      rows.map((r) => r['job.id']),
    ],
  );
}
