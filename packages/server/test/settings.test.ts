import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readConfig, startServer } from '../src/index.js';
import { SETTINGS } from '../src/settings/registry.js';
import type { Reply } from './support/raw.js';
import { startTestServer, type TestServer } from './support/server.js';
import { addUser, RawSession } from './support/session.js';

/**
 * The `setting` event (reference §2.3 get_setting, get_settings, set_setting, delete_setting; §4 test_settings.py),
 * sent as the official client sends it: GET, PUT and DELETE with `data.entitytype` and the holder's id in `id`.
 */

type Entity = Record<string, unknown>;

let test: TestServer;
let admin: RawSession;
let employee: RawSession;
let standard: RawSession;
/** The admin of another workspace on the same server. */
let stranger: RawSession;
let ids: {
  medium: string;
  high: string;
  volume: string;
  folder: string;
  /** A transfer in the queue medium, between the admin and the standard user. */
  shared: string;
  /** A transfer between the admin and no one else. */
  private: string;
  admin: string;
  employee: string;
  standard: string;
};

/** get_setting(name, entitytype, entityid): what the official client sends. */
const getSetting = (session: RawSession, entitytype: string, name: string, id?: string) =>
  session.call('GET', 'setting', { entitytype, name, data: null }, id ? { id } : {});

/** get_settings(entitytype, entityid, recursive, upstream, omit_defaults). */
const getSettings = (
  session: RawSession,
  entitytype: string | null,
  id: string | undefined,
  flags: { recursive?: boolean; upstream?: boolean; omit_defaults?: boolean } = {},
) =>
  session.call(
    'GET',
    'setting',
    { entitytype, recursive: false, upstream: false, omit_defaults: true, ...flags },
    id ? { id } : {},
  );

const setSetting = (session: RawSession, entitytype: string, name: string, value: unknown, id?: string) =>
  session.call('PUT', 'setting', { entitytype, name, value }, id ? { id } : {});

const deleteSetting = (session: RawSession, entitytype: string, name: string, id?: string) =>
  session.call('DELETE', 'setting', { entitytype, name }, id ? { id } : {});

function refused(reply: Reply, status: number, message: string | RegExp): void {
  expect(reply.status, reply.text).toBe(status);
  if (typeof message === 'string') expect(reply.json.message).toBe(message);
  else expect(reply.json.message).toMatch(message);
  expect(reply.json).not.toHaveProperty('result');
}

beforeAll(async () => {
  test = await startTestServer();
  const store = test.server.store;
  admin = new RawSession(test.url, test.admin);
  employee = new RawSession(test.url, await addUser(store, 'acme', 'eve@acme.test', 'employee'));
  standard = new RawSession(test.url, await addUser(store, 'acme', 'lisa@example.com', 'standard'));
  stranger = new RawSession(test.url, await addUser(store, 'globex', 'root@globex.test', 'admin'));
  const one = async (session: RawSession, query: string) => {
    const found = await session.result<Entity[]>(session.find(query));
    expect(found, query).toHaveLength(1);
    return (found[0] as Entity).id as string;
  };
  const [volume] = await admin.result<Entity[]>(admin.find('Volume WHERE default=true'));
  const [folder] = await admin.result<Entity[]>(
    admin.create('folder', { parent: 'default', path: 'projects', name: 'Projects' }),
  );
  const [shared] = await admin.result<Entity[]>(
    admin.create('transfer', { source: 'a.mov', destination: 'lisa@example.com:/in/', status: 'paused' }),
  );
  const [alone] = await admin.result<Entity[]>(
    admin.create('transfer', { source: 'b.mov', destination: 'c.mov', status: 'paused' }),
  );
  // The standard user reads the folder: its settings stay hidden from them all the same.
  await admin.result(
    admin.create('acl', { entity: 'user:lisa@example.com', target: `share:${(folder as Entity).id}`, read: true }),
  );
  ids = {
    medium: await one(admin, "Queue WHERE name='medium'"),
    high: await one(admin, "Queue WHERE name='high'"),
    volume: (volume as Entity).id as string,
    folder: (folder as Entity).id as string,
    shared: (shared as Entity).id as string,
    private: (alone as Entity).id as string,
    admin: await one(admin, "User WHERE code='admin@acme.test'"),
    employee: await one(admin, "User WHERE code='eve@acme.test'"),
    standard: await one(admin, "User WHERE code='lisa@example.com'"),
  };
  expect((shared as Entity).queue).toBe(ids.medium);
});
afterAll(() => test.stop());

