// The client's own overhead: sequential `session.findOne('Transfer WHERE id=<id>')` calls through accsyn-api
// against raw undici requests of the same envelope, both in this process, against the same real server (a child
// process on loopback) in the same run, in rounds of alternating order. `npm run bench:client`.
import { randomUUID } from 'node:crypto';
import { createRequire } from 'node:module';
import { hostname, loadavg, platform } from 'node:os';
import { Session } from '../../packages/api/dist/index.js';
import {
  authorizationHeader,
  DEVICE_HEADER,
  EVENT_PATH,
  encodeEnvelope,
  formatDate,
  queryStringOf,
  WORKSPACE_HEADER,
} from '../../packages/protocol/dist/index.js';
import { writeResults } from '../results.js';
import {
  ADMIN,
  API_KEY,
  BOOTSTRAP_ENV,
  cpuOf,
  createTransfer,
  login,
  median,
  NO_LIMITS,
  percentile,
  SERVER,
  scratchDir,
  start,
  stop,
  WORKSPACE,
} from '../support.js';

// The undici the client runs on: the root node_modules holds another major version (node-gyp's).
const requireFromApi = createRequire(new URL('../../packages/api/package.json', import.meta.url));
const { Agent, request } = requireFromApi('undici');
const UNDICI_VERSION = requireFromApi('undici/package.json').version;

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 6);
// Measured seconds per side and round, in turns of SLICE_SECONDS.
const SECONDS = 5;
const SLICE_SECONDS = 0.25;
// Before the first round: the server's and this process's JIT compile on background threads, whose CPU counts.
const WARM_UP_SECONDS = 3;
const TRANSFERS = 5;
// The target: the most throughput the client may cost against raw requests of the same envelope.
const TARGET = 0.1;

// --- the server and its data, written over the wire ---------------------------------------------------------------

const dataDir = scratchDir('client');
const serverArgs = [SERVER, '--port', '0', '--data-dir', dataDir, ...NO_LIMITS];
const server = await start(dataDir, 'server', serverArgs, BOOTSTRAP_ENV);
const setupSession = await login(server.url);
const ids = [];
for (let i = 0; i < TRANSFERS; i++) ids.push(await createTransfer(server.url, setupSession, `shot ${i}`));
const target = ids[Math.floor(TRANSFERS / 2)];
const QUERY = `Transfer WHERE id=${target}`;

// --- the two sides, each logged in once ---------------------------------------------------------------------------

const session = new Session({
  workspace: WORKSPACE,
  username: ADMIN,
  apiKey: API_KEY,
  hostname: server.url,
  environment: false,
});
await session.login();

/** What a caller writing the requests by hand would send: the client's envelope and headers, nothing else. */
const raw = {
  session: await login(server.url),
  agent: new Agent({ connections: 8 }),
  headers: {
    [DEVICE_HEADER]: `accsyn-api v0.1.0 @ ${platform()} ${hostname()}(node)`,
    Accept: 'application/json',
    Authorization: authorizationHeader(ADMIN, API_KEY),
    [WORKSPACE_HEADER]: WORKSPACE,
  },
  hostname: hostname(),
};

/** One find by id as raw undici: the envelope built for this call (its own eid and time), percent-encoded, parsed. */
async function rawFindOne() {
  const envelope = encodeEnvelope({
    audience: 'api',
    workspace: WORKSPACE,
    eid: randomUUID(),
    session: raw.session,
    uri: 'transfer/find',
    ident: ADMIN,
    created: formatDate(new Date()),
    hostname: raw.hostname,
    data: { single_entity_query: true },
    query: `id=${target}`,
  });
  const answer = await request(`${server.url}${EVENT_PATH}?${queryStringOf(envelope)}`, {
    method: 'GET',
    headers: raw.headers,
    dispatcher: raw.agent,
  });
  const text = await answer.body.text();
  if (answer.statusCode !== 200) throw new Error(`raw find answered ${answer.statusCode}: ${text.slice(0, 200)}`);
  return JSON.parse(text).result[0] ?? null;
}

