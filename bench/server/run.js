// The server's benchmark: the real server, a child process on loopback, answering two transfer finds over HTTP on a
// database of 100,000 transfers, against a bare fastify route answering the same bytes in another child process, in
// the same run. `npm run bench:server`.
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { writeResults } from '../results.js';
import {
  allAnswered,
  BOOTSTRAP_ENV,
  cpuOf,
  load,
  login,
  NO_LIMITS,
  pacedLoad,
  result,
  SERVER,
  scratchDir,
  send,
  start,
  stop,
} from '../support.js';
import { checkAnswers, findPaths, seedSqlite, THREE_CLAUSES } from './dataset.js';

const ROWS = Number(process.env.BENCH_ROWS ?? 100_000);
const SECONDS = 5;
// V8 compiles a program's hot functions in its first seconds under load, on a thread of its own: the server has
// far more of them than the bare route, and after one second it was still spending a seventh of its CPU compiling.
// Both sides warm up this long, so that what is measured is how they run, not how they start.
const WARM_UP_SECONDS = 5;
const BARE = new URL('./bare.js', import.meta.url).pathname;
const dataDir = scratchDir('server');

/** Resident and peak resident memory of a process, in bytes (Linux). */
function memoryOf(pid) {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kib = (field) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1]) * 1024;
  return { rss: kib('VmRSS'), peak: kib('VmHWM') };
}

// --- load ---------------------------------------------------------------------------------------------------------

/**
 * Warm-up, saturation, then evenly paced requests at half the saturation rate; with the CPU time the process spent
 * per request.
 */
async function measure({ url, child }, path) {
  allAnswered(await load(url, path, WARM_UP_SECONDS));
  const run = async (loading) => {
    const cpu = cpuOf(child.pid);
    const outcome = allAnswered(await loading());
    return { ...outcome, cpu: (cpuOf(child.pid) - cpu) / outcome.count };
  };
  const saturated = await run(() => load(url, path, SECONDS));
  const half = await run(() => pacedLoad(url, path, SECONDS, Math.floor(saturated.rate / 2)));
  return { saturated, half };
}

// --- the run ------------------------------------------------------------------------------------------------------

const serverArgs = [SERVER, '--port', '0', '--data-dir', dataDir, ...NO_LIMITS];

const database = join(dataDir, 'accsyn.db');
await stop(await start(dataDir, 'server-bootstrap', serverArgs, BOOTSTRAP_ENV));
const seedStart = performance.now();
const seeded = seedSqlite(database, ROWS);
const seedSeconds = (performance.now() - seedStart) / 1000;
const databaseBytes = statSync(database).size;

const server = await start(dataDir, 'server', serverArgs, BOOTSTRAP_ENV);
const idle = memoryOf(server.child.pid);
const session = await login(server.url);
const paths = findPaths(session, seeded.middle);
const targets = [
  { name: 'find by id', path: paths.byId },
  { name: 'find, 3 clauses', path: paths.threeClauses },
];
for (const target of targets) Object.assign(target, await result(server.url, target.path));
checkAnswers(targets[0], targets[1], seeded);

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
  `Rows: ${ROWS.toLocaleString('en')} transfers with one task each, written in ${seedSeconds.toFixed(1)} s as \`transfer/create\` writes them (\`bench/server/dataset.js\`; statuses waiting, paused, running, failed; SQLite file ${mb(databaseBytes)}). The server is \`packages/server/dist/main.js\` at its default log level (info, to a file), its rate limits off; the baseline is a bare fastify route (\`bench/server/bare.js\`) answering the same request line with the same bytes. Each in its own process, the load generator in a third; ${SECONDS} s per run after ${WARM_UP_SECONDS} s of warm-up at saturation (V8 is still compiling the server's code after 1 s). Whole run ${Math.round(runSeconds)} s; load average (1 min) before it ${loadBefore.toFixed(2)}.`,
  '',
  `- find by id: \`transfer/find\`, \`data: {}\`, \`query: "id=${seeded.middle}"\` (the middle transfer); answer ${byId.body.length} bytes.`,
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
  'Saturation is autocannon with 10 connections, no pipelining, each sending its next request as soon as its answer arrives; latencies there are each response’s own time. “Half load” is an open-loop run at half the saturated rate (`pacedLoad` in `bench/support.js`): request i is due at start + i / rate, evenly spaced, and goes on a free one of 10 keep-alive connections, waiting for one when all are busy; its latency runs from when it was due to the end of its answer, so that a wait behind a slow request counts, and so does any lateness of the generator’s own timers (1 ms granularity, on the same 2 cores). The rate shown is the achieved one.',
  '',
  `The generator’s own lateness at half load, the p99 of how long after its due time it handed each request to the connections: ${targets.map((t) => `${t.name} ${ms(t.server.half.late)} (baseline ${ms(t.bare.half.late)})`).join('; ')}.`,
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
