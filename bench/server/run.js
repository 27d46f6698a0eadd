// The server's benchmark: the real server, a child process on loopback, answering two transfer finds over HTTP on a
// database of 100,000 transfers, against a bare fastify route answering the same bytes in another child process, in
// the same run. `npm run bench:server`.
import { randomBytes, randomUUID } from 'node:crypto';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { fold } from 'accsyn-query';
import Database from 'better-sqlite3';
import { writeResults } from '../results.js';
import {
  ADMIN,
  allAnswered,
  BOOTSTRAP_ENV,
  cpuOf,
  eventPath,
  load,
  login,
  NO_LIMITS,
  result,
  SERVER,
  scratchDir,
  send,
  start,
  stop,
  WORKSPACE,
} from '../support.js';

const ROWS = Number(process.env.BENCH_ROWS ?? 100_000);
const SECONDS = 5;
// V8 compiles a program's hot functions in its first seconds under load, on a thread of its own: the server has
// far more of them than the bare route, and after one second it was still spending a seventh of its CPU compiling.
// Both sides warm up this long, so that what is measured is how they run, not how they start.
const WARM_UP_SECONDS = 5;
const THREE_CLAUSES = `status=paused and name='x 5*' and user=${ADMIN}`;
const BARE = new URL('./bare.js', import.meta.url).pathname;
const dataDir = scratchDir('server');

/** Resident and peak resident memory of a process, in bytes (Linux). */
function memoryOf(pid) {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kib = (field) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1]) * 1024;
  return { rss: kib('VmRSS'), peak: kib('VmHWM') };
}

// --- the database: 100,000 transfers as transfer/create writes them ---------------------------------------------

/** A whole number below `n` from a seeded generator (mulberry32), so that every run writes the same rows. */
let random = 42;
const next = (n) => {
  random = (random + 0x6d2b79f5) | 0;
  let t = Math.imul(random ^ (random >>> 15), 1 | random);
  t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
  return Math.floor((((t ^ (t >>> 14)) >>> 0) / 2 ** 32) * n);
};

/** An entity id as `newId` makes it: 4 bytes of seconds, then 8 random bytes, in hex. */
const idAt = (ms) =>
  Math.floor(ms / 1000)
    .toString(16)
    .padStart(8, '0') + randomBytes(8).toString('hex');

const STATUSES = ['waiting', 'paused', 'running', 'failed'];
const TASK_STATUS = { waiting: 'queued', paused: 'queued', running: 'executing', failed: 'failed' };
const LETTERS = 'abcdefghijklmnopqrstuvwxyz';

/**
 * Writes ROWS transfers, each with its task, in one transaction: the columns and values of `prepareTransfer` and
 * `create` for `{name, status, source: 'renders/<name>.mov', destination: 'admin@bench.test:/in/'}`. Answers the
 * id of the middle transfer and how many rows the three-clause query should find.
 */
function seed(file) {
  const db = new Database(file);
  const one = (text, ...parameters) => db.prepare(text).get(...parameters)?.id;
  const workspace = one('SELECT id FROM workspaces WHERE code_folded = ?', WORKSPACE);
  const admin = one('SELECT id FROM users WHERE workspace = ? AND code_folded = ?', workspace, ADMIN);
  const site = one('SELECT id FROM sites WHERE workspace = ? AND main = 1 AND archived IS NULL', workspace);
  const volume = one(
    `SELECT id FROM shares WHERE workspace = ? AND type = 'volume' AND "default" = 1 AND archived IS NULL`,
    workspace,
  );
  const queue = one(
    'SELECT id FROM jobs WHERE workspace = ? AND type = 2 AND "default" = 1 AND archived IS NULL',
    workspace,
  );
  const job = db.prepare(`INSERT INTO jobs (id, workspace, created, creator, modified, modifier, status, priority, name,
    code, source, destination, "user", queue, progress, size, speed, settings, type, code_folded, name_folded)
    VALUES (?, ?, ?, ?, ?, ?, ?, 500, ?, ?, ?, ?, ?, ?, 0, NULL, -1, NULL, 1, ?, ?)`);
  const task = db.prepare(`INSERT INTO tasks (id, workspace, job, uri, status, priority, source, destination, created,
    modified) VALUES (?, ?, ?, '0', ?, 500, ?, ?, ?, ?)`);
  const destination = JSON.stringify({
    path: '/in/',
    path_abs_final: null,
    user: admin,
    client: null,
    site: null,
    v: null,
    s: null,
  });
  const first = Date.now() - ROWS * 1000;
  let middle;
  let expected = 0;
  db.transaction(() => {
    for (let i = 0; i < ROWS; i++) {
      const letter = LETTERS[next(26)];
      const name = `${next(2) === 0 ? letter : letter.toUpperCase()} ${next(2500)}`;
      const status = STATUSES[next(4)];
      const at = first + i * 1000;
      const created = new Date(at).toISOString();
      const id = idAt(at);
      const source = { path: `renders/${name}.mov`, path_abs_final: null, user: null, client: null, site };
      job.run(
        id,
        workspace,
        created,
        admin,
        created,
        admin,
        status,
        name,
        name,
        `workspace:${workspace}`,
        `user:${admin}`,
        admin,
        queue,
        fold(name),
        fold(name),
      );
      task.run(
        randomUUID(),
        workspace,
        id,
        TASK_STATUS[status],
        JSON.stringify({ ...source, v: volume, s: volume }),
        destination,
        created,
        created,
      );
      if (i === Math.floor(ROWS / 2)) middle = id;
      if (status === 'paused' && fold(name).startsWith('x 5')) expected++;
    }
  })();
  db.close();
  return { middle, expected };
}

