// The query language's benchmark: parse and compile times, and execution of compiled SQL against the
// equivalent hand-written SQL on the same SQLite table and indexes, in the same run. `npm run bench`.
import { compileWhere, parseExpression, registerSqliteFunctions, render, sqlite } from 'accsyn-query';
import Database from 'better-sqlite3';
import { writeResults } from '../results.js';

const ROWS = Number(process.env.BENCH_ROWS ?? 1_000_000);

const SEED = '((user=lisa@example.com AND destination=hq) OR status<>failed) AND code="* backup"';
const THIRTY = Array.from(
  { length: 10 },
  (_, i) =>
    `(user = user${i}@example.com AND size > ${i * 1000} OR status IN (done, queued) AND code CONTAINS "take ${i}")`,
).join(' OR ');

/** Attributes stored with a folded copy (NOT NULL where the table says so), as a store keeps hot attributes. */
const schema = {
  code: { type: 'string', folded: 'code_folded', required: true },
  user: { type: 'string', folded: 'user_folded', required: true },
  destination: { type: 'string', folded: 'destination_folded', required: true },
  status: { type: 'string', folded: 'status', required: true },
  size: { type: 'number', required: true },
  created: { type: 'date', required: true },
};
/** The same attributes folded by SQL at query time instead. */
const unfolded = Object.fromEntries(
  Object.entries(schema).map(([name, a]) => [name, { type: a.type, required: true }]),
);

// --- parse and compile -----------------------------------------------------------------------------------

/** Median time of one call, in microseconds, over `rounds` rounds of `batch` calls. */
function timeEach(run, batch = 2_000, rounds = 15) {
  for (let i = 0; i < batch; i++) run(); // warm up
  const samples = [];
  for (let r = 0; r < rounds; r++) {
    const start = process.hrtime.bigint();
    for (let i = 0; i < batch; i++) run();
    samples.push(Number(process.hrtime.bigint() - start) / 1e3 / batch);
  }
  return median(samples);
}

function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

const parsing = [];
for (const [name, text] of [
  ['the seed example', SEED],
  ['30 conditions', THIRTY],
]) {
  const tree = parseExpression(text);
  const json = JSON.stringify(tree);
  parsing.push({
    name,
    length: text.length,
    parse: timeEach(() => parseExpression(text)),
    compile: timeEach(() => compileWhere(tree, schema, sqlite)),
    both: timeEach(() => compileWhere(parseExpression(text), schema, sqlite)),
    json: timeEach(() => JSON.parse(json)),
  });
}

// --- execution over ROWS rows ----------------------------------------------------------------------------

const db = new Database(':memory:');
registerSqliteFunctions(db);
db.exec(`
  CREATE TABLE transfers (
    id INTEGER PRIMARY KEY, code TEXT NOT NULL, code_folded TEXT NOT NULL, user TEXT NOT NULL,
    user_folded TEXT NOT NULL, destination TEXT NOT NULL, destination_folded TEXT NOT NULL,
    status TEXT NOT NULL, size REAL NOT NULL, created TEXT NOT NULL)`);
const STATUSES = ['done', 'failed', 'queued', 'aborted', 'paused'];
const DESTINATIONS = ['HQ', 'London', 'Stockholm', 'LA'];
const insert = db.prepare('INSERT INTO transfers VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)');
let random = 42;
const next = (n) => {
  random = (random * 1103515245 + 12345) % 2147483648;
  return random % n;
};
const loadStart = performance.now();
db.transaction(() => {
  for (let id = 1; id <= ROWS; id++) {
    const code = `Take ${next(1000)} ${['backup', 'dailies', 'Backup', 'render'][next(4)]}`;
    const user = `User${next(2000)}@Example.com`;
    const destination = DESTINATIONS[next(4)];
    const created = new Date(Date.UTC(2024, 0, 1) + next(365 * 86_400) * 1000).toISOString();
    insert.run(
      id,
      code,
      code.toLowerCase(),
      user,
      user.toLowerCase(),
      destination,
      destination.toLowerCase(),
      STATUSES[next(5)],
      next(100_000),
      created,
    );
  }
})();
db.exec(`
  CREATE INDEX transfers_code ON transfers (code_folded);
  CREATE INDEX transfers_user ON transfers (user_folded);
  CREATE INDEX transfers_status ON transfers (status);
  CREATE INDEX transfers_created ON transfers (created);
  CREATE INDEX transfers_code_fold ON transfers (accsyn_fold(code));
  ANALYZE;`);
const loadSeconds = (performance.now() - loadStart) / 1000;

