// The server on PostgreSQL against SQLite, and two nodes against one on PostgreSQL: find by id and a three-clause
// find over 100,000 transfers, in the same run, with the CPU each part spends per request. `npm run bench:nodes`.
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import pg from 'pg';
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
  start,
  stop,
} from '../support.js';
import { checkAnswers, findPaths, seedPostgres, seedSqlite, THREE_CLAUSES } from './dataset.js';

const ROWS = Number(process.env.BENCH_ROWS ?? 100_000);
const POSTGRES = process.env.BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const SCHEMA = `accsyn_bench_${process.pid}`;
const SECONDS = 5;
const WARM_UP_SECONDS = 3;

/** CPU time of PostgreSQL's processes (the postmaster and every backend), in µs. */
function postgresCpu() {
  let pids = [];
  try {
    pids = execFileSync('pgrep', ['-x', 'postgres']).toString().trim().split('\n').map(Number);
  } catch {}
  let total = 0;
  for (const pid of pids) {
    try {
      total += cpuOf(pid);
    } catch {} // a backend that ended meanwhile
  }
  return total;
}

const selfCpu = () => {
  const { user, system } = process.cpuUsage();
  return user + system;
};

/** Starts a server node with these flags; `bootstrap` first makes the workspace on an empty database. */
async function node(dir, name, flags) {
  return start(dir, name, [SERVER, '--port', '0', '--data-dir', dir, ...NO_LIMITS, ...flags], BOOTSTRAP_ENV);
}

/**
 * Warm-up, saturation, then evenly paced requests at half the saturation rate, each node under its own 10
 * connections and its share of the rate; with the CPU per request of the nodes, of PostgreSQL and of the load
 * generator (this process).
 */
async function measure(nodes, pathOf) {
  await Promise.all(nodes.map((n) => load(n.url, pathOf(n), WARM_UP_SECONDS)));
  const run = async (loading) => {
    const before = { nodes: nodes.map((n) => cpuOf(n.child.pid)), postgres: postgresCpu(), self: selfCpu() };
    const outcomes = (await Promise.all(nodes.map(loading))).map(allAnswered);
    const count = outcomes.reduce((sum, o) => sum + o.count, 0);
    const nodeCpu = nodes.reduce((sum, n, i) => sum + cpuOf(n.child.pid) - before.nodes[i], 0);
    const worst = (key) => Math.max(...outcomes.map((o) => o[key]));
    return {
      rate: outcomes.reduce((sum, o) => sum + o.rate, 0),
      p50: worst('p50'),
      p99: worst('p99'),
      late: worst('late'),
      node: nodeCpu / count,
      postgres: (postgresCpu() - before.postgres) / count,
      load: (selfCpu() - before.self) / count,
    };
  };
  const saturated = await run((n) => load(n.url, pathOf(n), SECONDS));
  const share = Math.floor(saturated.rate / 2) / nodes.length;
  const half = await run((n) => pacedLoad(n.url, pathOf(n), SECONDS, share));
  return { saturated, half };
}

/** The two finds, checked against what the database holds; the by-id path needs the node's own session. */
async function targetsOf(nodes, seeded) {
  const paths = new Map();
  for (const n of nodes) paths.set(n, findPaths(await login(n.url), seeded.middle));
  for (const n of nodes) {
    const { byId, threeClauses } = paths.get(n);
    checkAnswers(await result(n.url, byId), await result(n.url, threeClauses), seeded);
  }
  return [
    { name: 'find by id', pathOf: (n) => paths.get(n).byId },
    { name: 'find, 3 clauses', pathOf: (n) => paths.get(n).threeClauses },
  ];
}

async function runSetup(name, nodes, data) {
  const targets = await targetsOf(nodes, data);
  for (const target of targets) target.result = await measure(nodes, target.pathOf);
  return { name, targets };
}

// --- the run --------------------------------------------------------------------------------------------------------

const setups = [];
const seedSeconds = {};

// SQLite, one node.
const liteDir = scratchDir('nodes-sqlite');
await stop(await node(liteDir, 'sqlite-bootstrap', []));
let at = performance.now();
const liteData = seedSqlite(join(liteDir, 'accsyn.db'), ROWS);
seedSeconds.sqlite = (performance.now() - at) / 1000;
const lite = await node(liteDir, 'sqlite', []);
setups.push(await runSetup('SQLite, 1 node', [lite], liteData));
await stop(lite);

