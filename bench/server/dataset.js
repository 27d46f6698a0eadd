// The transfers the server benchmarks find: ROWS transfers with one task each, with the columns and values that
// `transfer/create` writes for `{name, status, source: 'renders/<name>.mov', destination: 'admin@bench.test:/in/'}`,
// the same rows on every run (a seeded generator), written to SQLite or to PostgreSQL.
import { randomBytes, randomUUID } from 'node:crypto';
import { fold } from 'accsyn-query';
import Database from 'better-sqlite3';
import pg from 'pg';
import { ADMIN, eventPath, WORKSPACE } from '../support.js';

export const THREE_CLAUSES = `status=paused and name='x 5*' and user=${ADMIN}`;

/** The two finds the benchmarks time, as event paths of `session`: the middle transfer by id, and THREE_CLAUSES. */
export function findPaths(session, middle) {
  return {
    byId: eventPath(session, 'transfer/find', {}, `id=${middle}`),
    threeClauses: eventPath(session, 'transfer/find', { limit: 100 }, THREE_CLAUSES),
  };
}

/** Throws unless the two finds (`result`s of `bench/support.js`) answered what the seeded database holds. */
export function checkAnswers(byId, threeClauses, { middle, expected }) {
  if (byId.rows.length !== 1 || byId.rows[0].id !== middle) {
    throw new Error(`find by id answered ${byId.body.slice(0, 200)}`);
  }
  if (expected === 0 || threeClauses.rows.length !== Math.min(expected, 100)) {
    throw new Error(`the three-clause find answered ${threeClauses.rows.length} rows, the database holds ${expected}`);
  }
}

const STATUSES = ['waiting', 'paused', 'running', 'failed'];
const TASK_STATUS = { waiting: 'queued', paused: 'queued', running: 'executing', failed: 'failed' };
const LETTERS = 'abcdefghijklmnopqrstuvwxyz';

const JOB_COLUMNS = [
  'id',
  'workspace',
  'created',
  'creator',
  'modified',
  'modifier',
  'status',
  'priority',
  'name',
  'code',
  'source',
  'destination',
  'user',
  'queue',
  'progress',
  'speed',
  'type',
  'code_folded',
  'name_folded',
];
const TASK_COLUMNS = [
  'id',
  'workspace',
  'job',
  'uri',
  'status',
  'priority',
  'source',
  'destination',
  'created',
  'modified',
];

/** A whole-number generator below `n`, seeded (mulberry32), so that every run writes the same rows. */
function generator(seed = 42) {
  let state = seed;
  return (n) => {
    state = (state + 0x6d2b79f5) | 0;
    let t = Math.imul(state ^ (state >>> 15), 1 | state);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return Math.floor((((t ^ (t >>> 14)) >>> 0) / 2 ** 32) * n);
  };
}

/** An entity id as `newId` makes it: 4 bytes of seconds, then 8 random bytes, in hex. */
const idAt = (ms) =>
  Math.floor(ms / 1000)
    .toString(16)
    .padStart(8, '0') + randomBytes(8).toString('hex');

/**
 * The rows, as [job values, task values] in the order of JOB_COLUMNS and TASK_COLUMNS; `middle` is the id of the
 * middle transfer and `expected` how many rows THREE_CLAUSES matches.
 */
