import { gunzipSync, gzipSync } from 'node:zlib';
import { LOGIN_PATH, MASTER_LOOKUP_PATH } from 'accsyn-protocol';
import fc from 'fast-check';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { authHeaders, type Credentials, login } from './support/raw.js';
import { startTestServer, type TestServer } from './support/server.js';
import { RawSession } from './support/session.js';
import { type SocketReply, type SocketRequest, socketRequest } from './support/socket.js';

/**
 * Whatever arrives on the wire, the server answers: in time, with 2xx or 4xx (never 5xx), a 4xx as JSON with a
 * string `message` and no stack trace or file path, and it keeps answering afterwards. The inputs are random and
 * mutated envelopes, bodies, gz_data, Authorization headers and master lookups, sent byte for byte over a socket,
 * with a valid session so that the fuzz reaches the handlers.
 */

const RUNS = process.env.CI ? 1_000 : 300;
const TIMEOUT_MS = 5_000;
const EVENT = '/api/v3/event';

let test: TestServer;
let admin: Credentials;
let session: string;
let headers: Record<string, string>;
/** A transfer of the workspace, for edits to reach a stored entity. */
let transferId: string;

beforeAll(async () => {
  test = await startTestServer();
  admin = test.admin;
  headers = authHeaders(admin);
  // A party for transfer/create to find, so that the fuzz gets past "no such user" into the handler.
  const raw = new RawSession(test.url, admin);
  await raw.result(raw.create('user', { code: 'lisa@example.com' }));
  const [transfer] = await raw.result<{ id: string }[]>(
    raw.create('transfer', { source: 'projects/x.mov', destination: 'lisa@example.com:/in/' }),
  );
  transferId = transfer?.id as string;
  const reply = await login(test.url, admin);
  session = (reply.json.result as { session_id: string }).session_id;
});
afterAll(() => test.stop());
afterEach(async () => {
  const health = await socketRequest(test.url, { method: 'GET', target: '/healthz', timeoutMs: TIMEOUT_MS });
  expect(health.status).toBe(200);
});

// ---------------------------------------------------------------------------------------------------------------
// What every answer must be