describe('test_settings.py', () => {
  it('sets compute_avoid on the queue medium as a job, reads it, deletes it, and it is gone', async () => {
    const queues = await admin.result<Entity[]>(admin.find("Queue WHERE name='medium'"));
    expect(queues).toHaveLength(1);
    const q = (queues[0] as Entity).id as string;
    expect(await admin.result(setSetting(admin, 'job', 'compute_avoid', 'disable', q))).toBe(true);
    const flags = { upstream: false, omit_defaults: false };
    const settings = await admin.result<Entity>(getSettings(admin, 'job', q, flags));
    expect(settings.compute_avoid).toBe('disable');
    expect(JSON.stringify(settings)).toContain('compute_avoid');
    expect(await admin.result(deleteSetting(admin, 'job', 'compute_avoid', q))).toBe(true);
    // Absent, whether or not defaults are asked for: compute_avoid has none.
    expect(await admin.result(getSettings(admin, 'job', q, flags))).not.toHaveProperty('compute_avoid');
    expect(await admin.result(getSettings(admin, 'job', q))).toEqual({});
    expect(await admin.result(getSetting(admin, 'job', 'compute_avoid', q))).toBeNull();
  });

  it('takes a queue named as a queue, a transfer as a transfer, and the value in any case', async () => {
    expect(await admin.result(setSetting(admin, 'Queue', 'compute_avoid', 'ENABLE', ids.high))).toBe(true);
    expect(await admin.result(getSetting(admin, 'job', 'compute_avoid', ids.high))).toBe('enable');
    expect(await admin.result(deleteSetting(admin, 'queue', 'compute_avoid', ids.high))).toBe(true);
    // A queue's id is not a transfer's: named as a transfer, it is not there.
    refused(
      await getSetting(admin, 'transfer', 'compute_avoid', ids.high),
      404,
      `There is no transfer ${ids.high}, or you may not see it.`,
    );
  });
});

describe('defaults', () => {
  it('answers each setting of the workspace with its default when nobody set it', async () => {
    const expected = {
      transfer_concurrency: '4',
      queue_concurrency: '2',
      task_retries: '3',
      checksum: 'xxhash64',
      verify_checksums: 'true',
      overwrite: 'skip_identical',
      delivery_expiry_hours: '8',
      delivery_availability_days: '30',
    };
    for (const [name, value] of Object.entries(expected)) {
      expect(await admin.result(getSetting(admin, 'workspace', name)), name).toBe(value);
    }
    // entitytype null and no id: the caller's workspace, every setting in registry order.
    const all = await admin.result<Entity>(getSettings(admin, null, undefined, { omit_defaults: false }));
    expect(Object.entries(all)).toEqual(Object.entries(expected));
    expect(await admin.result(getSettings(admin, null, undefined))).toEqual({});
  });

  it('answers null for a setting without a default that is not set', async () => {
    expect(await admin.result(getSetting(admin, 'user', 'download_directory'))).toBeNull();
    expect(await admin.result(getSettings(admin, 'user', undefined, { omit_defaults: false }))).toEqual({});
  });

  it('has a registry whose defaults are values each setting takes', () => {
    for (const setting of SETTINGS) {
      expect(setting.description.length, setting.name).toBeGreaterThan(10);
      expect(setting.holders.length, setting.name).toBeGreaterThan(0);
    }
    expect(SETTINGS.map((s) => s.name)).toContain('compute_avoid');
  });
});

