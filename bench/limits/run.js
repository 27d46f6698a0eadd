// The rate limits' cost: the real server, a child process on loopback, answering an authenticated find by id with
// its limits off, on with counters in memory, and on with counters in Redis, at numbers that never refuse; each
// configuration in its own process, one after another, in rounds of alternating order. `npm run bench:limits`.
import { readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { writeResults } from '../results.js';
import {
  BOOTSTRAP_ENV,
  cpuOf,
  createTransfer,
  eventPath,
  load,
  login,
  median,
  NO_LIMITS,
  result,
  SERVER,
  scratchDir,
  send,
  start,
  stop,
} from '../support.js';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 6);
const SECONDS = 5;
const WARM_UP_SECONDS = 2;
const REDIS = process.env.BENCH_REDIS ?? 'redis://127.0.0.1:6379';
const TRANSFERS = 5;
// The targets: the most throughput the limits may cost against the server without them.
const TARGETS = { memory: 0.05, redis: 0.15 };
// High enough that nothing is refused: the measure is the limiter's work, not its decisions.
const NEVER_REFUSE = ['--limit-api', '1000000:1000000', '--max-connections', '100000'];

const CONFIGURATIONS = [
  { key: 'off', name: 'limits off', args: NO_LIMITS },
  { key: 'memory', name: 'limits on, memory', args: NEVER_REFUSE },
  { key: 'redis', name: 'limits on, Redis', args: [...NEVER_REFUSE, '--redis', REDIS] },
];

const dataDir = scratchDir('limits');
const serverArgs = [SERVER, '--port', '0', '--data-dir', dataDir];

// --- a small database, written over the wire ----------------------------------------------------------------------

// The first start bootstraps the workspace; the session and the transfers live in the database, for every later
// process. Logging in once keeps the backend throttle, whose window Redis keeps across processes, out of the way.
const setup = await start(dataDir, 'setup', [...serverArgs, ...CONFIGURATIONS[0].args], BOOTSTRAP_ENV);
const session = await login(setup.url);
const ids = [];
for (let i = 0; i < TRANSFERS; i++) ids.push(await createTransfer(setup.url, session, `shot ${i}`));
const target = ids[Math.floor(TRANSFERS / 2)];
const path = eventPath(session, 'transfer/find', {}, `id=${target}`);
const expected = await result(setup.url, path);
if (expected.rows.length !== 1 || expected.rows[0].id !== target) {
  throw new Error(`find by id answered ${expected.body.slice(0, 200)}`);
}
await stop(setup);

// --- the runs -----------------------------------------------------------------------------------------------------

/**
 * One configuration in a new server process: checks that it answers the same bytes and that its limiter is at work
 * (the RateLimit header, which the edge layer sends only when its store answered), warms it up, measures, stops it.
 * A store that fails lets requests through and logs it: such a run would measure no limiter, so it is an error.
 */
async function run(configuration, round) {
  const server = await start(dataDir, `${configuration.key}-${round}`, [...serverArgs, ...configuration.args]);
  let outcomes;
  try {
    const probe = await send(server.url, 'GET', path);
    if (probe.status !== 200 || probe.text !== expected.body) {
      throw new Error(`${configuration.name} answered ${probe.status}: ${probe.text.slice(0, 200)}`);
    }
    const limited = probe.headers.ratelimit !== undefined;
    if (limited !== (configuration.key !== 'off')) {
      throw new Error(`${configuration.name}: the RateLimit header is ${limited ? 'there' : 'missing'}`);
    }
    const warmUp = await load(server.url, path, WARM_UP_SECONDS);
    const cpu = cpuOf(server.child.pid);
    const measured = await load(server.url, path, SECONDS);
    outcomes = [warmUp, { ...measured, cpu: (cpuOf(server.child.pid) - cpu) / measured.count }];
  } finally {
    await stop(server);
  }
  const failure = readFileSync(server.log, 'utf8')
    .split('\n')
    .find((line) => line.includes('rate limits unavailable'));
  if (failure) throw new Error(`${configuration.name}: the limit store failed during the run: ${failure}`);
  const [warmUp, measured] = outcomes;
  return { ...measured, failed: warmUp.failed + measured.failed, non2xx: warmUp.non2xx + measured.non2xx };
}

const loadBefore = loadavg()[0];
const started = performance.now();
const runs = Object.fromEntries(CONFIGURATIONS.map((c) => [c.key, []]));
for (let round = 0; round < ROUNDS; round++) {
  // Forward, then backward: a drift of the machine over the run weighs on every configuration alike.
  const order = round % 2 === 0 ? CONFIGURATIONS : [...CONFIGURATIONS].reverse();
  for (const configuration of order) runs[configuration.key].push(await run(configuration, round));
}
const elapsed = (performance.now() - started) / 1000;

// --- report -------------------------------------------------------------------------------------------------------