// A stack frame (`at f (/x/y.js:1:2)`, `at node:internal/...`) or a path of this machine (the repository's root).
const LEAKS = [
  /\bat (?:[\w$.<>[\] ]+ )?\(?(?:file:\/\/|node:|\/)[^\s)]*:\d+:\d+/,
  /node:internal/,
  /node_modules/,
  new RegExp(new URL('../../..', import.meta.url).pathname.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')),
];

/** A text for a report: long ones keep their head and tail; the envelope's fixed fields are left out. */
function shown(text: string | Buffer, max = 400): string {
  let s = text.toString();
  if (/^\/api\/v3\/event\?/.test(s)) {
    try {
      s = `${s.slice(0, s.indexOf('?') + 1)}(decoded) ${decodeURIComponent(s.slice(s.indexOf('?') + 1))}`;
    } catch {}
  }
  s = s
    .replace(/"audience": "api", "workspace": "acme", "eid": "[^"]*", "session": "[0-9a-f]+", /, '<login>, ')
    .replace(/"ident": "admin@acme\.test", "created": "[^"]*", "hostname": "fuzz", /, '');
  if (s.length <= max) return JSON.stringify(s);
  return `${JSON.stringify(s.slice(0, max / 2))}...${JSON.stringify(s.slice(-max / 2))} (${s.length} chars)`;
}

/** fast-check's report, with every input cut short: some are 100 000 characters of '['. */
function report<Ts>(details: fc.RunDetails<Ts>): void {
  if (!details.failed) return;
  const show = (value: unknown) => {
    if (typeof value === 'string' && value.startsWith('H4sI')) {
      try {
        return `gzip(${shown(gunzipSync(Buffer.from(value, 'base64')))})`;
      } catch {}
    }
    return shown(
      typeof value === 'string' || Buffer.isBuffer(value) ? value : (JSON.stringify(value) ?? String(value)),
    );
  };
  const input = Array.isArray(details.counterexample) ? details.counterexample.map(show).join(', ') : '';
  const error = details.errorInstance instanceof Error ? details.errorInstance.message : String(details.errorInstance);
  throw new Error(
    `Property failed after ${details.numRuns} runs (seed ${details.seed}, path "${details.counterexamplePath}")\n` +
      `Counterexample: [${input}]\n${error}`,
  );
}

const RUN = { numRuns: RUNS, reporter: report } as const;

/** Sends one request; tells what is wrong with the answer, if anything, naming the request and the answer. */
async function send(request: SocketRequest): Promise<{ reply?: SocketReply; problem?: string }> {
  const body = request.body === undefined ? '' : ` body ${shown(request.body)}`;
  const host = request.host === undefined ? '' : ` Host ${request.host === null ? '(none)' : shown(request.host)}`;
  const what = `${request.method} ${shown(request.target)}${host}${body}`;
  let reply: SocketReply;
  try {
    reply = await socketRequest(test.url, { timeoutMs: TIMEOUT_MS, ...request });
  } catch (error) {
    return { problem: `${what}\n  got no answer: ${(error as Error).message}` };
  }
  const answered = `${what}\n  answered ${reply.status} ${shown(reply.text, 1000)}`;
  const { status } = reply;
  if (!((status >= 200 && status < 300) || (status >= 400 && status < 500))) {
    return { reply, problem: `${answered}: not 2xx or 4xx` };
  }
  const leak = LEAKS.find((pattern) => pattern.test(reply.text));
  if (leak) return { reply, problem: `${answered}: shows ${leak}` };
  if (status >= 400) {
    let json: unknown;
    try {
      json = JSON.parse(reply.text);
    } catch {}
    if (typeof (json as { message?: unknown } | undefined)?.message !== 'string') {
      return { reply, problem: `${answered}: not JSON with a string message` };
    }
  }
  return { reply };
}

async function expectSound(request: SocketRequest): Promise<SocketReply> {
  const { reply, problem } = await send(request);
  if (problem || !reply) expect.fail(problem);
  return reply;
}

/** Sends every request, then fails listing every one that was answered wrong. */
async function expectAllSound(requests: Iterable<SocketRequest>): Promise<void> {
  const problems: string[] = [];
  for (const request of requests) {
    const { problem } = await send(request);
    if (problem) problems.push(problem);
  }
  if (problems.length > 0) expect.fail(`${problems.length} answered wrong:\n${problems.join('\n')}`);
}

const event = (method: 'GET' | 'DELETE', query: string | Buffer): SocketRequest => ({
  method,
  target: Buffer.concat([Buffer.from(`${EVENT}?`), Buffer.from(query)]),
  headers,
});

const bodyEvent = (method: 'PUT' | 'POST', body: string | Buffer): SocketRequest => ({
  method,
  target: EVENT,
  headers,
  body,
});

/** An envelope where its method carries it: the percent-encoded query string, or the body. */
const carried = (method: 'GET' | 'DELETE' | 'PUT' | 'POST', json: string): SocketRequest =>
  method === 'GET' || method === 'DELETE' ? event(method, quote(json)) : bodyEvent(method, json);

// ---------------------------------------------------------------------------------------------------------------
// Inputs

/** Percent-encodes every byte that Python's quote(safe='/') would, from the UTF-8 of `text`. */
function quote(text: string | Buffer): string {
  return [...Buffer.from(text)]
    .map((byte) =>
      /[A-Za-z0-9_.\-~/]/.test(String.fromCharCode(byte))
        ? String.fromCharCode(byte)
        : `%${byte.toString(16).toUpperCase().padStart(2, '0')}`,
    )
    .join('');
}

/** A JSON object as text, its values given as JSON texts (so that they may be anything, even invalid). */
function objectOf(fields: Record<string, string> | readonly (readonly [string, string])[]): string {
  const entries = Array.isArray(fields) ? fields : Object.entries(fields);
  return `{${entries.map(([key, value]) => `${JSON.stringify(key)}: ${value}`).join(', ')}}`;
}

/** The fields of an envelope as the official client writes them, as JSON texts. */
function validFields(uri: string, data = '{}', extra: Record<string, string> = {}): Record<string, string> {
  return {
    audience: '"api"',
    workspace: JSON.stringify(admin.workspace),
    eid: '"0cca5b5e-0000-4000-8000-000000000000"',
    session: JSON.stringify(session),
    uri: JSON.stringify(uri),
    ident: JSON.stringify(admin.user),
    created: '"2026-11-27T18:23:39"',
    hostname: '"fuzz"',
    data,
    ...extra,
  };
}

/** Entity types of the API, and some that are not. */
const TYPES = [
  'transfer',
  'task',
  'user',
  'queue',
  'delivery',
  'request',
  'folder',
  'volume',
  'home',
  'collection',
  'site',
  'acl',
  'workspace',
  'client',
  'server',
  'share',
  'nosuch',
];

const ENVELOPE_FIELDS = [
  'audience',
  'workspace',
  'eid',
  'session',
  'uri',
  'ident',
  'created',
  'hostname',
  'data',
  'gz_data',
  'query',
  'id',
];

const URIS = [
  'transfer/find',
  'transfer/create',
  'transfer/edit',
  'transfer/delete',
  'Transfer/find',
  'task/find',
  'task/create',
  'user/find',
  'user/create',
  'queue/find',
  'entitytypes',
  'attributes',
  'job/find',
  'x/find',
  '/find',
  'transfer/',
  'transfer',
];

const WEIRD_NUMBERS = [
  '1e400',
  '-1e400',
  '1e-400',
  '-0',
  '0',
  '-1',
  '1.5',
  '2147483648',
  '9007199254740993',
  '1e20',
  '1e300',
  '18446744073709551616',
  '123456789012345678901234567890123456789012345678901234567890',
];

const WEIRD_STRINGS = [
  '""',
  '" "',
  '"\\u0000"',
  '"\\ud800"',
  '"\\udfff\\ud800"',
  '"null"',
  '"../../../etc/passwd"',
  '"%s%n%x"',
  '"\' OR 1=1 --"',
  '"2026-11-27T18:23:39"',
  '"000000000000000000000000"',
];

/** Transfer ends, some good, most not: paths, parties, shares, a user's machine, nonsense. */
const ENDS = [
  '"projects/x.mov"',
  '"lisa@example.com:/in/"',
  '"lisa@example.com"',
  '"nobody@example.com:/in/"',
  '"default"',
  '"default:/x.mov"',
  '"volume=default/x.mov"',
  '"share=default/a"',
  '"folder=missing/x"',
  '"hq:/tmp/x"',
  '"user:lisa@example.com:/in"',
  '"workspace:000000000000000000000000"',
  '"acme:/x"',
  '"C:\\\\media\\\\x"',
  '"/absolute/x"',
  '":"',
  '"=x"',
];

/** Nested arrays or objects `depth` deep, closed or left open. */
const nested = fc
  .record({
    depth: fc.constantFrom(10, 1_000, 100_000),
    kind: fc.constantFrom('[', '{"a":'),
    closed: fc.boolean(),
  })
  .map(({ depth, kind, closed }) =>
    kind === '['
      ? `${'['.repeat(depth)}${closed ? ']'.repeat(depth) : ''}`
      : `${'{"a":'.repeat(depth)}1${closed ? '}'.repeat(depth) : ''}`,
  );

/** A JSON text of any kind, sometimes one that JSON.stringify cannot write (1e400) or that nests very deep. */
const jsonText: fc.Arbitrary<string> = fc.oneof(
  { weight: 8, arbitrary: fc.json({ maxDepth: 3 }) },
  { weight: 3, arbitrary: fc.constantFrom(...WEIRD_NUMBERS) },
  { weight: 3, arbitrary: fc.constantFrom(...WEIRD_STRINGS, ...ENDS) },
  { weight: 1, arbitrary: fc.constantFrom('true', 'false', 'null', '[]', '{}', '[null]', '{"": null}') },
  { weight: 1, arbitrary: nested },
);

/** Mostly what `fitting` makes, sometimes any JSON at all. */
const orAnything = (fitting: fc.Arbitrary<string>) =>
  fc.oneof({ weight: 3, arbitrary: fitting }, { weight: 1, arbitrary: jsonText });

const text = fc.string({ maxLength: 20 }).map((s) => JSON.stringify(s));
const bool = fc.boolean().map(String);
const id = fc.oneof(
  fc.stringMatching(/^[0-9a-f]{24}$/),
  fc.constantFrom('"000000000000000000000000"', '"ZZZZZZZZZZZZZZZZZZZZZZZZ"'),
);
const idText = id.map((s) => (s.startsWith('"') ? s : JSON.stringify(s)));

/**
 * A JSON object text whose keys come from `values` (each with its own, mostly fitting, values), now and then with a
 * key that is not there at all.
 */
function objectText(values: Record<string, fc.Arbitrary<string>>): fc.Arbitrary<string> {
  const known = fc
    .constantFrom(...Object.keys(values))
    .chain((key) => orAnything(values[key] as fc.Arbitrary<string>).map((value) => [key, value] as const));
  const unknown = fc.tuple(fc.string({ maxLength: 10 }), jsonText);
  return fc
    .array(fc.oneof({ weight: 12, arbitrary: known }, { weight: 1, arbitrary: unknown }), { maxLength: 6 })
    .map(objectOf);
}

const TRANSFER_DATA: Record<string, fc.Arbitrary<string>> = {
  source: fc.constantFrom(...ENDS),
  destination: fc.constantFrom(...ENDS),
  tasks: fc
    .array(
      fc.oneof(
        fc.constantFrom(...ENDS),
        fc
          .record({ source: fc.constantFrom(...ENDS), destination: fc.constantFrom(...ENDS) }, { requiredKeys: [] })
          .map(objectOf),
      ),
      { maxLength: 4 },
    )
    .map((tasks) => `[${tasks.join(', ')}]`),
  name: text,
  description: text,
  code: text,
  metadata: fc.json({ maxDepth: 2 }),
  status: fc.constantFrom('"waiting"', '"paused"', '"done"', '"aborted"', '"running"', '"init"', '"PAUSED"'),
  queue: fc.constantFrom('"medium"', '"high"', '"nosuch"'),
  priority: fc.oneof(fc.integer({ min: -10, max: 2000 }).map(String), fc.constantFrom(...WEIRD_NUMBERS)),
  parent: idText,
  settings: fc.json({ maxDepth: 2 }),
  hooks: fc.json({ maxDepth: 2 }),
  append: bool,
  allow_duplicates: bool,
  mirror_paths: bool,
  progress: fc.integer().map(String),
  id: idText,
};

const FIND_DATA: Record<string, fc.Arbitrary<string>> = {
  finished: bool,
  inactive: bool,
  archived: bool,
  single_entity_query: bool,
  limit: fc.oneof(fc.nat({ max: 100 }).map(String), fc.constantFrom(...WEIRD_NUMBERS)),
  skip: fc.oneof(fc.nat({ max: 100 }).map(String), fc.constantFrom(...WEIRD_NUMBERS)),
  parent: idText,
  attributes: fc
    .array(fc.constantFrom('id', 'name', 'status', 'source', 'user_hr', 'code', 'ID ', 'nosuch', ''), { maxLength: 4 })
    .map((names) => JSON.stringify(names)),
};

/** Queries as people write them, and as they mistype them (docs/query-language.md). */
const ATTRIBUTES = [
  'status',
  'id',
  'user',
  'user.code',
  'job.id',
  'source',
  'destination',
  'queue.name',
  'metadata.x',
  'created',
  'modified',
  'finished',
  'priority',
  'size',
  'name',
  'code',
  'parent',
  'nosuch',
  'a.b.c.d',
];
const OPERATORS = ['=', '!=', '<>', '<', '>', '<=', '>=', 'in', 'not in', 'contains', 'not contains', 'matches'];
const VALUES = [
  'paused',
  'done',
  'lisa@example.com',
  'admin@acme.test',
  'hq',
  'medium',
  '*',
  'x*y',
  'null',
  '0',
  '-1.5e3',
  '1e400',
  '2026-01-01',
  '2026-13-45T99:99',
  '"(a+)+$"',
  '"["',
  '"\\\\"',
  '"a{99999}"',
  '"(?<x>a)\\\\k<x>"',
  '"\\\\p{L}+"',
  '(paused, done)',
  'paused,done',
  '()',
  "'it\\'s'",
  '000000000000000000000000',
];
const comparison = fc
  .tuple(fc.constantFrom(...ATTRIBUTES), fc.constantFrom(...OPERATORS), fc.oneof(fc.constantFrom(...VALUES), text))
  .map((parts) => parts.join(' '));
const { expression } = fc.letrec<{ expression: string }>((tie) => ({
  expression: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    comparison,
    tie('expression').map((e) => `NOT ${e}`),
    tie('expression').map((e) => `(${e})`),
    fc.tuple(tie('expression'), fc.constantFrom('AND', 'OR', 'and', 'or'), tie('expression')).map((p) => p.join(' ')),
  ),
}));

