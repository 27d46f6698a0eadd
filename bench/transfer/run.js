// The transfer engine's benchmark: the real server (a child process on loopback) copying volume to volume on one
// disk, one big file and a tree of small files, against `cp`, `cp -r` and `rsync -a` copying the same files between
// the same directories in the same run, each made durable or not; and the server's memory while it copies. `npm run
// bench:transfer`.
import { spawnSync } from 'node:child_process';
import { randomFillSync, randomUUID } from 'node:crypto';
import { closeSync, mkdirSync, openSync, readdirSync, readFileSync, statfsSync, statSync, writeSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { queryStringOf } from '../../packages/protocol/dist/index.js';
import { writeResults } from '../results.js';
import {
  BOOTSTRAP_ENV,
  cpuOf,
  envelopeOf,
  login,
  median,
  memoryOf,
  NO_LIMITS,
  resetPeak,
  SERVER,
  scratchDir,
  send,
  start,
  stop,
} from '../support.js';

const BIG_MIB = Number(process.env.BENCH_BIG_MIB ?? 2048);
const SMALL_FILES = Number(process.env.BENCH_SMALL_FILES ?? 10_000);
const SMALL_BYTES = 10 * 1024;
// The small files lie in this many directories, as the frames of as many shots.
const SMALL_DIRECTORIES = 10;
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
const WARM_UP_ROUNDS = 1;
// How often the job is read while it runs: its end is seen at most this late.
const POLL_MS = 50;
// A transfer that has not ended after this long fails the run.
const TRANSFER_TIMEOUT_MS = 600_000;
// A directory to write the server's CPU profiles to (node --cpu-prof), to see where its time goes.
const PROFILE = process.env.BENCH_CPU_PROF;
// Only these cases (`big`, `small`), comma separated; both by default.
const CASES = (process.env.BENCH_CASES ?? 'big,small').split(',');
// The issue's targets: the engine's throughput over the baseline's.
const TARGETS = { big: 0.9, small: 0.5 };

const dataDir = scratchDir('transfer');
const sourceDir = join(dataDir, 'volumes', 'default');
// The second volume, on the same disk: every side writes to a new directory in it, removed after.
const targetDir = join(dataDir, 'target');
mkdirSync(targetDir);

// --- the files ------------------------------------------------------------------------------------------------------

const BLOCK = 4 * 1024 * 1024;

/** Writes `mib` MiB of random bytes, so that no layer could shorten them. */
function writeBig(path, mib) {
  const block = Buffer.allocUnsafe(BLOCK);
  const fd = openSync(path, 'w');
  try {
    for (let written = 0; written < mib * 1024 * 1024; written += BLOCK) writeSync(fd, randomFillSync(block));
  } finally {
    closeSync(fd);
  }
}

function writeSmall(dir) {
  const content = Buffer.allocUnsafe(SMALL_BYTES);
  for (let i = 0; i < SMALL_FILES; i++) {
    const shot = join(dir, `sh${String(i % SMALL_DIRECTORIES).padStart(3, '0')}`);
    if (i < SMALL_DIRECTORIES) mkdirSync(shot, { recursive: true });
    const fd = openSync(join(shot, `frame.${String(i).padStart(6, '0')}.exr`), 'w');
    writeSync(fd, randomFillSync(content));
    closeSync(fd);
  }
}

/** The files beneath `dir` and their bytes. */
function contentsOf(dir) {
  let files = 0;
  let bytes = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (!entry.isFile()) continue;
    files++;
    bytes += statSync(join(entry.parentPath ?? entry.path, entry.name)).size;
  }
  return { files, bytes };
}

// --- the sides ------------------------------------------------------------------------------------------------------

const CLOCK_TICKS = Number(spawnSync('getconf', ['CLK_TCK']).stdout);

/** Everything this process's children have used of the CPU, user and system, in ms (Linux). */
function childrenCpu() {
  const fields = readFileSync('/proc/self/stat', 'utf8').split(') ')[1].split(' ');
  return ((Number(fields[13]) + Number(fields[14])) * 1000) / CLOCK_TICKS;
}

