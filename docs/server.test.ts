import { readFileSync } from 'node:fs';
import { MASTER_LOOKUP_PATH, queryStringOf } from 'accsyn-protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Method, send } from '../packages/server/test/support/raw.js';
import { startTestServer, type TestServer } from '../packages/server/test/support/server.js';
import { RawSession } from '../packages/server/test/support/session.js';

/**
 * Runs the `events` blocks of docs/server.md in order against one fresh server, so that the page shows what the
 * server answers. A block is pairs of lines: `<who> <METHOD> <uri> <data> [query="..."] [id=<id or $last>]`, then
 * `→ <result>` (an entity list is matched field by field, element by element) or `→ <status> "<message>"`.
 * `$last` is the id of the first entity the previous list answer held.
 */

const page = readFileSync(new URL('./server.md', import.meta.url), 'utf8');
const blocks = [...page.matchAll(/```events\n([\s\S]*?)```/g)].map(([, body]) => body as string);
const EVENT = /^(\w+) (GET|PUT|POST|DELETE) (\S+) (.+?)(?: query="((?:[^"\\]|\\.)*)")?(?: id=(\S+))?$/;

let test: TestServer;
let sessions: Record<string, RawSession>;
let last: string | undefined;

beforeAll(async () => {
  test = await startTestServer();
  sessions = { admin: new RawSession(test.url, test.admin) };
});
afterAll(() => test.stop());

/** One block of the page by its kind. */
function blockOf(kind: string): string[] {
  const match = new RegExp(`\`\`\`${kind}\n([\\s\\S]*?)\`\`\``).exec(page);
  if (!match) throw new Error(`docs/server.md has no ${kind} block`);
  return (match[1] as string).trim().split('\n');
}

describe('docs/server.md: rate limits', () => {
  it('shows the headers and the refusal a client gets', async () => {
    const limited = await startTestServer({}, ['--limit-api', '30:60']);
    try {
      const lookup = () =>
        send(limited.url, 'GET', `${MASTER_LOOKUP_PATH}?${queryStringOf('{"ident": "acme"}')}`, {
          localAddress: '127.0.0.77',
        });
      const first = await lookup();
      const [policy, remaining] = blockOf('ratelimit-headers');
      expect(`RateLimit-Policy: ${first.headers['ratelimit-policy']}`).toBe(policy);
      expect(`RateLimit: ${first.headers.ratelimit}`).toBe(remaining);
      // Well past the burst of 60: the bucket refills 30 a second while a loaded machine sends them.
      const replies = await Promise.all(Array.from({ length: 200 }, lookup));
      const refused = replies.find((reply) => reply.status === 429);
      const [status, body] = blockOf('ratelimit-refusal');
      expect(`HTTP ${refused?.status}, Retry-After: ${refused?.headers['retry-after']}`).toBe(status);
      expect(refused?.json).toEqual(JSON.parse(body as string));
    } finally {
      await limited.stop();
    }
  });
});

describe('docs/server.md', () => {
  it('has event examples', () => {
    expect(blocks.length).toBeGreaterThanOrEqual(3);
  });

  it.each(blocks.map((body, i) => [i + 1, body]))('events, block %i', async (_, body) => {
    const lines = body.split('\n').filter((line) => line.trim());
    for (let i = 0; i < lines.length; i += 2) {
      const call = EVENT.exec(lines[i] as string);
      const expected = lines[i + 1]?.replace(/^→ /, '');
      if (!call || expected === undefined) throw new Error(`not an example: ${lines[i]}`);
      const [, who = '', method, uri = '', data = '', query, id] = call;
      const session = sessions[who];
      if (!session) throw new Error(`no session '${who}'`);
      const extra = {
        ...(query !== undefined ? { query: JSON.parse(`"${query}"`) as string } : {}),
        ...(id !== undefined ? { id: id === '$last' ? (last as string) : id } : {}),
      };
      const reply = await session.call(method as Method, uri, JSON.parse(data), extra);
      const error = /^(\d{3}) (".*")$/.exec(expected);
      if (error) {
        expect({ status: reply.status, message: reply.json.message }, lines[i]).toEqual({
          status: Number(error[1]),
          message: JSON.parse(error[2] as string),
        });
        continue;
      }
      expect(reply.status, `${lines[i]}: ${reply.text}`).toBe(200);
      const result = reply.json.result;
      const wanted = JSON.parse(expected) as unknown;
      if (Array.isArray(wanted)) {
        expect(result, lines[i]).toHaveLength(wanted.length);
        wanted.forEach((entity, k) => {
          expect((result as unknown[])[k], lines[i]).toMatchObject(entity as object);
        });
        const first = (result as { id?: string }[])[0];
        if (first?.id) last = first.id;
      } else {
        expect(result, lines[i]).toEqual(wanted);
      }
    }
  });
});
