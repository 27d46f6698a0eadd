// Big jobs: a transfer of an image sequence of 100,000 frames created, its tasks found page by page and all of them
// edited, through the real server (a child process on loopback) on SQLite and on PostgreSQL, against raw SQL doing
// the same to the same number of rows on the same database, in the same run. `npm run bench:jobs`.
import { randomUUID } from 'node:crypto';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import pg from 'pg';
import { encodeEnvelope, packData } from '../../packages/protocol/dist/index.js';
import { writeResults } from '../results.js';
import {
  ADMIN,
  BOOTSTRAP_ENV,
  login,
  memoryOf,
  NO_LIMITS,
  SERVER,
  scratchDir,
  send,
  start,
  stop,
  WORKSPACE,
} from '../support.js';

const TASKS = Number(process.env.BENCH_TASKS ?? 100_000);
// The page size of accsyn-api's `findAll`.
const PAGE = Number(process.env.BENCH_PAGE ?? 500);
const POSTGRES = process.env.BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const SCHEMA = `accsyn_bench_jobs_${process.pid}`;
// A directory to write the server's CPU profiles to (node --cpu-prof), to see where its time goes.
const PROFILE = process.env.BENCH_CPU_PROF;

const frame = (i) => `sh010_comp.${String(i).padStart(6, '0')}.exr`;

/** The payload of `transfer/create` for the sequence: one task per frame, each with its source and destination. */
function sequence(name) {
  const tasks = Array.from({ length: TASKS }, (_, i) => ({
    source: `renders/sh010/${frame(i)}`,
    destination: `${ADMIN}:/in/sh010/${frame(i)}`,
  }));
  return { name, tasks };
}

/**
 * An event as the official client sends it, the payload as `gz_data` when it is large (reference §1.8); answers the
 * result, the time from sending to the end of the answer's JSON parse, and the sizes both ways.
 */
async function call(base, session, method, uri, data, id) {
  const body = encodeEnvelope({
    audience: 'api',
    workspace: WORKSPACE,
    eid: randomUUID(),
    session,
    uri,
    ident: ADMIN,
    created: new Date().toISOString().slice(0, 19),
    hostname: 'bench',
    ...packData(data),
    ...(id === undefined ? {} : { id }),
  });
  const at = performance.now();
  // GET carries its envelope in the URL; a page of a find is small enough for it.
  const reply =
    method === 'GET'
      ? await send(base, 'GET', `/api/v3/event?${encodeURIComponent(body)}`)
      : await send(base, method, '/api/v3/event', body);
  if (reply.status !== 200) throw new Error(`${uri} answered ${reply.status}: ${reply.text.slice(0, 300)}`);
  const { result } = JSON.parse(reply.text);
  return { result, ms: performance.now() - at, sent: Buffer.byteLength(body), received: reply.text.length };
}

/** Create, find page by page, edit: the three steps through the server, each checked. */
async function throughServer(base) {
  const session = await login(base);
  // The frames go to the admin's machine, which must have a client registered (as the agent's check-in does).
  await call(base, session, 'PUT', 'agent/checkin', { code: 'bench-machine' });
  const created = await call(base, session, 'POST', 'transfer/create', sequence('sh010'));
  const job = created.result[0].id;
  let found = 0;
  let findMs = 0;
  for (let skip = 0; ; skip += PAGE) {
    const page = await call(base, session, 'GET', 'task/find', { parent: job, limit: PAGE, skip });
    found += page.result.length;
    findMs += page.ms;
    if (page.result.length < PAGE) break;
  }
  if (found !== TASKS) throw new Error(`find answered ${found} tasks of ${TASKS}`);
  const edits = Array.from({ length: TASKS }, (_, i) => ({ uri: String(i), status: 'onhold' }));
  const edited = await call(base, session, 'PUT', 'task/edit', edits, job);
  if (edited.result.length !== TASKS || edited.result.some((task) => task.status !== 'onhold')) {
    throw new Error('task/edit did not answer every task on hold');
  }
  // A job for the baseline's tasks, made as the server makes jobs.
  const other = await call(base, session, 'POST', 'transfer/create', {
    name: 'baseline',
    source: 'x',
    destination: 'y',
  });
  return {
    create: created.ms,
    find: findMs,
    edit: edited.ms,
    pages: Math.ceil((TASKS + 1) / PAGE),
    createBytes: created.sent,
    rawBytes: JSON.stringify(sequence('sh010')).length,
    editBytes: edited.sent,
    editAnswer: edited.received,
    job,
    baselineJob: other.result[0].id,
  };
}

