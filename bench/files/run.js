// The file calls' benchmark: the real server, a child process on loopback, answering `workspace/file` ls of a
// directory of 100,000 files over HTTP, against the same listing made in this process with readdir and lstat, in
// the same run; with getsize of that directory and a recursive ls of a smaller tree. `npm run bench:files`.
import { lstatSync } from 'node:fs';
import { lstat, mkdir, readdir, writeFile } from 'node:fs/promises';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { formatDate } from '../../packages/protocol/dist/index.js';
import { writeResults } from '../results.js';
import {
  BOOTSTRAP_ENV,
  cpuOf,
  eventPath,
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

const FILES = Number(process.env.BENCH_FILES ?? 100_000);
// Of the big directory's entries, this many are directories, each holding SUBDIRECTORY_FILES files.
const SUBDIRECTORIES = 5;
const SUBDIRECTORY_FILES = 20;
// The recursive tree: TREE_FANOUT directories, each with TREE_FANOUT directories of TREE_FILES files.
const TREE_FANOUT = 10;
const TREE_FILES = 100;
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
const WARM_UP_ROUNDS = 1;
// lstat calls in flight at once in the batched baseline (and files written at once): in a trial on this machine,
// batches of 64 to 1,024 listed alike, and all 100,000 at once was slower.
const BATCH = 256;
// The issue's target: ls through the server within this factor of the batched readdir + lstat baseline.
const TARGET_RATIO = 2;

const dataDir = scratchDir('files');
const volume = join(dataDir, 'volumes', 'default');

// --- the files ------------------------------------------------------------------------------------------------------

const FILLER = Buffer.alloc(2048, 'x');
/** A small file's size, spread over 0 to 2,047 bytes. */
const sizeOf = (i) => (i * 7919) % FILLER.length;

/** Writes `count` files a batch at a time, the i-th at `pathOf(i)`. */
async function writeFiles(count, pathOf) {
  for (let start = 0; start < count; start += BATCH) {
    const batch = [];
    for (let i = start; i < Math.min(count, start + BATCH); i++) {
      batch.push(writeFile(pathOf(i), FILLER.subarray(0, sizeOf(i))));
    }
    await Promise.all(batch);
  }
}

async function makeBig(dir) {
  await mkdir(dir);
  for (let d = 0; d < SUBDIRECTORIES; d++) {
    const sub = join(dir, `dir-${d}`);
    await mkdir(sub);
    await writeFiles(SUBDIRECTORY_FILES, (i) => join(sub, `part-${i}.bin`));
  }
  await writeFiles(FILES - SUBDIRECTORIES, (i) => join(dir, `file-${String(i).padStart(6, '0')}.bin`));
}

async function makeTree(dir) {
  for (let a = 0; a < TREE_FANOUT; a++) {
    for (let b = 0; b < TREE_FANOUT; b++) {
      const leaf = join(dir, `a${a}`, `b${b}`);
      await mkdir(leaf, { recursive: true });
      await writeFiles(TREE_FILES, (i) => join(leaf, `frame.${String(i).padStart(4, '0')}.exr`));
    }
  }
}

// --- the baseline: the same entries, made in this process -------------------------------------------------------------

/** The server's order: by name, in UTF-16 code units. */
const byName = (a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);

/** An entry as ls answers it; a directory's size is 0 without getsize. */
function entryOf(name, stats) {
  const directory = stats.isDirectory();
  return {
    type: directory ? 0 : 1,
    filename: name,
    size: directory ? 0 : stats.size,
    modified: formatDate(stats.mtime),
  };
}

/**
 * Lists `dir` `depth` levels deep (a directory's entries in `files` below the first), its children's lstat done by
 * `statAll`.
 */
async function listWith(statAll, dir, depth) {
  const children = (await readdir(dir, { withFileTypes: true })).sort(byName);
  const stats = await statAll(children.map((child) => join(dir, child.name)));
  const entries = [];
  for (let i = 0; i < children.length; i++) {
    const entry = entryOf(children[i].name, stats[i]);
    if (entry.type === 0 && depth > 1) entry.files = await listWith(statAll, join(dir, children[i].name), depth - 1);
    entries.push(entry);
  }
  return entries;
}

const BASELINES = {
  batched: {
    name: `readdir + lstat, ${BATCH} at a time (Promise.all)`,
    async statAll(paths) {
      const stats = [];
      for (let start = 0; start < paths.length; start += BATCH) {
        stats.push(...(await Promise.all(paths.slice(start, start + BATCH).map((path) => lstat(path)))));
      }
      return stats;
    },
  },
  sequential: {
    name: 'readdir + lstat, one after another (await)',
    async statAll(paths) {
      const stats = [];
      for (const path of paths) stats.push(await lstat(path));
      return stats;
    },
  },
  synchronous: {
    name: 'readdir + lstatSync (blocks the thread: no server would)',
    statAll: async (paths) => paths.map((path) => lstatSync(path)),
  },
};

/** The bytes of the files beneath `dir`, as getsize answers them, its children's lstat done by `statAll`. */
async function sizeWith(statAll, dir) {
  const children = await readdir(dir, { withFileTypes: true });
  const stats = await statAll(children.map((child) => join(dir, child.name)));
  let total = 0;
  for (let i = 0; i < children.length; i++) {
    if (stats[i].isDirectory()) total += await sizeWith(statAll, join(dir, children[i].name));
    else if (stats[i].isFile()) total += stats[i].size;
  }
  return total;
}

/** The entries of a listing, those in directories' `files` included. */
const countOf = (entries) => entries.reduce((sum, entry) => sum + 1 + (entry.files ? countOf(entry.files) : 0), 0);

// --- measuring --------------------------------------------------------------------------------------------------------

const selfCpu = () => {
  const { user, system } = process.cpuUsage();
  return user + system;
};

/** Wall time and this process's CPU (all its threads: libuv's pool does the lstats), in ms. */
async function timeHere(run) {
  const cpu = selfCpu();
  const at = performance.now();
  const value = await run();
  return { value, wall: performance.now() - at, cpu: (selfCpu() - cpu) / 1000 };
}

/**
 * One call through the server: wall time to the end of its answer, the server's CPU for it, and its resident memory
 * before and at the peak during it: VmHWM reset before the call, or, where that is not allowed, VmRSS sampled every
 * 5 ms.
 */
async function timeServer(server, path) {
  const pid = server.child.pid;
  const before = memoryOf(pid).rss;
  const reset = resetPeak(pid);
  let sampled = before;
  const sampler = reset
    ? undefined
    : setInterval(() => {
        sampled = Math.max(sampled, memoryOf(pid).rss);
      }, 5);
  const cpu = cpuOf(pid);
  const at = performance.now();
  const reply = await send(server.url, 'GET', path);
  const wall = performance.now() - at;
  const serverCpu = (cpuOf(pid) - cpu) / 1000;
  clearInterval(sampler);
  if (reply.status !== 200) throw new Error(`GET ${path.slice(0, 60)}... answered ${reply.status}: ${reply.text}`);
  const peak = reset ? memoryOf(pid).peak : Math.max(sampled, memoryOf(pid).rss);
  return { body: reply.text, wall, cpu: serverCpu, before, peak, reset };
}

/** The answer's result, checked to be the baseline's entries, in the same order. */
function checkSame(what, body, expected) {
  const result = JSON.parse(body).result;
  if (JSON.stringify(result) !== JSON.stringify(expected)) {
    throw new Error(`${what}: the server's answer differs from the baseline's: ${body.slice(0, 300)}`);
  }
  return result;
}

/** What a run keeps of a measure: not its listing or answer, which would weigh on this process's later runs. */
const timesOf = ({ wall, cpu, before, peak, reset }) => ({ wall, cpu, before, peak, reset });

/**
 * A call through the server against its baseline, measured once per round, one after the other: `check` sees the
 * first answer and the baseline's value, and throws when they differ.
 */
function pair(name, path, baseline, check) {
  const runs = { server: [], baseline: [] };
  return {
    name,
    runs,
    async measure(round) {
      const here = await timeHere(baseline);
      const there = await timeServer(server, path);
      if (round === 0) check(there.body, here.value);
      if (round >= WARM_UP_ROUNDS) {
        runs.baseline.push(timesOf(here));
        runs.server.push(timesOf(there));
      }
    },
  };
}

const medians = (runs) => ({ wall: median(runs.map((r) => r.wall)), cpu: median(runs.map((r) => r.cpu)) });

/** The server's wall time over the baseline's, round by round (both met the same load), and their median. */
function ratiosOf(server, baseline) {
  const byRound = server.map((run, i) => run.wall / baseline[i].wall);
  return { byRound, median: median(byRound) };
}

// --- the run --------------------------------------------------------------------------------------------------------

const server = await start(
  dataDir,
  'server',
  [SERVER, '--port', '0', '--data-dir', dataDir, ...NO_LIMITS],
  BOOTSTRAP_ENV,
);
const figures = {};
const bigDir = join(volume, 'big');
const treeDir = join(volume, 'tree');
const lsRuns = Object.fromEntries(Object.keys(BASELINES).map((key) => [key, []]));
try {
  let at = performance.now();
  await makeBig(bigDir);
  figures.bigSeconds = (performance.now() - at) / 1000;
  at = performance.now();
  await makeTree(treeDir);
  figures.treeSeconds = (performance.now() - at) / 1000;

  const session = await login(server.url);
  const file = (data) => eventPath(session, 'workspace/file', data);
  // As the official client sends ls: download, recursive and getsize always.
  const ls = (path, recursive) => file({ op: 'ls', path, download: true, recursive, getsize: false });
  let expected;
  const calls = {
    ls: pair(
      'ls of `big`',
      ls('big', false),
      () => listWith(BASELINES.batched.statAll, bigDir, 1),
      (body, value) => {
        expected = checkSame('ls', body, value);
        if (expected.length !== FILES) throw new Error(`ls answered ${expected.length} entries, not ${FILES}`);
        figures.lsBytes = Buffer.byteLength(body);
      },
    ),
    tree: pair(
      'recursive ls of `tree`',
      ls('tree', true),
      () => listWith(BASELINES.batched.statAll, treeDir, Number.POSITIVE_INFINITY),
      (body, value) => {
        figures.treeCount = countOf(checkSame('recursive ls', body, value));
        figures.treeBytes = Buffer.byteLength(body);
      },
    ),
    size: pair(
      'getsize of `big`',
      file({ op: 'getsize', path: 'big' }),
      () => sizeWith(BASELINES.batched.statAll, bigDir),
      (body, value) => {
        figures.totalSize = JSON.parse(body).result;
        if (figures.totalSize !== value) throw new Error(`getsize answered ${body}, not ${value}`);
      },
    ),
  };
  figures.idle = memoryOf(server.child.pid);

  figures.loadBefore = loadavg()[0];
  const runStart = performance.now();
  // Each round runs every side once, in turn, so that all meet the same load from other work on the machine.
  for (let round = 0; round < WARM_UP_ROUNDS + ROUNDS; round++) {
    for (const call of Object.values(calls)) await call.measure(round);
    for (const [key, baseline] of Object.entries(BASELINES)) {
      if (key === 'batched') continue; // measured with the server's ls, just above
      const run = await timeHere(() => listWith(baseline.statAll, bigDir, 1));
      if (round === 0) checkSame(baseline.name, JSON.stringify({ result: run.value }), expected);
      if (round >= WARM_UP_ROUNDS) lsRuns[key].push(timesOf(run));
    }
    expected = undefined; // checked: from here on it would only weigh on this process's heap
  }
  figures.runSeconds = (performance.now() - runStart) / 1000;
  figures.loadAfter = loadavg()[0];
  lsRuns.batched = calls.ls.runs.baseline;
  figures.calls = calls;
} finally {
  await stop(server);
}

// --- report ---------------------------------------------------------------------------------------------------------

const { ls, tree, size } = figures.calls;
const ms = (x) => `${Math.round(x).toLocaleString('en')} ms`;
const mb = (bytes) => `${(bytes / 1e6).toFixed(1)} MB`;
const count = (n) => n.toLocaleString('en');
const times = (x) => `${x.toFixed(2)}x`;
const lsServer = medians(ls.runs.server);
const lsRatio = ratiosOf(ls.runs.server, ls.runs.baseline);
const lsCpuRatio = lsServer.cpu / medians(ls.runs.baseline).cpu;
const walls = (runs) => runs.map((r) => Math.round(r.wall)).join(', ');
const row = (name, runs, ratio) => {
  const m = medians(runs);
  return `| ${name} | ${ms(m.wall)} | ${ms(m.cpu)} | ${walls(runs)} | ${ratio} |`;
};
const peaks = ls.runs.server.map((r) => r.peak);
const befores = ls.runs.server.map((r) => r.before);
const other = (call, what) => {
  const s = medians(call.runs.server);
  const b = medians(call.runs.baseline);
  const ratio = ratiosOf(call.runs.server, call.runs.baseline);
  return `| ${call.name} (${what}) | ${ms(s.wall)} | ${ms(s.cpu)} | ${ms(b.wall)} | ${ms(b.cpu)} | **${times(ratio.median)}** (${ratio.byRound.map(times).join(', ')}) |`;
};
const lines = [
  `Files: \`big\`, ${count(FILES)} entries in one directory of the default volume (\`<data dir>/volumes/default/big\`, in the OS temp dir): ${count(FILES - SUBDIRECTORIES)} files of 0 to ${FILLER.length - 1} bytes and ${SUBDIRECTORIES} directories of ${SUBDIRECTORY_FILES} files each, written in ${figures.bigSeconds.toFixed(1)} s; \`tree\`, ${TREE_FANOUT} × ${TREE_FANOUT} directories of ${TREE_FILES} files (${count(figures.treeCount)} entries), written in ${figures.treeSeconds.toFixed(1)} s. The files were just written: their inodes are in the kernel's cache, as on a server that lists a directory more than once. The server is \`packages/server/dist/main.js\` at its default log level (info, to a file), its rate limits off, called as the admin over the official client's wire (a GET event, \`data: {op: "ls", path: "big", download: true, recursive: false, getsize: false}\`). The baselines make the same entries in the benchmark's own process (\`{type, filename, size, modified}\`, sorted by name, \`modified\` by accsyn-protocol's \`formatDate\`), and the server's answers were checked to hold exactly them. ${WARM_UP_ROUNDS} warm-up round, then ${ROUNDS} rounds, each running every side once in turn; figures are the medians over the rounds, ratios the medians of each round's ratio. Whole run ${Math.round(figures.runSeconds)} s; load average (1 min) ${figures.loadBefore.toFixed(2)} before it, ${figures.loadAfter.toFixed(2)} after, from other work on the machine.`,
  '',
  '| ls of `big` | wall | CPU | wall by round (ms) | server’s wall over it, by round |',
  '|---|---|---|---|---|',
  row(`server, over HTTP (answer ${count(figures.lsBytes)} bytes)`, ls.runs.server, ''),
  ...Object.entries(BASELINES).map(([key, baseline]) => {
    const ratio = ratiosOf(ls.runs.server, lsRuns[key]);
    const text = `${times(ratio.median)} (${ratio.byRound.map(times).join(', ')})`;
    return row(`baseline: ${baseline.name}`, lsRuns[key], key === 'batched' ? `**${text}**` : text);
  }),
  '',
  `The server’s wall time runs from sending the request to the last byte of its answer, in this process; its CPU is the server process’s (all its threads, user and system, from \`/proc/<pid>/stat\`) over the call. The baselines’ CPU is this process’s over the listing, libuv’s threads included. The server spends ${times(lsCpuRatio)} the CPU of the batched baseline. The machine has 2 cores, shared by the server, this process and whatever else runs: with a load average above 2, the wall times say as much about the scheduler as about the code, and the CPU times are the steadier figure.`,
  '',
  '| other calls | server wall | server CPU | baseline wall | baseline CPU | ratio (by round) |',
  '|---|---|---|---|---|---|',
  other(
    tree,
    `${count(figures.treeCount)} entries, answer ${count(figures.treeBytes)} bytes; baseline the batched walk, recursive`,
  ),
  other(size, `${count(figures.totalSize)} bytes; baseline the batched walk, recursive, summed`),
  '',
  `Server memory: ${mb(figures.idle.rss)} resident before the first call; during an ls of \`big\`, at its peak ${mb(median(peaks))} (median over the rounds; highest ${mb(Math.max(...peaks))}), from ${mb(median(befores))} before the call: ${mb(median(peaks) - median(befores))} more for one listing of ${count(FILES)} entries. ${ls.runs.server.every((run) => run.reset) ? 'The peak is VmHWM, set back to VmRSS (`/proc/<pid>/clear_refs`) before each call.' : 'The peak is VmRSS sampled every 5 ms during the call (this kernel does not let VmHWM be set back).'}`,
  '',
  '### Target',
  '',
  `- ls of ${count(FILES)} entries through the server within ${TARGET_RATIO}x of readdir + lstat (batched), wall time: ${times(lsRatio.median)} — ${lsRatio.median <= TARGET_RATIO ? '**pass**' : '**FAIL**'}`,
];
writeResults('files', 'File calls over HTTP (`bench/files/run.js`)', lines);
console.log(lines.join('\n'));
console.log(
  `\nls through the server: ${times(lsRatio.median)} the baseline's wall time — ${lsRatio.median <= TARGET_RATIO ? 'PASS' : 'FAIL'}`,
);