/** Edits of a text: cut it short, drop or replace a stretch, or slip in a fragment such as a broken escape. */
const FRAGMENTS = [
  '%',
  '%%',
  '%zz',
  '%4',
  '%C3%28',
  '%FF',
  '%C0%AF',
  '%ED%A0%80',
  '%E2%82',
  '%F4%90%80%80',
  '%00',
  '%22',
  '%7B',
  '%5B',
  '%5C',
  '+',
  '&',
  '=',
  '#',
  '?',
  '"',
  '\\',
  '{',
  '}',
  '[',
  ']',
  ',',
  ':',
  '1e400',
  'null',
];

type Edit = { kind: 'cut' | 'drop' | 'insert' | 'replace'; at: number; length: number; fragment: string };

const edit: fc.Arbitrary<Edit> = fc.record({
  kind: fc.constantFrom('cut', 'drop', 'insert', 'replace'),
  at: fc.nat(),
  length: fc.nat({ max: 8 }),
  fragment: fc.oneof(fc.constantFrom(...FRAGMENTS), fc.string({ maxLength: 4 })),
});
const edits = fc.array(edit, { minLength: 1, maxLength: 4 });

function applyEdits(text: string, edits: readonly Edit[]): string {
  let out = text;
  for (const { kind, at: position, length, fragment } of edits) {
    const at = out.length === 0 ? 0 : position % (out.length + 1);
    if (kind === 'cut') out = out.slice(0, at);
    else if (kind === 'drop') out = out.slice(0, at) + out.slice(at + length);
    else if (kind === 'insert') out = out.slice(0, at) + fragment + out.slice(at);
    else out = out.slice(0, at) + fragment + out.slice(at + fragment.length);
  }
  return out;
}