describe('values', () => {
  it('keeps a value in its one spelling: booleans and choices lowercase, numbers without padding', async () => {
    await admin.result(setSetting(admin, 'workspace', 'verify_checksums', 'FALSE'));
    await admin.result(setSetting(admin, 'workspace', 'task_retries', ' 07 '));
    await admin.result(setSetting(admin, 'workspace', 'checksum', 'XXHash64'));
    expect(await admin.result(getSettings(admin, 'workspace', undefined))).toEqual({
      task_retries: '7',
      checksum: 'xxhash64',
      verify_checksums: 'false',
    });
    for (const name of ['verify_checksums', 'task_retries', 'checksum']) {
      expect(await admin.result(deleteSetting(admin, 'workspace', name))).toBe(true);
    }
    expect(await admin.result(getSettings(admin, 'workspace', undefined))).toEqual({});
  });

  it('refuses a value of the wrong type with a 400 naming the setting and what it takes, and keeps the old one', async () => {
    await admin.result(setSetting(admin, 'workspace', 'transfer_concurrency', '6'));
    const cases: [string, unknown, string][] = [
      ['transfer_concurrency', 'four', 'a whole number from 1 to 256'],
      ['transfer_concurrency', '0', 'a whole number from 1 to 256'],
      ['transfer_concurrency', '257', 'a whole number from 1 to 256'],
      ['transfer_concurrency', '2.5', 'a whole number from 1 to 256'],
      ['transfer_concurrency', 5, 'a whole number from 1 to 256'],
      ['checksum', 'md5', 'one of xxhash64, sha256'],
      ['verify_checksums', 'yes', '"true" or "false"'],
      ['delivery_expiry_hours', '', 'a whole number from 1 to 8760'],
      ['task_retries', null, 'a whole number from 0 to 100'],
    ];
    for (const [name, value, takes] of cases) {
      const reply = await setSetting(admin, 'workspace', name, value);
      expect(reply.status, `${name}=${JSON.stringify(value)}`).toBe(400);
      expect(reply.json.message).toContain(`Setting ${name} takes ${takes}`);
    }
    refused(
      await setSetting(admin, 'workspace', 'checksum', 'md5'),
      400,
      'Setting checksum takes one of xxhash64, sha256 (as a string), not "md5".',
    );
    refused(
      await setSetting(admin, 'user', 'download_directory', 'x'.repeat(1025)),
      400,
      'Setting download_directory takes text of at most 1024 characters (as a string), not a text of 1025 characters.',
    );
    expect(await admin.result(getSetting(admin, 'workspace', 'transfer_concurrency'))).toBe('6');
    await admin.result(deleteSetting(admin, 'workspace', 'transfer_concurrency'));
  });

  it('stores free text as given', async () => {
    const path = 'D:\\Dailies\\Ünïcode "quoted"/';
    expect(await standard.result(setSetting(standard, 'user', 'download_directory', path))).toBe(true);
    expect(await standard.result(getSetting(standard, 'user', 'download_directory'))).toBe(path);
    expect(await standard.result(deleteSetting(standard, 'user', 'download_directory'))).toBe(true);
  });
});