// PostgreSQL: one node, then two on the same database.
const database = `${POSTGRES}${POSTGRES.includes('?') ? '&' : '?'}schema=${SCHEMA}`;
const dirA = scratchDir('nodes-a');
const dirB = scratchDir('nodes-b');
try {
  await stop(await node(dirA, 'postgres-bootstrap', ['--database', database]));
  at = performance.now();
  const pgData = await seedPostgres(POSTGRES, SCHEMA, ROWS);
  seedSeconds.postgres = (performance.now() - at) / 1000;
  const a = await node(dirA, 'postgres-a', ['--database', database]);
  setups.push(await runSetup('PostgreSQL, 1 node', [a], pgData));
  const b = await node(dirB, 'postgres-b', ['--database', database]);
  setups.push(await runSetup('PostgreSQL, 2 nodes', [a, b], pgData));
  await Promise.all([stop(a), stop(b)]);
} finally {
  const client = new pg.Client({ connectionString: POSTGRES });
  await client.connect();
  await client.query(`DROP SCHEMA IF EXISTS ${SCHEMA} CASCADE`);
  await client.end();
}

// --- report ---------------------------------------------------------------------------------------------------------

const rate = (x) => Math.round(x).toLocaleString('en');
const us = (x) => `${Math.round(x)} µs`;
const ms = (x) => `${x.toFixed(2)} ms`;
const rows = setups.flatMap(({ name, targets }) =>
  targets.map(({ name: target, result: { saturated: s, half: h } }) => {
    const total = s.node + s.postgres + s.load;
    return `| ${name} | ${target} | ${rate(s.rate)} | ${ms(s.p50)} | ${ms(s.p99)} | ${ms(h.p99)} (${rate(h.rate)} req/s) | ${us(s.node)} | ${us(s.postgres)} | ${us(s.load)} | ${rate(2e6 / total)} |`;
  }),
);
const find = (setup, target) => setups.find((s) => s.name === setup).targets.find((t) => t.name === target).result;
const ratio = (a, b, target) => (find(a, target).saturated.rate / find(b, target).saturated.rate).toFixed(2);
const lines = [
  `Rows: ${ROWS.toLocaleString('en')} transfers with one task each (\`bench/server/dataset.js\`, the same rows as \`bench/server/run.js\`), written in ${seedSeconds.sqlite.toFixed(1)} s to SQLite and ${seedSeconds.postgres.toFixed(1)} s to PostgreSQL 15 on this machine (127.0.0.1, default settings). Each node is \`packages/server/dist/main.js\` in its own process, rate limits off, log level info to a file; ${SECONDS} s per run after ${WARM_UP_SECONDS} s of warm-up at saturation; p50 and p99 are the worst node's. At saturation every node gets its own 10 autocannon connections (no pipelining), each sending its next request as soon as its answer arrives; latencies there are each response's own time. At half load (half the saturated rate, the achieved rate in brackets) an open-loop generator (\`pacedLoad\` in \`bench/support.js\`) sends every node its share, evenly spaced, on 10 keep-alive connections of its own, waiting for a free one when all are busy, and times each request from when it was due to the end of its answer, so that a wait behind a slow request counts, and so does any lateness of the generator's own timers. Same queries as the server benchmark: find by id (\`id=<the middle transfer>\`) and \`${THREE_CLAUSES}\` with \`limit: 100\`.`,
  '',
  '| database, nodes | target | req/s | p50 | p99 | p99 at half load | node CPU per request | PostgreSQL CPU per request | load generator CPU per request | 2 cores / all three |',
  '|---|---|---|---|---|---|---|---|---|---|',
  ...rows,
  '',
  `The generator’s own lateness at half load, the p99 of how long after its due time it handed each request to the connections, worst node of the worst run: ${ms(Math.max(...setups.flatMap((s) => s.targets.map((t) => t.result.half.late))))}.`,
  '',
  `PostgreSQL against SQLite, one node: find by id ${ratio('PostgreSQL, 1 node', 'SQLite, 1 node', 'find by id')}x, three clauses ${ratio('PostgreSQL, 1 node', 'SQLite, 1 node', 'find, 3 clauses')}x the throughput. Two nodes against one on PostgreSQL: find by id ${ratio('PostgreSQL, 2 nodes', 'PostgreSQL, 1 node', 'find by id')}x, three clauses ${ratio('PostgreSQL, 2 nodes', 'PostgreSQL, 1 node', 'find, 3 clauses')}x.`,
  '',
  '**What limits them.** Everything runs on one machine of 2 cores: the nodes, PostgreSQL and the load generator. The last column divides those 2 cores by the CPU that one request costs the three together: the most this machine could answer were nothing else running. On SQLite a node reads the database inside its own process, with no other cost. On PostgreSQL each request makes a few queries (the session, the find, the names of what it refers to), each a round trip that the node encodes and decodes and that a PostgreSQL backend parses, plans and runs: the CPU of both columns. A second node on the same 2 cores competes with PostgreSQL and the load generator for them: what it adds here comes from the time a single node leaves the cores idle while it waits for PostgreSQL’s answers. With nodes on machines of their own, the rate grows with the nodes until PostgreSQL’s CPU per request, times the rate, fills its machine. PostgreSQL’s column counts every postgres process of the machine, so other work on it during the run shows there too.',
];
writeResults('nodes', 'Server on PostgreSQL and on several nodes (`bench/server/nodes.js`)', lines);
console.log(lines.join('\n'));