const getOrDelete = fc.constantFrom('GET' as const, 'DELETE' as const);
const putOrPost = fc.constantFrom('PUT' as const, 'POST' as const);
const anyMethod = fc.constantFrom('GET' as const, 'DELETE' as const, 'PUT' as const, 'POST' as const);

// ---------------------------------------------------------------------------------------------------------------
// The event route, GET and DELETE: the envelope is the raw query string

describe('GET and DELETE events', () => {
  it('answers random bytes as the query string, percent-encoded or raw', async () => {
    // Raw bytes go out as they are, but for CR and LF, which would end the request line and leave a request the
    // server rightly waits on.
    const raw = fc
      .uint8Array({ maxLength: 300 })
      .map((bytes) => Buffer.from(bytes.filter((b) => b !== 10 && b !== 13)));
    await fc.assert(
      fc.asyncProperty(getOrDelete, fc.oneof(raw.map(quote), raw), async (method, query) => {
        await expectSound(event(method, query));
      }),
      RUN,
    );
  });

  it('answers valid envelopes truncated and mutated, before or after percent-encoding', async () => {
    const envelope = fc
      .tuple(fc.constantFrom(...URIS), objectText({ ...TRANSFER_DATA, ...FIND_DATA }))
      .map(([uri, data]) => objectOf(validFields(uri, data)));
    await fc.assert(
      fc.asyncProperty(getOrDelete, envelope, edits, fc.boolean(), async (method, json, changes, encodedFirst) => {
        const query = encodedFirst ? applyEdits(quote(json), changes) : quote(applyEdits(json, changes));
        await expectSound(event(method, query));
      }),
      RUN,
    );
  });

  it('answers invalid UTF-8 escapes, huge numbers and deep nesting', async () => {
    const bad = ['%C3%28', '%FF', '%C0%AF', '%ED%A0%80', '%E2%82', '%F4%90%80%80', '%80'];
    const find = (data: string, extra: Record<string, string> = {}) =>
      quote(objectOf(validFields('transfer/find', data, extra)));
    const cases: string[] = [
      ...bad,
      ...bad.map((broken) => find('{}').replace('%22api%22', broken)),
      ...bad.map((broken) => `${quote('{"uri": "transfer/find", "data": {"x": "')}${broken}${quote('"}}')}`),
      ...WEIRD_NUMBERS.flatMap((n) => [
        quote(n),
        find('{}', { id: n }),
        find(`{"limit": ${n}}`),
        find(`{"skip": ${n}}`),
        find(`{"attributes": [${n}]}`),
      ]),
      quote('['.repeat(100_000)),
      quote(`${'['.repeat(100_000)}${']'.repeat(100_000)}`),
      '%5B'.repeat(100_000),
      find(`${'['.repeat(50_000)}${']'.repeat(50_000)}`),
      find(`{"attributes": ${'['.repeat(50_000)}${']'.repeat(50_000)}}`),
      quote(objectOf(validFields('attributes', `{"entitytype": ${'{"a":'.repeat(20_000)}1${'}'.repeat(20_000)}}`))),
    ];
    await expectAllSound((['GET', 'DELETE'] as const).flatMap((method) => cases.map((query) => event(method, query))));
  });
});