export function transfers(rows, { workspace, admin, site, volume, queue }) {
  const next = generator();
  const destination = JSON.stringify({
    path: '/in/',
    path_abs_final: null,
    user: admin,
    client: null,
    site: null,
    v: null,
    s: null,
  });
  const first = Date.now() - rows * 1000;
  const jobs = [];
  const tasks = [];
  let middle;
  let expected = 0;
  for (let i = 0; i < rows; i++) {
    const letter = LETTERS[next(26)];
    const name = `${next(2) === 0 ? letter : letter.toUpperCase()} ${next(2500)}`;
    const status = STATUSES[next(4)];
    const at = first + i * 1000;
    const created = new Date(at).toISOString();
    const id = idAt(at);
    const source = { path: `renders/${name}.mov`, path_abs_final: null, user: null, client: null, site };
    jobs.push([
      id,
      workspace,
      created,
      admin,
      created,
      admin,
      status,
      500,
      name,
      name,
      `workspace:${workspace}`,
      `user:${admin}`,
      admin,
      queue,
      0,
      -1,
      1,
      fold(name),
      fold(name),
    ]);
    tasks.push([
      randomUUID(),
      workspace,
      id,
      '0',
      TASK_STATUS[status],
      500,
      JSON.stringify({ ...source, v: volume, s: volume }),
      destination,
      created,
      created,
    ]);
    if (i === Math.floor(rows / 2)) middle = id;
    if (status === 'paused' && fold(name).startsWith('x 5')) expected++;
  }
  return { jobs, tasks, middle, expected };
}

const DEFAULTS = {
  workspace: 'SELECT id FROM workspaces WHERE code_folded = $1',
  admin: 'SELECT id FROM users WHERE workspace = $1 AND code_folded = $2',
  site: 'SELECT id FROM sites WHERE workspace = $1 AND main = 1 AND archived IS NULL',
  volume: `SELECT id FROM shares WHERE workspace = $1 AND type = 'volume' AND "default" = 1 AND archived IS NULL`,
  queue: 'SELECT id FROM jobs WHERE workspace = $1 AND type = 2 AND "default" = 1 AND archived IS NULL',
};

const quoted = (columns) => columns.map((c) => `"${c}"`).join(', ');

/** Writes the rows into the SQLite file of a bootstrapped server, in one transaction. */
export function seedSqlite(file, rows) {
  const db = new Database(file);
  const one = (text, ...parameters) => db.prepare(text.replace(/\$\d/g, '?')).get(...parameters)?.id;
  const workspace = one(DEFAULTS.workspace, WORKSPACE);
  const parts = { workspace, admin: one(DEFAULTS.admin, workspace, ADMIN) };
  for (const name of ['site', 'volume', 'queue']) parts[name] = one(DEFAULTS[name], workspace);
  const data = transfers(rows, parts);
  const insert = (table, columns) =>
    db.prepare(`INSERT INTO ${table} (${quoted(columns)}) VALUES (${columns.map(() => '?').join(', ')})`);
  const job = insert('jobs', JOB_COLUMNS);
  const task = insert('tasks', TASK_COLUMNS);
  db.transaction(() => {
    for (const values of data.jobs) job.run(...values);
    for (const values of data.tasks) task.run(...values);
  })();
  db.close();
  return data;
}

/** Writes the rows into the PostgreSQL schema of a bootstrapped server, in batches, then analyses the tables. */
export async function seedPostgres(url, schema, rows) {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query(`SET search_path TO ${schema}`);
    const one = async (text, ...parameters) => (await client.query(text, parameters)).rows[0]?.id;
    const workspace = await one(DEFAULTS.workspace, WORKSPACE);
    const parts = { workspace, admin: await one(DEFAULTS.admin, workspace, ADMIN) };
    for (const name of ['site', 'volume', 'queue']) parts[name] = await one(DEFAULTS[name], workspace);
    const data = transfers(rows, parts);
    const insert = async (table, columns, all) => {
      for (let at = 0; at < all.length; at += 2000) {
        const batch = all.slice(at, at + 2000);
        const values = batch.map((row, r) => `(${row.map((_, c) => `$${r * columns.length + c + 1}`).join(', ')})`);
        await client.query(`INSERT INTO ${table} (${quoted(columns)}) VALUES ${values.join(', ')}`, batch.flat());
      }
    };
    await client.query('BEGIN');
    await insert('jobs', JOB_COLUMNS, data.jobs);
    await insert('tasks', TASK_COLUMNS, data.tasks);
    await client.query('COMMIT');
    await client.query('ANALYZE jobs; ANALYZE tasks');
    return data;
  } finally {
    await client.end();
  }
}