const SIDES = [
  { key: 'client', name: 'accsyn-api `findOne`', call: () => session.findOne(QUERY) },
  { key: 'raw', name: 'raw undici', call: rawFindOne },
];

// Both sides find the transfer before anything is measured; the client also revives its dates.
for (const side of SIDES) {
  const found = await side.call();
  if (found?.id !== target) throw new Error(`${side.name} found ${JSON.stringify(found)?.slice(0, 200)}`);
}
const clientFound = await session.findOne(QUERY);
if (!(clientFound.created instanceof Date)) throw new Error('the client did not revive `created` as a Date');

// --- the runs -----------------------------------------------------------------------------------------------------

/** Calls one at a time for `seconds`, each awaited before the next, into `tally`; every call must find the transfer. */
async function sequential(side, seconds, tally = newTally()) {
  const ownCpu = process.cpuUsage();
  const serverCpu = cpuOf(server.child.pid);
  const started = performance.now();
  const deadline = started + seconds * 1000;
  let now = started;
  while (now < deadline) {
    const found = await side.call();
    const end = performance.now();
    if (found?.id !== target) throw new Error(`${side.name} found ${JSON.stringify(found)?.slice(0, 200)}`);
    tally.times.push(end - now);
    now = end;
  }
  tally.elapsed += now - started;
  tally.serverCpu += cpuOf(server.child.pid) - serverCpu;
  const own = process.cpuUsage(ownCpu);
  tally.ownCpu += own.user + own.system;
  return tally;
}

const newTally = () => ({ times: [], elapsed: 0, ownCpu: 0, serverCpu: 0 });

function outcome({ times, elapsed, ownCpu, serverCpu }) {
  const calls = times.length;
  const sorted = [...times].sort((a, b) => a - b);
  return {
    rate: (calls * 1000) / elapsed,
    calls,
    p50: percentile(sorted, 50),
    p99: percentile(sorted, 99),
    ownCpu: ownCpu / calls,
    serverCpu: serverCpu / calls,
  };
}

/**
 * One round: the sides take turns of SLICE_SECONDS, A B then B A, until each has had SECONDS. The machine's load
 * from other work changes over seconds; turns this short put both sides under the same load.
 */
async function round() {
  const tallies = Object.fromEntries(SIDES.map((s) => [s.key, newTally()]));
  for (let turn = 0; turn < SECONDS / SLICE_SECONDS; turn++) {
    const order = turn % 2 === 0 ? SIDES : [...SIDES].reverse();
    for (const side of order) await sequential(side, SLICE_SECONDS, tallies[side.key]);
  }
  return Object.fromEntries(SIDES.map((s) => [s.key, outcome(tallies[s.key])]));
}

const loadBefore = loadavg()[0];
const started = performance.now();
const runs = Object.fromEntries(SIDES.map((s) => [s.key, []]));
for (const side of SIDES) await sequential(side, WARM_UP_SECONDS);
for (let i = 0; i < ROUNDS; i++) {
  const outcomes = await round();
  for (const side of SIDES) runs[side.key].push(outcomes[side.key]);
}
const elapsed = (performance.now() - started) / 1000;
await session.close();
await raw.agent.close();
await stop(server);

// --- report -------------------------------------------------------------------------------------------------------

const summary = Object.fromEntries(
  SIDES.map(({ key }) => {
    const all = runs[key];
    const of = (field) => median(all.map((r) => r[field]));
    return [
      key,
      {
        rate: of('rate'),
        p50: of('p50'),
        p99: of('p99'),
        ownCpu: of('ownCpu'),
        serverCpu: of('serverCpu'),
        calls: all.reduce((sum, r) => sum + r.calls, 0),
      },
    ];
  }),
);
/** Throughput the client costs against raw requests, as a fraction (negative when faster). */
const overhead = 1 - summary.client.rate / summary.raw.rate;
const roundOverheads = runs.client.map((r, i) => 1 - r.rate / runs.raw[i].rate);
const spread = {
  low: Math.min(...runs.raw.map((r) => r.rate)) / summary.raw.rate - 1,
  high: Math.max(...runs.raw.map((r) => r.rate)) / summary.raw.rate - 1,
};