// ---------------------------------------------------------------------------------------------------------------
// The event route, PUT and POST: the envelope is the body

describe('PUT and POST events', () => {
  it('answers random JSON and random text as the body', async () => {
    const body = fc.oneof(
      fc.json({ maxDepth: 4 }),
      jsonText,
      fc.string({ maxLength: 200 }),
      fc.string({ unit: 'binary', maxLength: 200 }),
      fc.uint8Array({ maxLength: 200 }).map((bytes) => Buffer.from(bytes)),
    );
    await fc.assert(
      fc.asyncProperty(putOrPost, body, async (method, text) => {
        await expectSound(bodyEvent(method, text));
      }),
      RUN,
    );
  });

  it('answers an envelope with any field missing or of a wrong type', async () => {
    const envelope = fc
      .record({
        uri: fc.constantFrom(...URIS),
        field: fc.constantFrom(...ENVELOPE_FIELDS),
        value: jsonText,
        drop: fc.boolean(),
      })
      .map(({ uri, field, value, drop }) => {
        const fields = validFields(uri);
        if (drop) delete fields[field];
        else fields[field] = value;
        return objectOf(fields);
      });
    await fc.assert(
      fc.asyncProperty(anyMethod, envelope, async (method, json) => {
        await expectSound(carried(method, json));
      }),
      RUN,
    );
  });

  it('answers transfer/create with data of any shape', async () => {
    const data = fc.oneof(
      { weight: 6, arbitrary: objectText(TRANSFER_DATA) },
      {
        // A transfer that would do, with one or two attributes changed.
        weight: 3,
        arbitrary: fc
          .tuple(objectText(TRANSFER_DATA), fc.constantFrom(...ENDS), fc.constantFrom(...ENDS))
          .map(([rest, source, destination]) =>
            `{"source": ${source}, "destination": ${destination}, ${rest.slice(1)}`.replace(', }', '}'),
          ),
      },
      { weight: 1, arbitrary: jsonText },
    );
    const uri = fc.constantFrom(
      'transfer/create',
      'transfer/create',
      'transfer/create',
      'job/create',
      'Transfer/Create',
    );
    await fc.assert(
      fc.asyncProperty(uri, data, async (u, d) => {
        await expectSound(bodyEvent('POST', objectOf(validFields(u, d))));
      }),
      RUN,
    );
  });
});