describe('names', () => {
  it('refuses an unknown name with a 400 that names it and suggests close ones', async () => {
    refused(
      await setSetting(admin, 'workspace', 'transfer_concurency', '3'),
      400,
      "Unknown setting 'transfer_concurency' of the workspace; did you mean transfer_concurrency?",
    );
    refused(
      await getSetting(admin, 'job', 'task_retry', ids.medium),
      400,
      "Unknown setting 'task_retry' of a job; did you mean task_retries?",
    );
    refused(
      await deleteSetting(admin, 'workspace', 'colour'),
      400,
      "Unknown setting 'colour' of the workspace; its settings are transfer_concurrency, queue_concurrency, task_retries, checksum, verify_checksums, overwrite, delivery_expiry_hours, delivery_availability_days.",
    );
  });

  it('says who holds a setting named for the wrong entity', async () => {
    refused(
      await setSetting(admin, 'user', 'checksum', 'sha256'),
      400,
      'checksum is not a setting of a user: the workspace or a job holds it.',
    );
    refused(
      await getSetting(admin, 'workspace', 'compute_avoid'),
      400,
      'compute_avoid is not a setting of the workspace: a job holds it.',
    );
  });

  it('refuses entity types that hold no settings, and integrations', async () => {
    refused(
      await getSetting(admin, 'site', 'checksum'),
      400,
      /^setting: a site has no settings; these have: workspace/,
    );
    refused(
      await admin.call('GET', 'setting', {
        entitytype: 'workspace',
        name: 'checksum',
        integration: 'ftrack',
        data: {},
      }),
      400,
      "setting: this server has no integrations, so no settings of 'ftrack'.",
    );
    refused(
      await setSetting(admin, 'job', 'task_retries', '2'),
      400,
      "setting: the settings of a job need its id in the envelope's id.",
    );
    refused(
      await admin.call('POST', 'setting', { entitytype: 'workspace' }),
      400,
      'setting takes GET, PUT or DELETE, not POST.',
    );
  });

  it('answers true when deleting a value that is not set', async () => {
    expect(await admin.result(deleteSetting(admin, 'workspace', 'checksum'))).toBe(true);
    expect(await admin.result(deleteSetting(admin, 'workspace', 'checksum'))).toBe(true);
  });
});

