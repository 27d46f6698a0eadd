import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AccsynError, RateLimitError, Session, type Transfer } from '../src/index.js';
import { type Server, startServer } from './support.js';

/** The examples of the page our users read ("Using the API"), one by one, in TypeScript, against the real server. */

let server: Server;
let session: Session;

beforeAll(async () => {
  server = await startServer();
  // The page's constructor: workspace, user name and key.
  session = new Session({
    workspace: server.admin.workspace,
    username: server.admin.username,
    apiKey: server.admin.apiKey,
    hostname: server.url,
    environment: false,
  });
  await session.create('User', { code: 'lisa@example.com' });
  for (const name of ['weekly backup', 'nightly backup', 'backup 2024.zip', 'my_transfer', 'plates']) {
    await session.create('Transfer', { source: `renders/${name}`, destination: 'lisa@example.com:/in/', name });
  }
  for (let i = 0; i < 160; i++) await session.create('Transfer', { source: `bulk/${i}.exr`, destination: 'out/' });
});
afterAll(async () => {
  await session.close();
  await server.stop();
});

const names = (transfers: readonly Transfer[]) => transfers.map((t) => t.name).sort();

describe('the page, one example at a time', () => {
  it('prints your user profile', async () => {
    expect(await session.findOne('User')).toMatchObject({ code: 'admin@acme.test', role: 'admin' });
  });

  it('finds all entities of a type, and one by id', async () => {
    const transfers = await session.find('Transfer');
    expect(transfers).toHaveLength(165);
    const job = await session.findOne(`Transfer WHERE id=${transfers[3]?.id}`);
    expect(job?.name).toBe('my_transfer');
  });

  it('finds transfers from the workspace by its code', async () => {
    expect(await session.find('Transfer WHERE source=acme')).toHaveLength(165);
  });

  it('nests AND and OR, with a wildcard', async () => {
    const found = await session.find(
      'transfer WHERE ((user=admin@acme.test AND destination=lisa@example.com) OR status<>failed) AND code="* backup"',
    );
    expect(names(found)).toEqual(['nightly backup', 'weekly backup']);
  });

  it('matches by substring and by regular expression', async () => {
    expect(names(await session.find('Transfer WHERE name CONTAINS "backup"'))).toEqual([
      'backup 2024.zip',
      'nightly backup',
      'weekly backup',
    ]);
    expect(names(await session.find('Transfer WHERE name matches "backup.*\\.zip"'))).toEqual(['backup 2024.zip']);
  });

  it('answers only the attributes asked for', async () => {
    const [first] = await session.find('Transfer', { limit: 1 });
    const found = await session.findOne(`Transfer WHERE id=${first?.id}`, { attributes: ['source', 'destination'] });
    expect(Object.keys(found ?? {}).sort()).toEqual(['destination', 'id', 'source']);
  });

  it('pages with skip and limit', async () => {
    const all = await session.find('Transfer');
    const page = await session.find('Transfer', { skip: 100, limit: 50 });
    expect(page.map((t) => t.id)).toEqual(all.slice(100, 150).map((t) => t.id));
  });

  it('creates, updates and deletes', async () => {
    const transfer = await session.findOne('Transfer WHERE name="my_transfer"');
    expect(transfer).not.toBeNull();
    const aborted = await session.update('Transfer', transfer?.id as string, { status: 'aborted' });
    expect(aborted.status).toBe('aborted');
    expect(await session.deleteOne('Transfer', transfer?.id as string)).toBe(true);
    expect(await session.findOne('Transfer WHERE name="my_transfer"')).toBeNull();
  });

  it('keeps the message of the last failed call', async () => {
    await expect(session.update('Transfer', '000000000000000000000000', { status: 'paused' })).rejects.toThrow(
      AccsynError,
    );
    expect(session.getLastMessage()).toBe('There is no transfer 000000000000000000000000, or you may not see it.');
  });
});

describe("the page's advice on rate limits, which the client follows by itself", () => {
  let limited: Server;
  beforeAll(async () => {
    // Two logins in a window of three seconds, then 429 until the first leaves it.
    limited = await startServer({ ACCSYN_THROTTLE: '2:3:0' });
  });
  afterAll(() => limited.stop());

  it('backs off from the authentication throttle and logs in once it lets it', async () => {
    const open = (retry?: false) =>
      new Session({
        workspace: limited.admin.workspace,
        username: limited.admin.username,
        apiKey: limited.admin.apiKey,
        hostname: limited.url,
        environment: false,
        ...(retry === false ? { retry } : {}),
      });
    const sessions = [open(), open(), open(false), open()];
    await sessions[0]?.login();
    await sessions[1]?.login();
    const refused = await sessions[2]?.login().catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(RateLimitError);
    expect((refused as RateLimitError).retryAfter).toBeGreaterThanOrEqual(1);
    // This one waits out Retry-After, then gets in.
    expect((await sessions[3]?.login())?.role).toBe('admin');
    await Promise.all(sessions.map((s) => s?.close()));
  });
});