/** The rows the server wrote for the job's tasks, as the baseline writes them again: same columns, same values. */
function taskRows(workspace, job) {
  const now = new Date().toISOString();
  const end = (path, user) =>
    JSON.stringify({ path, path_abs_final: null, user, client: null, site: null, v: 'v', s: 's' });
  return Array.from({ length: TASKS }, (_, i) => [
    randomUUID(),
    workspace,
    job,
    String(i + 1),
    'queued',
    500,
    end(`renders/sh010/${frame(i)}`, null),
    end(`/in/sh010/${frame(i)}`, 'u'),
    now,
    now,
  ]);
}

const COLUMNS = 'id, workspace, job, uri, status, priority, source, destination, created, modified';
const BATCH = 500;

/**
 * The baseline, on the same database: the same rows inserted in one transaction (500 to a statement), read in the
 * same pages in the same order, and all put on hold by one UPDATE.
 */
const baselines = {
  sqlite(file) {
    const db = new Database(file);
    db.pragma('busy_timeout = 5000');
    return {
      async run(workspace, job) {
        const rows = taskRows(workspace, job);
        const statements = new Map();
        const insert = (count) => {
          const text = `INSERT INTO tasks (${COLUMNS}) VALUES ${Array(count).fill('(?,?,?,?,?,?,?,?,?,?)').join(',')}`;
          if (!statements.has(text)) statements.set(text, db.prepare(text));
          return statements.get(text);
        };
        let at = performance.now();
        db.transaction(() => {
          for (let i = 0; i < rows.length; i += BATCH) {
            const batch = rows.slice(i, i + BATCH);
            insert(batch.length).run(batch.flat());
          }
        })();
        const create = performance.now() - at;
        at = performance.now();
        const page = db.prepare(
          'SELECT * FROM tasks WHERE workspace = ? AND job = ? ORDER BY created, id LIMIT ? OFFSET ?',
        );
        let found = 0;
        for (let skip = 0; ; skip += PAGE) {
          const rows = page.all(workspace, job, PAGE, skip);
          found += rows.length;
          if (rows.length < PAGE) break;
        }
        const find = performance.now() - at;
        at = performance.now();
        db.prepare("UPDATE tasks SET status = 'onhold', modified = ? WHERE job = ?").run(new Date().toISOString(), job);
        const edit = performance.now() - at;
        if (found !== TASKS + 1) throw new Error(`the baseline found ${found} rows`);
        return { create, find, edit };
      },
      workspace: () => db.prepare('SELECT id FROM workspaces WHERE code = ?').pluck().get(WORKSPACE),
      close: () => db.close(),
    };
  },
  async postgres(schema) {
    const client = new pg.Client({ connectionString: POSTGRES });
    await client.connect();
    await client.query(`SET search_path TO ${schema}`);
    return {
      async run(workspace, job) {
        const rows = taskRows(workspace, job);
        let at = performance.now();
        await client.query('BEGIN');
        for (let i = 0; i < rows.length; i += BATCH) {
          const batch = rows.slice(i, i + BATCH);
          const values = batch.map(
            (_, r) => `(${Array.from({ length: 10 }, (_, c) => `$${r * 10 + c + 1}`).join(',')})`,
          );
          await client.query(`INSERT INTO tasks (${COLUMNS}) VALUES ${values.join(',')}`, batch.flat());
        }
        await client.query('COMMIT');
        const create = performance.now() - at;
        at = performance.now();
        let found = 0;
        for (let skip = 0; ; skip += PAGE) {
          const { rows: page } = await client.query(
            'SELECT * FROM tasks WHERE workspace = $1 AND job = $2 ORDER BY created, id LIMIT $3 OFFSET $4',
            [workspace, job, PAGE, skip],
          );
          found += page.length;
          if (page.length < PAGE) break;
        }
        const find = performance.now() - at;
        at = performance.now();
        await client.query("UPDATE tasks SET status = 'onhold', modified = $1 WHERE job = $2", [
          new Date().toISOString(),
          job,
        ]);
        const edit = performance.now() - at;
        if (found !== TASKS + 1) throw new Error(`the baseline found ${found} rows`);
        return { create, find, edit };
      },
      workspace: async () => (await client.query('SELECT id FROM workspaces WHERE code = $1', [WORKSPACE])).rows[0].id,
      close: () => client.end(),
    };
  },
};