describe('edit', () => {
  it('answers transfer/edit and task/edit of a stored transfer, or of any id, with data of any shape', async () => {
    const target = fc.oneof({ weight: 3, arbitrary: fc.constant(JSON.stringify(transferId)) }, idText, jsonText);
    const taskEdit = objectText({
      ...TRANSFER_DATA,
      uri: fc.constantFrom('"0"', '"1"', '"x"'),
      status: fc.constantFrom('"queued"', '"onhold"', '"failed"', '"done"', '"excluded"', '"executing"', '"nosuch"'),
    });
    const taskEdits = fc.array(taskEdit, { maxLength: 3 }).map((items) => `[${items.join(', ')}]`);
    const operation = fc.oneof(
      fc.tuple(fc.constant('transfer/edit'), objectText(TRANSFER_DATA)),
      fc.tuple(fc.constant('task/edit'), fc.oneof(taskEdits, objectText(TRANSFER_DATA))),
    );
    await fc.assert(
      fc.asyncProperty(operation, target, async ([uri, data], id) => {
        await expectSound(bodyEvent('PUT', objectOf(validFields(uri, data, { id }))));
      }),
      RUN,
    );
  });
});

describe('find', () => {
  it('answers <type>/find with any query, any data fields and any id', async () => {
    const query = fc.oneof(
      { weight: 6, arbitrary: expression },
      { weight: 2, arbitrary: fc.tuple(expression, edits).map(([q, e]) => applyEdits(q, e)) },
      { weight: 1, arbitrary: fc.constantFrom('Transfer WHERE status=paused', 'transfer where', '') },
      { weight: 1, arbitrary: fc.string({ maxLength: 60 }) },
      { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 60 }) },
    );
    const fields = fc.record({
      type: fc.oneof(
        { weight: 3, arbitrary: fc.constantFrom('transfer', 'Transfer', 'job') },
        { weight: 2, arbitrary: fc.constantFrom(...TYPES) },
      ),
      query: fc.option(query, { nil: undefined }),
      data: fc.oneof({ weight: 6, arbitrary: objectText(FIND_DATA) }, { weight: 1, arbitrary: jsonText }),
      id: fc.option(fc.oneof(id, fc.string({ maxLength: 30 })), { nil: undefined, freq: 4 }),
    });
    await fc.assert(
      fc.asyncProperty(fields, async ({ type, query, data, id }) => {
        const extra: Record<string, string> = {};
        if (query !== undefined) extra.query = JSON.stringify(query);
        if (id !== undefined) extra.id = id.startsWith('"') ? id : JSON.stringify(id);
        await expectSound(event('GET', quote(objectOf(validFields(`${type}/find`, data, extra)))));
      }),
      RUN,
    );
  });
});