function run(command, args) {
  const outcome = spawnSync(command, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  if (outcome.status !== 0) throw new Error(`${command} ${args.join(' ')}: ${outcome.stderr}`);
}

/** The wall time of `sync -f` on `path`: syncfs, what is dirty on its file system reaching the disk. */
function syncTime(path) {
  const at = performance.now();
  run('sync', ['-f', path]);
  return performance.now() - at;
}

/** A command-line copy: the wall time of the command and its CPU. */
function command(name, argsOf) {
  return {
    name,
    kind: 'command',
    async measure(source, destination) {
      const [program, ...args] = argsOf(source, destination);
      const cpu = childrenCpu();
      const at = performance.now();
      run(program, args);
      return { wall: performance.now() - at, cpu: childrenCpu() - cpu };
    },
  };
}

let session;
let server;
let targetVolume;

/** An event as the official client sends it; answers its result. */
async function call(method, uri, data, extra = {}) {
  const body = envelopeOf(session, uri, data, extra);
  const reply =
    method === 'GET'
      ? await send(server.url, 'GET', `/api/v3/event?${queryStringOf(body)}`)
      : await send(server.url, method, '/api/v3/event', body);
  if (reply.status !== 200) throw new Error(`${uri} answered ${reply.status}: ${reply.text.slice(0, 300)}`);
  return JSON.parse(reply.text).result;
}

/**
 * The engine with `settings`: the wall time from sending `transfer/create` to reading the job `done` (read every
 * POLL_MS), the server's CPU over it, and its resident memory before and at the peak: VmHWM, reset before the
 * transfer, or where that is not allowed VmRSS read with every poll.
 */
function engine(name, settings) {
  return {
    name,
    kind: 'engine',
    async measure(source, destination) {
      const pid = server.child.pid;
      const before = memoryOf(pid).rss;
      const reset = resetPeak(pid);
      let sampled = before;
      const cpu = cpuOf(pid);
      const at = performance.now();
      const [created] = await call('POST', 'transfer/create', {
        name: `bench ${name}`,
        source: source.slice(sourceDir.length + 1),
        destination: `volume=${targetVolume}${destination.slice(targetDir.length)}`,
        settings,
      });
      let job;
      for (;;) {
        [job] = await call('GET', 'transfer/find', {}, { id: created.id });
        sampled = Math.max(sampled, memoryOf(pid).rss);
        if (!['init', 'waiting', 'running'].includes(job.status)) break;
        if (performance.now() - at > TRANSFER_TIMEOUT_MS) throw new Error(`${name}: job ${created.id} still runs`);
        await new Promise((resolve) => setTimeout(resolve, POLL_MS));
      }
      const wall = performance.now() - at;
      const used = (cpuOf(pid) - cpu) / 1000;
      if (job.status !== 'done') throw new Error(`${name}: job ${created.id} ended ${job.status}: ${job.message}`);
      const peak = reset ? memoryOf(pid).peak : sampled;
      return { wall, cpu: used, before, peak, reset };
    },
  };
}

const ENGINES = [
  engine('engine, xxhash64, verified (the defaults)', {}),
  engine('engine, xxhash64, not verified', { verify_checksums: 'false' }),
  engine('engine, sha256, verified', { checksum: 'sha256' }),
];

const PRESERVE = '--preserve=mode,timestamps';
const CASE_SIDES = {
  big: [
    command('`cp`', (source, destination) => ['cp', PRESERVE, source, destination]),
    command('`rsync -a`', (source, destination) => ['rsync', '-a', source, destination]),
    ...ENGINES,
  ],
  small: [
    command('`cp -r`', (source, destination) => ['cp', '-r', PRESERVE, source, destination]),
    command('`rsync -a`', (source, destination) => ['rsync', '-a', `${source}/`, destination]),
    ...ENGINES,
  ],
};

/**
 * One side's copy of `source` to a new path in the target volume, then `sync -f` timed apart, then a check that
 * every file landed whole; the path is removed and the disk synced after, outside the time, so that the next side
 * meets a disk with nothing left to write.
 */
async function measureSide(side, key, source, expected, round) {
  const destination = join(targetDir, `${key}-${round}-${randomUUID().slice(0, 8)}`);
  const measured = await side.measure(source, destination);
  measured.sync = syncTime(destination);
  const found = statSync(destination).isDirectory()
    ? contentsOf(destination)
    : { files: 1, bytes: statSync(destination).size };
  if (found.files !== expected.files || found.bytes !== expected.bytes) {
    throw new Error(
      `${side.name}: ${found.files} files of ${found.bytes} bytes landed, not ${expected.files} of ${expected.bytes}`,
    );
  }
  if (round === 0 && key === 'big') run('cmp', [source, destination]);
  await rm(destination, { recursive: true, force: true });
  run('sync', []);
  return measured;
}

// --- the run --------------------------------------------------------------------------------------------------------

const free = statfsSync(dataDir);
const needed = (2 * BIG_MIB + 64) * 1024 * 1024 + 2 * SMALL_FILES * (SMALL_BYTES + 4096);
if (free.bavail * free.bsize < needed * 1.2) {
  throw new Error(`${(needed / 2 ** 30).toFixed(1)} GiB are needed in ${dataDir}; set BENCH_BIG_MIB lower`);
}

const cases = {
  big: { path: join(sourceDir, 'big', 'big.bin'), expected: { files: 1, bytes: BIG_MIB * 1024 * 1024 } },
  small: { path: join(sourceDir, 'small'), expected: { files: SMALL_FILES, bytes: SMALL_FILES * SMALL_BYTES } },
};
const figures = { rounds: {} };
server = await start(
  dataDir,
  'server',
  [
    ...(PROFILE ? ['--cpu-prof', `--cpu-prof-dir=${PROFILE}`] : []),
    SERVER,
    '--port',
    '0',
    '--data-dir',
    dataDir,
    ...NO_LIMITS,
  ],
  BOOTSTRAP_ENV,
);
try {
  mkdirSync(join(sourceDir, 'big'), { recursive: true });
  if (CASES.includes('big')) writeBig(cases.big.path, BIG_MIB);
  if (CASES.includes('small')) writeSmall(cases.small.path);
  run('sync', []);

  session = await login(server.url);
  const [volume] = await call('POST', 'volume/create', { name: 'Target', path: targetDir });
  targetVolume = volume.code;
  figures.idle = memoryOf(server.child.pid);

  figures.loadBefore = loadavg()[0];
  const runStart = performance.now();
  for (const key of CASES) {
    const sides = CASE_SIDES[key];
    const runs = sides.map(() => []);
    for (let round = 0; round < WARM_UP_ROUNDS + ROUNDS; round++) {
      // Each round runs every side once, starting one further each round, so that no side always follows the same.
      for (let turn = 0; turn < sides.length; turn++) {
        const i = (round + turn) % sides.length;
        const measured = await measureSide(sides[i], key, cases[key].path, cases[key].expected, round);
        if (round >= WARM_UP_ROUNDS) runs[i].push(measured);
        console.error(`${key}, round ${round}: ${sides[i].name} ${Math.round(measured.wall)} ms`);
      }
    }
    figures.rounds[key] = runs;
  }
  figures.runSeconds = (performance.now() - runStart) / 1000;
  figures.loadAfter = loadavg()[0];
  figures.after = memoryOf(server.child.pid);
} finally {
  await stop(server);
}

// --- report ---------------------------------------------------------------------------------------------------------

const ms = (x) => `${Math.round(x).toLocaleString('en')} ms`;
const mb = (bytes) => `${(bytes / 1e6).toFixed(1)} MB`;
const times = (x) => `${x.toFixed(2)}x`;
const rate = (bytes, wall) => `${(bytes / 1e6 / (wall / 1000)).toFixed(0)} MB/s`;
const count = (n) => n.toLocaleString('en');
const durable = (run) => run.wall + run.sync;

/** The baseline's time over the side's, round by round (both met the same load), and their median. */
function ratiosOf(runs, baseline, timeOf = (run) => run.wall) {
  const byRound = runs.map((run, i) => timeOf(baseline[i]) / timeOf(run));
  return { byRound, median: median(byRound) };
}

const cpVersion = spawnSync('cp', ['--version']).stdout.toString().split('\n')[0].split(' ').pop();
const rsyncVersion = spawnSync('rsync', ['--version']).stdout.toString().split('\n')[0].split(/\s+/)[2];
const lines = [
  `Files: \`big\`, one file of ${count(BIG_MIB)} MiB of random bytes; \`small\`, ${count(SMALL_FILES)} files of ${SMALL_BYTES / 1024} KiB in ${SMALL_DIRECTORIES} directories; both on the default volume (\`<data dir>/volumes/default\`, in the OS temp dir, ext4 here). Every side copies them to a new directory of a second volume on the same disk (\`<data dir>/target\`); after it, \`sync -f\` is timed on its own, then the copy is checked to hold every file at its size (the big file compared byte for byte in the warm-up round), removed, and \`sync\` run outside the time, so that the next side meets a disk with nothing left to write. The sources stay in the page cache for every side alike (the machine has room for them, and the cache cannot be dropped without root tricks). The server is \`packages/server/dist/main.js\`, on SQLite, its rate limits off, at its default log level (info, to a file); the engine's time runs from sending \`transfer/create\` (as the admin, over the official client's wire, the job's \`settings\` as shown) to reading the job \`done\` with \`transfer/find\` by id, read every ${POLL_MS} ms. \`cp\` (GNU coreutils ${cpVersion}) keeps mode and times (\`${PRESERVE}\`), as the engine does, and copies inside the kernel (copy_file_range); \`rsync -a\` (${rsyncVersion}, as installed on this machine) writes a temporary file and renames it, as the engine does. ${WARM_UP_ROUNDS} warm-up round, then ${ROUNDS} rounds; each round runs every side once, in turn, starting one side further each round, so that every side meets the same load from other work on the machine; figures are medians over the rounds, ratios the medians of each round's ratio. Whole run ${Math.round(figures.runSeconds)} s; load average (1 min) ${figures.loadBefore.toFixed(2)} before it, ${figures.loadAfter.toFixed(2)} after, from other work on the machine (2 cores).`,
  '',
  "**Durable or not.** `cp` and `rsync -a` end with what they wrote still in the page cache, for the kernel to write to disk within the next 30 s; the engine syncs each file to disk, and its directory after the rename, before it calls the file copied. The `+ sync` columns add the time of `sync -f` right after the side: for `cp` and `rsync` that is the cost of a copy that survives a power cut, the engine's way of working; after the engine it finds little left to write. Ratios are the baseline's time over the side's: the side's throughput relative to the baseline's (above 1, the side is faster).",
];
for (const key of CASES) {
  const sides = CASE_SIDES[key];
  const runs = figures.rounds[key];
  const bytes = cases[key].expected.bytes;
  const baseline = runs[0];
  lines.push(
    '',
    `| ${key} | wall | rate | CPU | + sync | wall by round (ms) | relative to ${sides[0].name} | relative to ${sides[0].name}, both + sync |`,
    '|---|---|---|---|---|---|---|---|',
  );
  sides.forEach((side, i) => {
    const wall = median(runs[i].map((r) => r.wall));
    const cpu = median(runs[i].map((r) => r.cpu));
    const withSync = median(runs[i].map(durable));
    const ratio = ratiosOf(runs[i], baseline).median;
    const ratioSynced = ratiosOf(runs[i], baseline, durable).median;
    const cells =
      i === 0 ? ['—', '—'] : [times(ratio), times(ratioSynced)].map((x) => (side.kind === 'engine' ? `**${x}**` : x));
    lines.push(
      `| ${side.name} | ${ms(wall)} | ${rate(bytes, wall)} | ${ms(cpu)} | ${ms(withSync)} | ${runs[i].map((r) => Math.round(r.wall)).join(', ')} | ${cells.join(' | ')} |`,
    );
  });
}
lines.push(
  '',
  "CPU is the server process's (all its threads, user and system, from `/proc/<pid>/stat`) over the transfer, or the command's. The machine's 2 cores are shared by the server, this process and whatever else runs.",
);
const peakLine = (key, what) => {
  const engineRuns = figures.rounds[key].filter((_, i) => CASE_SIDES[key][i].kind === 'engine').flat();
  const peaks = engineRuns.map((r) => r.peak);
  const growth = engineRuns.map((r) => r.peak - r.before);
  return `while ${what} copied, at its peak ${mb(median(peaks))} (median over the engine's ${engineRuns.length} runs; highest ${mb(Math.max(...peaks))}), ${mb(Math.max(0, median(growth)))} above what it held before the transfer (at most ${mb(Math.max(0, ...growth))})`;
};
const memory = [];
if (CASES.includes('big')) memory.push(peakLine('big', `the ${count(BIG_MIB)} MiB file is`));
if (CASES.includes('small')) memory.push(peakLine('small', `the ${count(SMALL_FILES)} small files are`));
const exact = Object.values(figures.rounds)
  .flat(2)
  .every((r) => r.reset !== false);
lines.push(
  '',
  `**Server memory** (resident): ${mb(figures.idle.rss)} before the first transfer, ${mb(figures.after.rss)} after the last; ${memory.join('; ')}. ${exact ? 'The peak is VmHWM, set back to VmRSS (`/proc/<pid>/clear_refs`) before each transfer.' : 'The peak is VmRSS read with every poll.'} A file is copied through two buffers of 4 MiB at most and, with verify, a third, whatever its size: the memory does not grow with the file. The issue asks for 20 GiB; ${count(BIG_MIB)} MiB is what this benchmark copies, a size the disk holds twice with room to spare (\`BENCH_BIG_MIB\` sets it).`,
);
lines.push('', '### Targets', '');
for (const key of CASES) {
  const runs = figures.rounds[key];
  const index = CASE_SIDES[key].indexOf(ENGINES[0]);
  const ratio = ratiosOf(runs[index], runs[0]).median;
  const synced = ratiosOf(runs[index], runs[0], durable).median;
  const what =
    key === 'big' ? `one ${count(BIG_MIB)} MiB file` : `${count(SMALL_FILES)} files of ${SMALL_BYTES / 1024} KiB`;
  const baseline = CASE_SIDES[key][0].name;
  lines.push(
    `- ${what} at ≥ ${TARGETS[key]}x of ${baseline} (the engine at its defaults): ${times(ratio)} — ${ratio >= TARGETS[key] ? '**pass**' : '**FAIL**'}; made durable both, ${baseline} + sync: ${times(synced)} — ${synced >= TARGETS[key] ? 'pass' : 'fail'}`,
  );
}
writeResults('transfer', 'Transfers volume to volume (`bench/transfer/run.js`)', lines);
console.log(lines.join('\n'));