const rate = (x) => Math.round(x).toLocaleString('en');
const ms = (x) => `${x.toFixed(3)} ms`;
const us = (x) => `${x.toFixed(0)} µs`;
const percent = (x) => `${(x * 100).toFixed(2)}%`;
const signed = (x) => `${x >= 0 ? '+' : ''}${percent(x)}`;
const verdict = (ok) => (ok ? '**pass**' : '**FAIL**');
const lines = [
  `The server is \`packages/server/dist/main.js\` at its default log level (info, to a file), its rate limits off (\`--limit-api off --max-connections 0 --throttle off\`), on a database bootstrapped by its first start with ${TRANSFERS} transfers created over the wire. Both sides run in this process, one call at a time (each awaited before the next), against that one server: the client is \`packages/api/dist/index.js\`, \`session.findOne('${QUERY}')\` (a GET event, \`data: {single_entity_query: true}\`, \`query: "id=…"\`, the transfer parsed, its dates revived); the baseline is raw undici ${UNDICI_VERSION} (the client’s own copy), \`request()\` on a keep-alive \`Agent\`, sending the same envelope (built for each call with a new eid and time by accsyn-protocol’s \`encodeEnvelope\`, \`queryStringOf\`) and the same headers (built once), then \`JSON.parse\` of the answer. Each side logged in once. ${WARM_UP_SECONDS} s of warm-up for each side first; then ${ROUNDS} rounds, in each of which the sides take turns of ${SLICE_SECONDS * 1000} ms (client then raw, raw then client, and so on) until each has had ${SECONDS} s, so that both meet the same load from other work on the machine; figures are the medians over the rounds. Whole run ${Math.round(elapsed)} s; load average (1 min) before it ${loadBefore.toFixed(2)}, from other work on the machine.`,
  '',
  '| side | calls/s | p50 | p99 | bench CPU per call | server CPU per call | calls |',
  '|---|---|---|---|---|---|---|',
  ...SIDES.map(({ key, name }) => {
    const s = summary[key];
    return `| ${name} | ${rate(s.rate)} | ${ms(s.p50)} | ${ms(s.p99)} | ${us(s.ownCpu)} | ${us(s.serverCpu)} | ${s.calls.toLocaleString('en')} |`;
  }),
  '',
  `Overhead (1 − client calls/s ÷ raw calls/s, on the medians): **${percent(overhead)}**; by round ${roundOverheads.map(percent).join(', ')}. The client’s p50 is ${us((summary.client.p50 - summary.raw.p50) * 1000)} above raw’s; it spends ${us(summary.client.ownCpu - summary.raw.ownCpu)} more of this process’s CPU per call.`,
  '',
  `Calls per second by round: ${SIDES.map(({ key, name }) => `${name} ${runs[key].map((r) => rate(r.rate)).join(', ')}`).join('; ')}.`,
  '',
  `The overhead by round spreads from ${percent(Math.min(...roundOverheads))} to ${percent(Math.max(...roundOverheads))}, while the raw rounds alone spread from ${percent(spread.low)} to ${signed(spread.high)} around their median: the load from other work on the machine moves both sides together within a round, which is why they take turns.`,
  '',
  'Latencies are each call’s own time, from before the call to its answer parsed. Bench CPU is this process’s (user and system, undici and the loop included) over the measured run divided by the calls; server CPU is the server process’s over the same run divided by the calls: both sides send it the same request, so a difference there is the machine’s noise, not the client’s work. The machine has the cores it has: the server and this process share them.',
  '',
  '### Target',
  '',
  `- client overhead under ${percent(TARGET)} of raw throughput: ${percent(overhead)} — ${verdict(overhead < TARGET)}`,
];
writeResults('client', 'Client overhead (`bench/client/run.js`)', lines);
console.log(lines.join('\n'));