// --- load ---------------------------------------------------------------------------------------------------------

/** Warm-up, saturation, then half the saturation rate; with the CPU time the process spent per request. */
async function measure({ url, child }, path) {
  allAnswered(await load(url, path, WARM_UP_SECONDS));
  const run = async (rate) => {
    const cpu = cpuOf(child.pid);
    const outcome = allAnswered(await load(url, path, SECONDS, rate));
    return { ...outcome, cpu: (cpuOf(child.pid) - cpu) / outcome.count };
  };
  const saturated = await run();
  const half = await run(Math.floor(saturated.rate / 2));
  return { saturated, half };
}

// --- the run ------------------------------------------------------------------------------------------------------

const serverArgs = [SERVER, '--port', '0', '--data-dir', dataDir, ...NO_LIMITS];

const database = join(dataDir, 'accsyn.db');
await stop(await start(dataDir, 'server-bootstrap', serverArgs, BOOTSTRAP_ENV));
const seedStart = performance.now();
const { middle, expected } = seed(database);
const seedSeconds = (performance.now() - seedStart) / 1000;
const databaseBytes = statSync(database).size;

const server = await start(dataDir, 'server', serverArgs, BOOTSTRAP_ENV);
const idle = memoryOf(server.child.pid);
const session = await login(server.url);
const targets = [
  { name: 'find by id', path: eventPath(session, 'transfer/find', {}, `id=${middle}`) },
  { name: 'find, 3 clauses', path: eventPath(session, 'transfer/find', { limit: 100 }, THREE_CLAUSES) },
];
for (const target of targets) Object.assign(target, await result(server.url, target.path));
if (targets[0].rows.length !== 1 || targets[0].rows[0].id !== middle) {
  throw new Error(`find by id answered ${targets[0].body.slice(0, 200)}`);
}
if (expected === 0 || targets[1].rows.length !== Math.min(expected, 100)) {
  throw new Error(`the three-clause find answered ${targets[1].rows.length} rows, the database holds ${expected}`);
}

const answers = join(dataDir, 'answers.json');
writeFileSync(answers, JSON.stringify(Object.fromEntries(targets.map((t) => [t.path, t.body]))));
const bare = await start(dataDir, 'bare', [BARE, answers]);
for (const target of targets) {
  const same = await send(bare.url, 'GET', target.path);
  if (same.text !== target.body) throw new Error(`the bare route does not answer the bytes of ${target.name}`);
}

const loadBefore = loadavg()[0];
const runStart = performance.now();
for (const target of targets) {
  target.server = await measure(server, target.path);
  target.bare = await measure(bare, target.path);
}
const runSeconds = (performance.now() - runStart) / 1000;
const loaded = memoryOf(server.child.pid);
await stop(bare);
await stop(server);

// --- report -------------------------------------------------------------------------------------------------------