// ---------------------------------------------------------------------------------------------------------------
// gz_data

const gzip = (text: string | Buffer) => gzipSync(Buffer.from(text)).toString('base64');

/** An envelope carrying `gz` as its gz_data, and no data. */
function gzEnvelope(uri: string, gz: string): string {
  const fields: Record<string, string> = { ...validFields(uri), gz_data: JSON.stringify(gz) };
  delete fields.data;
  return objectOf(fields);
}

describe('gz_data', () => {
  it('answers bad base64, bad gzip, and gzip of anything', async () => {
    const gzData = fc.oneof(
      fc.string({ maxLength: 80 }),
      fc.uint8Array({ maxLength: 80 }).map((bytes) => Buffer.from(bytes).toString('base64')),
      fc.oneof(jsonText, objectText(TRANSFER_DATA), objectText(FIND_DATA)).map(gzip),
      fc.string({ unit: 'binary', maxLength: 80 }).map(gzip),
      fc.tuple(jsonText.map(gzip), edits).map(([b64, e]) => applyEdits(b64, e)),
      fc.tuple(jsonText, fc.nat()).map(([json, n]) => {
        const zipped = gzipSync(Buffer.from(json));
        return zipped.subarray(0, n % (zipped.length + 1)).toString('base64');
      }),
    );
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...URIS), anyMethod, gzData, async (uri, method, gz) => {
        await expectSound(carried(method, gzEnvelope(uri, gz)));
      }),
      RUN,
    );
  });

  it('refuses a gzip bomb (100 MB of zeros) and JSON that inflates past the limit with 413', async () => {
    for (const gz of [gzip(Buffer.alloc(100 * 1024 * 1024)), gzip(`{"source": "${'a'.repeat(40 * 1024 * 1024)}"}`)]) {
      const json = gzEnvelope('transfer/create', gz);
      expect((await expectSound(bodyEvent('POST', json))).status).toBe(413);
      // As a GET the envelope rides in the request line, which may be too long for it: 431 then, or 413.
      expect([413, 431, 414]).toContain((await expectSound(event('GET', quote(json)))).status);
    }
  });

  it('answers gz_data that inflates to 20 MB of blanks around a good transfer', async () => {
    const padded = `{"source": "projects/big.mov", "destination": "lisa@example.com:/in/"${' '.repeat(20 << 20)}}`;
    const reply = await expectSound(bodyEvent('POST', gzEnvelope('transfer/create', gzip(padded))));
    expect(reply.status, reply.text).toBe(200);
  });
});

// ---------------------------------------------------------------------------------------------------------------
// Login and master lookup

describe('login', () => {
  it('answers any Authorization and workspace headers', async () => {
    const b64 = (s: string) => Buffer.from(s).toString('base64');
    const part = fc.oneof(
      fc.string({ maxLength: 40 }).map(b64),
      fc.string({ maxLength: 40 }),
      fc.constantFrom(b64(admin.user), b64(admin.key), '', '=', '====', 'AA==', '/w==', '7aCA', '////'),
    );
    const authorization = fc.oneof(
      fc
        .tuple(fc.constantFrom('basic', 'Basic', 'BASIC', 'bearer', '', 'basic '), part, part)
        .map(([scheme, user, key]) => `${scheme} ${user}:${key}`),
      fc.string({ maxLength: 100 }),
      fc.string({ unit: 'binary', maxLength: 100 }),
      edits.map((e) => applyEdits(headers.Authorization as string, e)),
    );
    // Header values go out as they are: keep out CR and LF, which would end the header.
    const line = (s: string) => s.replace(/[\r\n]/g, '');
    const workspace = fc.oneof(fc.constantFrom('acme', 'ACME', 'nosuch', ''), fc.string({ maxLength: 30 }));
    const body = fc.oneof(fc.constant('{}'), jsonText, fc.string({ maxLength: 40 }));
    await fc.assert(
      fc.asyncProperty(
        fc.option(authorization, { nil: undefined }),
        fc.option(workspace, { nil: undefined }),
        fc.constantFrom(LOGIN_PATH, '/api/v3/api/auth'),
        body,
        async (auth, ws, path, text) => {
          const sent: Record<string, string> = {};
          if (auth !== undefined) sent.Authorization = line(auth);
          if (ws !== undefined) sent['X-Accsyn-Workspace'] = line(ws);
          await expectSound({ method: 'PUT', target: path, headers: sent, body: text });
        },
      ),
      RUN,
    );
  });
});