async function measure(name, flags, baseline) {
  const dir = scratchDir(`jobs-${name}`);
  // The transfer engine off: it would start on the job's tasks meanwhile, and this measures the API.
  const args = [SERVER, '--port', '0', '--data-dir', dir, '--transfers', 'off', ...NO_LIMITS, ...flags];
  const server = await start(
    dir,
    name,
    [...(PROFILE ? ['--cpu-prof', `--cpu-prof-dir=${PROFILE}`] : []), ...args],
    BOOTSTRAP_ENV,
  );
  try {
    const ours = await throughServer(server.url);
    const memory = memoryOf(server.child.pid);
    const raw = await baseline(dir);
    try {
      const base = await raw.run(await raw.workspace(), ours.baselineJob);
      return { name, ours, base, memory };
    } finally {
      await raw.close();
    }
  } finally {
    await stop(server);
  }
}

const loadBefore = loadavg()[0];
const runs = [await measure('SQLite', [], (dir) => baselines.sqlite(join(dir, 'accsyn.db')))];
try {
  const database = `${POSTGRES}${POSTGRES.includes('?') ? '&' : '?'}schema=${SCHEMA}`;
  runs.push(await measure('PostgreSQL', ['--database', database], () => baselines.postgres(SCHEMA)));
} finally {
  const client = new pg.Client({ connectionString: POSTGRES });
  await client.connect();
  await client.query(`DROP SCHEMA IF EXISTS ${SCHEMA} CASCADE`);
  await client.end();
}

// --- report -------------------------------------------------------------------------------------------------------

const n = TASKS.toLocaleString('en');
const s = (ms) => `${(ms / 1000).toFixed(2)} s`;
const us = (ms) => `${Math.round(ms * 1000)} µs`;
const mb = (bytes) => `${(bytes / 1e6).toFixed(1)} MB`;
const ratio = (ours, base) => `**${(ours / base).toFixed(1)}x**`;
const [first] = runs;
const lines = [
  `A transfer of ${n} tasks (an image sequence, one \`{source, destination}\` per frame) made by one \`transfer/create\`, its tasks read by \`find("Task", entityid=<job>)\` in pages of ${PAGE} (accsyn-api's \`findAll\`; ${first.ours.pages} pages), then all put on hold by one \`task/edit\` of ${n} \`{"uri", "status": "onhold"}\`. The server is \`packages/server/dist/main.js\` in its own process, rate limits and transfer engine off, log level info to a file; the times are the client's, from sending to the end of parsing the answer. The create payload is ${mb(first.ours.rawBytes)} of JSON, sent as the official client sends it, as \`gz_data\`: an envelope of ${mb(first.ours.createBytes)}; the edit's envelope is ${mb(first.ours.editBytes)} and its answer, every edited task, ${mb(first.ours.editAnswer)}. The default \`--body-limit\` and \`gz_data\`'s decompressed limit are both 32 MiB.`,
  '',
  `The baseline is raw SQL in the benchmark's process on the same database, while the server runs: the same ${n} rows (same columns, same values' sizes) inserted in one transaction, 500 rows to a statement; read in the same pages by the server's query (\`WHERE workspace = ? AND job = ? ORDER BY created, id LIMIT ? OFFSET ?\`); all put on hold by one \`UPDATE ... WHERE job = ?\`. It does none of the server's work besides: no HTTP, no envelope, no resolving or checking of the ${(TASKS * 2).toLocaleString('en')} ends, no answer.`,
  '',
  '| database | step | server | per task | raw SQL | ratio |',
  '|---|---|---|---|---|---|',
  ...runs.flatMap(({ name, ours, base }) =>
    ['create', 'find', 'edit'].map(
      (step) =>
        `| ${name} | ${step} | ${s(ours[step])} | ${us(ours[step] / TASKS)} | ${s(base[step])} | ${ratio(ours[step], base[step])} |`,
    ),
  ),
  '',
  `Server memory after the three steps (VmRSS, peak VmHWM): ${runs.map((r) => `${r.name} ${mb(r.memory.rss)}, peak ${mb(r.memory.peak)}`).join('; ')}. Load average (1 min) before the run: ${loadBefore.toFixed(2)}.`,
];
writeResults('jobs', 'Big jobs (`bench/jobs/run.js`)', lines);
console.log(lines.join('\n'));
