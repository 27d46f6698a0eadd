import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Method } from '../packages/server/test/support/raw.js';
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