describe('inheritance', () => {
  it('reads a job value from the job, else its queue, else the workspace, else the default', async () => {
    const read = () => admin.result(getSetting(admin, 'job', 'task_retries', ids.shared));
    expect(await read()).toBe('3');
    await admin.result(setSetting(admin, 'workspace', 'task_retries', '5'));
    expect(await read()).toBe('5');
    await admin.result(setSetting(admin, 'job', 'task_retries', '7', ids.medium));
    expect(await read()).toBe('7');
    await admin.result(setSetting(admin, 'transfer', 'task_retries', '9', ids.shared));
    expect(await read()).toBe('9');
    // Another queue's value does not reach a job of medium.
    await admin.result(setSetting(admin, 'job', 'task_retries', '1', ids.high));
    expect(await read()).toBe('9');
    await admin.result(deleteSetting(admin, 'job', 'task_retries', ids.shared));
    expect(await read()).toBe('7');
    await admin.result(deleteSetting(admin, 'job', 'task_retries', ids.medium));
    expect(await read()).toBe('5');
  });

  it('get_settings lists inherited values only with upstream, and defaults only without omit_defaults', async () => {
    await admin.result(setSetting(admin, 'job', 'checksum', 'sha256', ids.medium));
    await admin.result(setSetting(admin, 'job', 'compute_avoid', 'enable', ids.shared));
    expect(await admin.result(getSettings(admin, 'job', ids.shared))).toEqual({ compute_avoid: 'enable' });
    expect(await admin.result(getSettings(admin, 'job', ids.shared, { upstream: true }))).toEqual({
      task_retries: '5',
      checksum: 'sha256',
      compute_avoid: 'enable',
    });
    expect(await admin.result(getSettings(admin, 'job', ids.shared, { upstream: true, omit_defaults: false }))).toEqual(
      {
        queue_concurrency: '2',
        task_retries: '5',
        checksum: 'sha256',
        verify_checksums: 'true',
        overwrite: 'skip_identical',
        delivery_expiry_hours: '8',
        delivery_availability_days: '30',
        compute_avoid: 'enable',
      },
    );
    // Without upstream, what the job does not set itself is the default, not what it inherits.
    const own = await admin.result<Entity>(getSettings(admin, 'job', ids.shared, { omit_defaults: false }));
    expect(own).toMatchObject({ task_retries: '3', checksum: 'xxhash64', compute_avoid: 'enable' });
    await admin.result(deleteSetting(admin, 'job', 'checksum', ids.medium));
    await admin.result(deleteSetting(admin, 'job', 'compute_avoid', ids.shared));
    await admin.result(deleteSetting(admin, 'job', 'task_retries', ids.high));
  });

  it('reads a folder value from the folder, else its volume, else the workspace', async () => {
    const read = (type: string, id: string) => admin.result(getSetting(admin, type, 'transfer_concurrency', id));
    expect(await read('folder', ids.folder)).toBe('4');
    await admin.result(setSetting(admin, 'workspace', 'transfer_concurrency', '8'));
    expect(await read('share', ids.folder)).toBe('8');
    await admin.result(setSetting(admin, 'volume', 'transfer_concurrency', '3', ids.volume));
    expect(await read('folder', ids.folder)).toBe('3');
    await admin.result(setSetting(admin, 'share', 'transfer_concurrency', '2', ids.folder));
    expect(await read('folder', ids.folder)).toBe('2');
    expect(await read('volume', ids.volume)).toBe('3');
    // get_settings may name the share by data.share instead of the envelope's id.
    const byShare = await admin.call('GET', 'setting', {
      entitytype: null,
      recursive: false,
      upstream: false,
      omit_defaults: true,
      share: ids.folder,
    });
    expect(byShare.json.result).toEqual({ transfer_concurrency: '2' });
    for (const [type, id] of [
      ['folder', ids.folder],
      ['volume', ids.volume],
    ] as const) {
      await admin.result(deleteSetting(admin, type, 'transfer_concurrency', id));
    }
    await admin.result(deleteSetting(admin, 'workspace', 'transfer_concurrency'));
    expect(await read('folder', ids.folder)).toBe('4');
  });

  it('recursive adds what is set on the entities below, each under <holder>:<id>', async () => {
    await admin.result(setSetting(admin, 'job', 'queue_concurrency', '3', ids.medium));
    await admin.result(setSetting(admin, 'transfer', 'checksum', 'xxhash64', ids.shared));
    await admin.result(setSetting(admin, 'folder', 'transfer_concurrency', '2', ids.folder));
    await employee.result(setSetting(employee, 'user', 'download_directory', '/mnt/eve'));
    await standard.result(setSetting(standard, 'user', 'download_directory', '/Users/lisa'));
    const all = await admin.result<Entity>(getSettings(admin, 'workspace', undefined, { recursive: true }));
    expect(all).toEqual({
      task_retries: '5',
      [`job:${ids.medium}`]: { queue_concurrency: '3' },
      [`job:${ids.shared}`]: { checksum: 'xxhash64' },
      [`share:${ids.folder}`]: { transfer_concurrency: '2' },
      [`user:${ids.employee}`]: { download_directory: '/mnt/eve' },
      [`user:${ids.standard}`]: { download_directory: '/Users/lisa' },
    });
    // Below a queue: its jobs. Below a volume: its folders.
    expect(await admin.result(getSettings(admin, 'queue', ids.medium, { recursive: true }))).toEqual({
      queue_concurrency: '3',
      [`job:${ids.shared}`]: { checksum: 'xxhash64' },
    });
    expect(await admin.result(getSettings(admin, 'volume', ids.volume, { recursive: true }))).toEqual({
      [`share:${ids.folder}`]: { transfer_concurrency: '2' },
    });
    // An employee sees what they may read: not the settings of another employee or an admin.
    const other = new RawSession(test.url, await addUser(test.server.store, 'acme', 'max@acme.test', 'employee'));
    await other.result(setSetting(other, 'user', 'download_directory', '/mnt/max'));
    const seen = await employee.result<Entity>(getSettings(employee, null, undefined, { recursive: true }));
    expect(Object.keys(seen).sort()).toEqual(
      [
        'task_retries',
        `job:${ids.medium}`,
        `job:${ids.shared}`,
        `share:${ids.folder}`,
        `user:${ids.employee}`,
        `user:${ids.standard}`,
      ].sort(),
    );
    await admin.result(deleteSetting(admin, 'job', 'queue_concurrency', ids.medium));
    await admin.result(deleteSetting(admin, 'job', 'checksum', ids.shared));
    await admin.result(deleteSetting(admin, 'folder', 'transfer_concurrency', ids.folder));
    await admin.result(deleteSetting(admin, 'workspace', 'task_retries'));
  });
});

