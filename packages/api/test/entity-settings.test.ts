import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AccsynError, PermissionError, Session, type SessionOptions } from '../src/index.js';
import { addUser, type Server, startServer } from './support.js';

/**
 * Settings through the client against the real server: the official client's test_settings.py (reference §4) as
 * it means to run (its keyword names do not exist in the 3.3.0 client), then inheritance, codes and refusals.
 */

let server: Server;
let admin: Session;
const sessions: Session[] = [];

function open(options: SessionOptions = {}): Session {
  const created = new Session({ ...server.admin, environment: false, ...options });
  sessions.push(created);
  return created;
}

const failure = (promise: Promise<unknown>) =>
  promise.then(
    (value) => expect.unreachable(`expected a failure, got ${JSON.stringify(value)}`),
    (error: unknown) => error as AccsynError,
  );

beforeAll(async () => {
  server = await startServer();
  admin = open();
});

afterAll(async () => {
  await Promise.all(sessions.map((session) => session.close()));
  await server.stop();
});

describe('test_settings.py, through our client', () => {
  let queue: string;

  it("finds the queue 'medium'", async () => {
    const queues = await admin.find("Queue WHERE name='medium'");
    expect(queues).toHaveLength(1);
    queue = queues[0]?.id as string;
  });

  it("sets compute_avoid on it, addressed as a job's", async () => {
    expect(await admin.setSetting('compute_avoid', 'disable', { entityType: 'job', entityId: queue })).toBe(true);
  });

  it('finds it among the settings, defaults included', async () => {
    const settings = await admin.getSettings({
      entityType: 'job',
      entityId: queue,
      upstream: false,
      omitDefaults: false,
    });
    expect(settings.compute_avoid).toBe('disable');
    // Defaults included: the settings of a job that are set nowhere are there too.
    expect(Object.keys(settings)).toEqual(expect.arrayContaining(['checksum', 'task_retries', 'verify_checksums']));
    expect(settings.task_retries).toBe(await admin.getSetting('task_retries'));
  });

  it('deletes it, and it is gone', async () => {
    expect(await admin.deleteSetting('compute_avoid', { entityType: 'job', entityId: queue })).toBe(true);
    const settings = await admin.getSettings({ entityType: 'job', entityId: queue, omitDefaults: false });
    expect(settings).not.toHaveProperty('compute_avoid');
  });
});

describe('settings', () => {
  it('reads a value set on the workspace, inherited by a queue named by its code, or else the default', async () => {
    expect(await admin.getSetting('task_retries')).toBe('3');
    expect(await admin.setSetting('task_retries', 5)).toBe(true);
    expect(await admin.getSetting('task_retries')).toBe('5');
    expect(await admin.getSetting('task_retries', { entityType: 'queue', entityId: 'medium' })).toBe('5');
    expect(await admin.getSettings({ entityType: 'queue', entityId: 'medium' })).toEqual({});
    expect(await admin.getSettings({ entityType: 'queue', entityId: 'medium', upstream: true })).toEqual({
      task_retries: '5',
    });
    expect(await admin.setSetting('verify_checksums', false, { entityType: 'queue', entityId: 'medium' })).toBe(true);
    expect(await admin.getSetting('verify_checksums', { entityType: 'queue', entityId: 'medium' })).toBe('false');
    expect(await admin.getSetting('compute_avoid', { entityType: 'queue', entityId: 'medium' })).toBeNull();
    expect(await admin.deleteSetting('task_retries')).toBe(true);
    expect(await admin.getSetting('task_retries')).toBe('3');
  });

  it('lists what is set below the workspace with recursive', async () => {
    const queue = await admin.findOne('Queue WHERE code=medium');
    const all = await admin.getSettings({ recursive: true });
    expect(all).toEqual({ [`job:${queue?.id}`]: { verify_checksums: 'false' } });
  });

  it("keeps a user's own settings, the caller's without an id", async () => {
    const lisa = open(addUser(server, 'lisa@example.com', 'standard'));
    expect(await lisa.setSetting('download_directory', '/Users/lisa/Downloads', { entityType: 'user' })).toBe(true);
    expect(await admin.getSetting('download_directory', { entityType: 'user', entityId: 'lisa@example.com' })).toBe(
      '/Users/lisa/Downloads',
    );
  });

  it("refuses a change the caller's role may not make as a PermissionError", async () => {
    const emma = open(addUser(server, 'emma@example.com', 'employee'));
    expect(await emma.getSetting('task_retries')).toBe('3');
    const error = await failure(emma.setSetting('task_retries', '1'));
    expect(error).toBeInstanceOf(PermissionError);
    expect({ status: error.status, message: error.message }).toEqual({
      status: 403,
      message: "Permission denied: only an admin may change the workspace's settings.",
    });
  });

  it("refuses an unknown setting or a bad value with the server's message", async () => {
    const unknown = await failure(admin.setSetting('task_retry', '2'));
    expect({ type: unknown.constructor, status: unknown.status, message: unknown.message }).toEqual({
      type: AccsynError,
      status: 400,
      message: "Unknown setting 'task_retry' of the workspace; did you mean task_retries?",
    });
    const bad = await failure(admin.setSetting('checksum', 'md5'));
    expect(bad.message).toBe('Setting checksum takes one of xxhash64, sha256 (as a string), not "md5".');
  });

  it('answers 404 for a holder that is not there, by id or by code', async () => {
    const byId = await failure(admin.getSettings({ entityType: 'transfer', entityId: '000000000000000000000000' }));
    expect({ status: byId.status, message: byId.message }).toEqual({
      status: 404,
      message: 'There is no transfer 000000000000000000000000, or you may not see it.',
    });
    const byCode = await failure(admin.getSetting('checksum', { entityType: 'queue', entityId: 'nowhere' }));
    expect({ status: byCode.status, message: byCode.message }).toEqual({
      status: 404,
      message: 'There is no queue nowhere, or you may not see it.',
    });
  });

  it('refuses a value that is no text, and a transfer named by anything but its id, before sending', async () => {
    const offline = open({ hostname: 'http://127.0.0.1:9', retry: false });
    expect((await failure(offline.setSetting('checksum', {} as unknown as string))).message).toBe(
      "A setting's value is text (or a number or true/false, sent as text), not object.",
    );
    expect((await failure(offline.getSetting('checksum', { entityType: 'transfer', entityId: 'x' }))).message).toBe(
      "A transfer is named by its id (24 lowercase letters and digits), not 'x'.",
    );
  });
});