const summary = Object.fromEntries(
  CONFIGURATIONS.map(({ key }) => {
    const all = runs[key];
    return [
      key,
      {
        rate: median(all.map((r) => r.rate)),
        p50: median(all.map((r) => r.p50)),
        p99: median(all.map((r) => r.p99)),
        cpu: median(all.map((r) => r.cpu)),
        requests: all.reduce((sum, r) => sum + r.count, 0),
        failed: all.reduce((sum, r) => sum + r.failed, 0),
        non2xx: all.reduce((sum, r) => sum + r.non2xx, 0),
      },
    ];
  }),
);
/** Throughput lost against the server without limits, as a fraction (negative when faster). */
const lossOf = (key) => 1 - summary[key].rate / summary.off.rate;
/** The same, round by round: each run against the run without limits of its own round. */
const roundLosses = (key) => runs[key].map((r, i) => 1 - r.rate / runs.off[i].rate);

/** How far the runs without limits fall from their own median, below and above, as fractions. */
const spread = {
  low: Math.min(...runs.off.map((r) => r.rate)) / summary.off.rate - 1,
  high: Math.max(...runs.off.map((r) => r.rate)) / summary.off.rate - 1,
};

const rate = (x) => Math.round(x).toLocaleString('en');
const ms = (x) => `${x.toFixed(2)} ms`;
const percent = (x) => `${(x * 100).toFixed(2)}%`;
const verdict = (ok) => (ok ? '**pass**' : '**FAIL**');
const failed = CONFIGURATIONS.reduce((sum, c) => sum + summary[c.key].failed, 0);
const lines = [
  `The server is \`packages/server/dist/main.js\` at its default log level (info, to a file), on a database bootstrapped by its first start with ${TRANSFERS} transfers created over the wire. The request is \`transfer/find\`, \`data: {}\`, \`query: "id=${target}"\`, an authenticated GET event (answer ${expected.body.length} bytes), which passes the edge layer and the connection cap but not the backend throttle (that one only sees logins, unauthenticated calls and failed authentications). Each configuration runs in its own server process; autocannon in another, 10 connections, no pipelining, ${WARM_UP_SECONDS} s of warm-up then ${SECONDS} s measured; ${ROUNDS} rounds, the order of the configurations forward then backward by turns; figures are the medians over the rounds. Whole run ${Math.round(elapsed)} s; load average (1 min) before it ${loadBefore.toFixed(2)}, from other work on the machine.`,
  '',
  '- limits off: `--limit-api off --max-connections 0 --throttle off`.',
  `- limits on, memory: \`${NEVER_REFUSE.join(' ')}\` (the throttle at its default), counters in the process.`,
  `- limits on, Redis: the same with \`--redis ${REDIS}\`: one Lua script (\`EVALSHA\`) per request.`,
  '',
  '| configuration | req/s | p50 | p99 | server CPU per request | loss | loss by round | requests | not 2xx |',
  '|---|---|---|---|---|---|---|---|---|',
  ...CONFIGURATIONS.map(({ key, name }) => {
    const s = summary[key];
    const loss = key === 'off' ? '—' : `**${percent(lossOf(key))}**`;
    const byRound = key === 'off' ? '—' : roundLosses(key).map(percent).join(', ');
    return `| ${name} | ${rate(s.rate)} | ${ms(s.p50)} | ${ms(s.p99)} | ${s.cpu.toFixed(0)} µs | ${loss} | ${byRound} | ${s.requests.toLocaleString('en')} | ${s.non2xx} |`;
  }),
  '',
  `Requests per second by round: ${CONFIGURATIONS.map(({ key, name }) => `${name} ${runs[key].map((r) => rate(r.rate)).join(', ')}`).join('; ')}.`,
  '',
  `The runs without limits alone spread from ${percent(spread.low)} to +${percent(spread.high)} around their median: one server process against another differs by that much with no change at all, so a loss within that band is not told apart from noise by ${ROUNDS} rounds.`,
  '',
  'Loss is 1 − req/s with limits ÷ req/s without, on the medians; “by round” divides each run by the run without limits of the same round. Latencies are each response’s own time; server CPU is the server process’s (all its threads, user and system) over the measured run, divided by the requests answered. The machine has the cores it has: the server, autocannon and, in the third configuration, Redis share them.',
  '',
  '### Targets',
  '',
  `- no request refused or failed (warm-ups included): ${failed} — ${verdict(failed === 0)}`,
  `- memory store under ${percent(TARGETS.memory)} loss: ${percent(lossOf('memory'))} — ${verdict(lossOf('memory') < TARGETS.memory)}`,
  `- Redis store under ${percent(TARGETS.redis)} loss: ${percent(lossOf('redis'))} — ${verdict(lossOf('redis') < TARGETS.redis)}`,
];
writeResults('limits', 'Rate limits’ cost (`bench/limits/run.js`)', lines);
console.log(lines.join('\n'));
// Figures from runs with refused or failed requests do not measure what they claim.
if (failed > 0) process.exitCode = 1;