describe('rights', () => {
  const unknownId = 'aaaaaaaaaaaaaaaaaaaaaaaa';

  it('employees read the workspace settings but do not change them', async () => {
    expect(await employee.result(getSetting(employee, 'workspace', 'checksum'))).toBe('xxhash64');
    refused(
      await setSetting(employee, 'workspace', 'checksum', 'sha256'),
      403,
      "Permission denied: only an admin may change the workspace's settings.",
    );
    refused(
      await deleteSetting(employee, 'workspace', 'checksum'),
      403,
      "Permission denied: only an admin may change the workspace's settings.",
    );
  });

  it('employees change settings of the jobs they may change and their own, not of queues or others', async () => {
    expect(await employee.result(setSetting(employee, 'job', 'task_retries', '2', ids.private))).toBe(true);
    expect(await admin.result(getSetting(admin, 'job', 'task_retries', ids.private))).toBe('2');
    expect(await employee.result(deleteSetting(employee, 'job', 'task_retries', ids.private))).toBe(true);
    refused(
      await setSetting(employee, 'job', 'compute_avoid', 'enable', ids.medium),
      403,
      'Permission denied: a employee user may not edit queues.',
    );
    expect(await employee.result(getSetting(employee, 'queue', 'compute_avoid', ids.medium))).toBeNull();
    refused(
      await setSetting(employee, 'user', 'download_directory', '/x', ids.standard),
      403,
      'Permission denied: you may change only your own settings.',
    );
    // An admin's settings are not even visible to an employee.
    refused(await getSetting(employee, 'user', 'download_directory', ids.admin), 404, hidden('user', ids.admin));
    refused(await getSetting(employee, 'user', 'download_directory', unknownId), 404, hidden('user', unknownId));
    refused(
      await setSetting(employee, 'volume', 'transfer_concurrency', '2', ids.volume),
      404,
      hidden('volume', ids.volume),
    );
    refused(
      await setSetting(employee, 'folder', 'transfer_concurrency', '2', ids.folder),
      403,
      "Permission denied: only an admin may change a share's settings.",
    );
  });

  it('standard users change their own settings and read those of the jobs they take part in', async () => {
    expect(await standard.result(getSetting(standard, 'user', 'download_directory'))).toBe('/Users/lisa');
    expect(await standard.result(getSetting(standard, 'user', 'download_directory', ids.standard))).toBe('/Users/lisa');
    // What a job they take part in inherits is theirs to read, though the queue and workspace are not.
    await admin.result(setSetting(admin, 'job', 'checksum', 'xxhash64', ids.medium));
    expect(await standard.result(getSetting(standard, 'transfer', 'checksum', ids.shared))).toBe('xxhash64');
    await admin.result(deleteSetting(admin, 'job', 'checksum', ids.medium));
    refused(
      await setSetting(standard, 'transfer', 'checksum', 'sha256', ids.shared),
      403,
      "Permission denied: a standard user may change only their own settings, not a transfer's.",
    );
    refused(
      await setSetting(standard, 'user', 'download_directory', '/x', ids.employee),
      404,
      hidden('user', ids.employee),
    );
  });

  it('standard users learn nothing of what they may not read: it answers as an unknown id', async () => {
    const pairs: [string, string][] = [
      ['job', ids.private],
      ['transfer', ids.private],
      ['job', ids.medium],
      ['queue', ids.medium],
      ['workspace', (await admin.result<Entity[]>(admin.find('Workspace')))[0]?.id as string],
      ['folder', ids.folder],
      ['share', ids.folder],
      ['volume', ids.volume],
    ];
    for (const [type, id] of pairs) {
      const seen = await getSetting(standard, type, type === 'workspace' ? 'checksum' : 'task_retries', id);
      const unknown = await getSetting(standard, type, type === 'workspace' ? 'checksum' : 'task_retries', unknownId);
      expect({ status: seen.status, message: seen.json.message }, `${type} ${id}`).toEqual({
        status: unknown.status,
        message: (unknown.json.message as string).replace(unknownId, id),
      });
      expect(seen.status).toBe(404);
      const write = await setSetting(standard, type, 'task_retries', '1', id);
      expect(write.status, `${type} ${id}`).toBe(404);
    }
    // Their own workspace's settings, named without an id, are as hidden as any other workspace's.
    refused(
      await getSettings(standard, null, undefined),
      404,
      /^There is no workspace [a-z0-9]{24}, or you may not see it\.$/,
    );
  });

  it('admins change every setting of their workspace', async () => {
    for (const [type, name, value, id] of [
      ['workspace', 'transfer_concurrency', '16', undefined],
      ['user', 'download_directory', '/home/eve', ids.employee],
      ['queue', 'queue_concurrency', '1', ids.high],
      ['volume', 'transfer_concurrency', '2', ids.volume],
    ] as const) {
      expect(await admin.result(setSetting(admin, type, name, value, id))).toBe(true);
      expect(await admin.result(getSetting(admin, type, name, id))).toBe(value);
      expect(await admin.result(deleteSetting(admin, type, name, id))).toBe(true);
    }
  });
});