/** Each compiled query beside the SQL a person would write for the same rows on the same table. */
const executions = [
  {
    name: 'the seed example (full scan)',
    query: SEED,
    hand: [
      `((user_folded = ? AND destination_folded = ?) OR status <> ?) AND code_folded LIKE ? ESCAPE '\\'`,
      ['lisa@example.com', 'hq', 'failed', '% backup'],
    ],
  },
  {
    name: 'indexed equality',
    query: 'user = USER77@example.com',
    hand: ['user_folded = ?', ['user77@example.com']],
  },
  {
    name: 'date range and number',
    query: 'created >= 2024-03-01 AND created < 2024-03-08 AND size > 50000',
    hand: [
      'created >= ? AND created < ? AND size > ?',
      ['2024-03-01T00:00:00.000Z', '2024-03-08T00:00:00.000Z', 50000],
    ],
  },
  {
    name: 'IN list and NOT IN',
    query: 'status IN (queued, paused) AND destination NOT IN (hq, la)',
    hand: ['status IN (?, ?) AND destination_folded NOT IN (?, ?)', ['queued', 'paused', 'hq', 'la']],
  },
  {
    name: '30 conditions (full scan)',
    query: THIRTY,
    hand: [
      Array.from(
        { length: 10 },
        () => '(user_folded = ? AND size > ? OR status IN (?, ?) AND instr(code_folded, ?) > 0)',
      ).join(' OR '),
      Array.from({ length: 10 }, (_, i) => [`user${i}@example.com`, i * 1000, 'done', 'queued', `take ${i}`]).flat(),
    ],
  },
];

function runTimed(statement, parameters, rounds) {
  const samples = [];
  let count = 0;
  for (let r = 0; r < rounds; r++) {
    const start = process.hrtime.bigint();
    count = statement.all(...parameters).length;
    samples.push(Number(process.hrtime.bigint() - start) / 1e6);
  }
  return { ms: median(samples), count };
}

const executed = [];
for (const { name, query, hand } of executions) {
  const compiled = render(compileWhere(query, schema, sqlite), sqlite);
  const ours = db.prepare(`SELECT id FROM transfers WHERE ${compiled.sql}`);
  const theirs = db.prepare(`SELECT id FROM transfers WHERE ${hand[0]}`);
  const rounds = 7;
  // Alternate the two so that neither profits from a warmer cache.
  runTimed(ours, compiled.parameters, 1);
  runTimed(theirs, hand[1], 1);
  const a = [];
  const b = [];
  for (let i = 0; i < 3; i++) {
    a.push(runTimed(ours, compiled.parameters, rounds));
    b.push(runTimed(theirs, hand[1], rounds));
  }
  const oursMs = median(a.map((x) => x.ms));
  const handMs = median(b.map((x) => x.ms));
  if (a[0].count !== b[0].count)
    throw new Error(`${name}: compiled found ${a[0].count} rows, hand-written ${b[0].count}`);
  executed.push({ name, rows: a[0].count, ours: oursMs, hand: handMs, sql: compiled.sql });
}

// What folding in SQL costs when an attribute has no folded column: a JavaScript function call per row.
const slow = render(compileWhere(SEED, unfolded, sqlite), sqlite);
const slowMs = runTimed(db.prepare(`SELECT id FROM transfers WHERE ${slow.sql}`), slow.parameters, 3).ms;
const seedHand = executed[0];

// --- report ----------------------------------------------------------------------------------------------

const us = (x) => `${x.toFixed(2)} µs`;
const ms = (x) => `${x.toFixed(1)} ms`;
const lines = [
  `Rows: ${ROWS.toLocaleString('en')} (loaded and indexed in ${loadSeconds.toFixed(1)} s); SQLite ${db.prepare('select sqlite_version() v').get().v}.`,
  '',
  '### Parse and compile (target: the seed example under 20 µs)',
  '',
  '| query | characters | parse | compile (SQLite) | parse + compile | baseline: JSON.parse of its tree |',
  '|---|---|---|---|---|---|',
  ...parsing.map(
    (p) => `| ${p.name} | ${p.length} | ${us(p.parse)} | ${us(p.compile)} | **${us(p.both)}** | ${us(p.json)} |`,
  ),
  '',
  '### Execution in SQLite, compiled against hand-written SQL (target: within 1.2x)',
  '',
  'Same table, same indexes, both prepared once with bound parameters; median of 3x7 alternating runs.',
  '',
  '| query | rows found | compiled | hand-written | ratio |',
  '|---|---|---|---|---|',
  ...executed.map(
    (e) =>
      `| ${e.name} | ${e.rows.toLocaleString('en')} | ${ms(e.ours)} | ${ms(e.hand)} | **${(e.ours / e.hand).toFixed(2)}x** |`,
  ),
  '',
  `Without folded columns, the seed example folds text in SQL through \`accsyn_fold\` (a JavaScript function per row): ${ms(slowMs)}, ${(slowMs / seedHand.hand).toFixed(1)}x the hand-written query on folded columns. Hot text attributes deserve a folded column.`,
];
writeResults('query', 'Query language (`bench/query/run.js`)', lines);
console.log(lines.join('\n'));