describe('master lookup', () => {
  it('answers any query and any Host header', async () => {
    const ident = fc.oneof(
      fc.constantFrom('"acme"', '"ACME"', '"nosuch"', '""'),
      jsonText,
      fc.string({ maxLength: 30 }).map((s) => JSON.stringify(s)),
    );
    const query = fc.oneof(
      ident.map((i) => quote(`{"ident": ${i}}`)),
      fc.tuple(ident, edits).map(([i, e]) => applyEdits(quote(`{"ident": ${i}}`), e)),
      fc.string({ maxLength: 60 }).map(quote),
    );
    const host = fc.option(
      fc.oneof(
        fc.constantFrom(
          '',
          'localhost',
          'localhost:99999',
          '[::1]:80',
          '[::1',
          ':',
          'a:b:c',
          'acme.example.com:443',
          ' ',
        ),
        fc.string({ maxLength: 40 }).map((s) => s.replace(/[\r\n]/g, '')),
      ),
      { nil: null },
    );
    await fc.assert(
      fc.asyncProperty(fc.option(query, { nil: undefined }), host, async (q, h) => {
        const target = q === undefined ? MASTER_LOOKUP_PATH : `${MASTER_LOOKUP_PATH}?${q}`;
        await expectSound({ method: 'GET', target, host: h });
      }),
      RUN,
    );
  });
});

// ---------------------------------------------------------------------------------------------------------------
// What the fuzz found, one input each, so that each reads on its own

describe('found by the fuzz', () => {
  it('refuses a find limit or skip of 2^63 or more with 400, not a SQLite "datatype mismatch" 500', async () => {
    const numbers = ['9223372036854775807', '1e20', '18446744073709551616', '1e300'];
    await expectAllSound(
      numbers.flatMap((n) =>
        ['limit', 'skip'].map((key) => event('GET', quote(objectOf(validFields('transfer/find', `{"${key}": ${n}}`))))),
      ),
    );
  });

  it('refuses an attribute value nested 10 000 deep with 400, not a stack overflow 500', async () => {
    const deep = `${'['.repeat(10_000)}${']'.repeat(10_000)}`;
    const requests: SocketRequest[] = [];
    for (const [uri, data] of [
      ['transfer/create', `{"name": ${deep}}`],
      ['transfer/create', `{"source": ${deep}}`],
      ['transfer/create', `{"metadata": ${deep}}`],
      ['transfer/create', `{"source": "projects/x.mov", "destination": "lisa@example.com:/in/", "settings": ${deep}}`],
      ['user/create', `{"code": ${deep}}`],
    ] as const) {
      requests.push(bodyEvent('POST', objectOf(validFields(uri, data))));
    }
    await expectAllSound(requests);
  });

  it('refuses find parent on a type that has no parent with 400, not a "no such column: e.parent" 500', async () => {
    await expectAllSound(
      ['user', 'site', 'acl', 'workspace'].map((type) =>
        event('GET', quote(objectOf(validFields(`${type}/find`, '{"parent": "000000000000000000000000"}')))),
      ),
    );
  });

  it('refuses null for status, name or code with 400, not a "NOT NULL constraint failed" 500', async () => {
    const good = '"source": "projects/x.mov", "destination": "lisa@example.com:/in/"';
    const id = { id: JSON.stringify(transferId) };
    await expectAllSound([
      bodyEvent('POST', objectOf(validFields('transfer/create', `{${good}, "status": null}`))),
      bodyEvent('POST', objectOf(validFields('user/create', '{"code": "nulled@example.com", "status": null}'))),
      bodyEvent('POST', objectOf(validFields('queue/create', '{"name": "nulled", "status": null}'))),
      bodyEvent('PUT', objectOf(validFields('transfer/edit', '{"status": null}', id))),
      bodyEvent('PUT', objectOf(validFields('transfer/edit', '{"name": null}', id))),
      bodyEvent('PUT', objectOf(validFields('transfer/edit', '{"code": null}', id))),
      bodyEvent('PUT', objectOf(validFields('task/edit', '[{"uri": "0", "status": null}]', id))),
    ]);
  });

  it('answers a request without a Host header with a JSON 400', async () => {
    await expectSound({ method: 'GET', target: `${MASTER_LOOKUP_PATH}?${quote('{"ident": "acme"}')}`, host: null });
  });
});