describe('workspaces', () => {
  it('keep their settings apart', async () => {
    await admin.result(setSetting(admin, 'workspace', 'task_retries', '10'));
    expect(await stranger.result(getSetting(stranger, 'workspace', 'task_retries'))).toBe('3');
    await stranger.result(setSetting(stranger, 'workspace', 'task_retries', '20'));
    expect(await admin.result(getSetting(admin, 'workspace', 'task_retries'))).toBe('10');
    expect(await stranger.result(getSettings(stranger, 'workspace', undefined, { recursive: true }))).toEqual({
      task_retries: '20',
    });
    await admin.result(deleteSetting(admin, 'workspace', 'task_retries'));
    expect(await stranger.result(getSetting(stranger, 'workspace', 'task_retries'))).toBe('20');
  });

  it("answer another workspace's entities as unknown ids, to read and to write", async () => {
    const acme = (await admin.result<Entity[]>(admin.find('Workspace')))[0]?.id as string;
    for (const [type, id] of [
      ['workspace', acme],
      ['job', ids.medium],
      ['transfer', ids.shared],
      ['user', ids.standard],
      ['volume', ids.volume],
    ] as const) {
      refused(await getSetting(stranger, type, 'task_retries', id), 404, hidden(type, id));
      refused(await setSetting(stranger, type, 'task_retries', '1', id), 404, hidden(type, id));
      refused(await deleteSetting(stranger, type, 'task_retries', id), 404, hidden(type, id));
    }
  });
});

function hidden(type: string, id: string): string {
  return `There is no ${type} ${id}, or you may not see it.`;
}

describe('two nodes', () => {
  it('setting one value at once through both: every call succeeds, and one of the values stays', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'accsyn-settings-node-'));
    const flags = ['--limit-api', 'off', '--throttle', 'off', '--max-connections', '0'];
    const second = await startServer(
      readConfig(['--port', '0', '--data-dir', dataDir, '--database', test.database, ...flags], {}),
      false,
    );
    try {
      const sessions = [admin, new RawSession(second.url, test.admin)];
      const values = Array.from({ length: 24 }, (_, i) => String(i + 1));
      const replies = await Promise.all(
        values.map((value, i) => setSetting(sessions[i % 2] as RawSession, 'workspace', 'transfer_concurrency', value)),
      );
      for (const reply of replies) expect(reply.status, reply.text).toBe(200);
      const stored = await admin.result<Entity>(getSettings(admin, 'workspace', undefined));
      expect(Object.keys(stored)).toEqual(['transfer_concurrency']);
      expect(values).toContain(stored.transfer_concurrency);
      const deleted = await Promise.all(
        sessions.map((session) => deleteSetting(session, 'workspace', 'transfer_concurrency')),
      );
      expect(deleted.map((reply) => reply.json.result)).toEqual([true, true]);
      expect(await admin.result(getSetting(admin, 'workspace', 'transfer_concurrency'))).toBe('4');
    } finally {
      await second.close();
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