const rate = (x) => Math.round(x).toLocaleString('en');
const us = (x) => `${Math.round(x)} µs`;
const ms = (x) => `${x.toFixed(2)} ms`;
const mb = (bytes) => `${(bytes / 1e6).toFixed(1)} MB`;
const verdict = (ok) => (ok ? '**pass**' : '**FAIL**');
const [byId, threeClauses] = targets;
const byIdRatio = byId.server.saturated.rate / byId.bare.saturated.rate;
// The server answers on one thread: at half the bare route's rate, each request may take this much of it.
const halfBareBudget = 1e6 / (byId.bare.saturated.rate / 2);
const peak = Math.max(idle.peak, loaded.peak);
const lines = [
  `Rows: ${ROWS.toLocaleString('en')} transfers with one task each, written in ${seedSeconds.toFixed(1)} s as \`transfer/create\` writes them (statuses waiting, paused, running, failed; SQLite file ${mb(databaseBytes)}). The server is \`packages/server/dist/main.js\` at its default log level (info, to a file), its rate limits off; the baseline is a bare fastify route (\`bench/server/bare.js\`) answering the same request line with the same bytes. Each in its own process; autocannon in a third, 10 connections, no pipelining, ${SECONDS} s per run after ${WARM_UP_SECONDS} s of warm-up (V8 is still compiling the server's code after 1 s). Whole run ${Math.round(runSeconds)} s; load average (1 min) before it ${loadBefore.toFixed(2)}.`,
  '',
  `- find by id: \`transfer/find\`, \`data: {}\`, \`query: "id=${middle}"\` (the middle transfer); answer ${byId.body.length} bytes.`,
  `- find, 3 clauses: \`transfer/find\`, \`data: {limit: 100}\`, \`query: "${THREE_CLAUSES}"\`; ${threeClauses.rows.length} rows, answer ${threeClauses.body.length.toLocaleString('en')} bytes.`,
  '',
  '| target | req/s | p50 | p99 | p99 at half load | server CPU per request | baseline req/s | baseline CPU per request | ratio |',
  '|---|---|---|---|---|---|---|---|---|',
  ...targets.map(
    (t) =>
      `| ${t.name} | ${rate(t.server.saturated.rate)} | ${ms(t.server.saturated.p50)} | ${ms(t.server.saturated.p99)} | ${ms(t.server.half.p99)} (p50 ${ms(t.server.half.p50)}, ${rate(t.server.half.rate)} req/s) | ${us(t.server.saturated.cpu)} (${us(t.server.half.cpu)} at half load) | ${rate(t.bare.saturated.rate)} | ${us(t.bare.saturated.cpu)} | **${(t.server.saturated.rate / t.bare.saturated.rate).toPrecision(2)}x** |`,
  ),
  '',
  'CPU per request is the process’s CPU time (all its threads, user and system) over a run, divided by the requests it answered. The machine has 2 cores, shared by the server under test, autocannon and whatever else runs: the bare route, which does no work, is held back by autocannon, not by itself.',
  '',
  `Baseline latencies: ${targets.map((t) => `${t.name} p50 ${ms(t.bare.saturated.p50)}, p99 ${ms(t.bare.saturated.p99)}, p99 at half load ${ms(t.bare.half.p99)}`).join('; ')}.`,
  '',
  `Server memory (VmRSS): ${mb(idle.rss)} after starting on the seeded database, ${mb(loaded.rss)} after the load; peak (VmHWM) ${mb(peak)}.`,
  '',
  'Latencies are each response’s own time; “half load” is autocannon’s `overallRate` at half the measured saturation, which it meets by letting each connection send its share of a second back to back, then wait.',
  '',
  '### Targets',
  '',
  `- find by id at ≥ 50% of the bare route’s throughput: ${(byIdRatio * 100).toFixed(1)}% — ${verdict(byIdRatio >= 0.5)} (at half the bare route’s rate, the server’s one thread would have ${us(halfBareBudget)} per request; it spends ${us(byId.server.saturated.cpu)} of CPU, the bare route ${us(byId.bare.saturated.cpu)})`,
  ...targets.map(
    (t) =>
      `- p99 under 10 ms at half of saturation, ${t.name}: ${ms(t.server.half.p99)} — ${verdict(t.server.half.p99 < 10)}`,
  ),
  `- under 150 MB resident with ${ROWS.toLocaleString('en')} transfers (peak VmHWM): ${mb(peak)} — ${verdict(peak < 150e6)}`,
];
writeResults('server', 'Server over HTTP (`bench/server/run.js`)', lines);
console.log(lines.join('\n'));
