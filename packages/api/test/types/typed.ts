/**
 * Compiled by types.test.ts with `tsc --noEmit`, never run: each assignment holds only if the client's types
 * are right, and each @ts-expect-error only if a mistake is refused.
 */
import type {
  Acl,
  Entity,
  FileEntry,
  LogEntry,
  PathResult,
  Recipient,
  Session,
  ShareAccess,
  Task,
  Transfer,
  User,
} from '../../src/index.js';

declare const session: Session;

export async function typed(): Promise<void> {
  const transfer: Transfer | null = await session.findOne('Transfer WHERE status=failed');
  const alias: Transfer[] = await session.find('job WHERE status=done');
  const users: User[] = await session.find('User');
  const acl: Acl | null = await session.getEntity('ACL', '000000000000000000000000');
  const unknown: Entity[] = await session.find('Gizmo WHERE x=1');
  const created: Transfer = await session.create('Transfer', { source: 'a', destination: 'b' });
  const tasks: Task | Task[] = await session.create('task', { tasks: [] }, { entityId: created.id });
  const types: string[] = await session.find('entitytypes');
  for await (const user of session.iterate('User')) {
    const role: 'admin' | 'employee' | 'standard' = user.role;
    void role;
  }
  // @ts-expect-error a transfer's status is one of the job statuses
  const wrong: 'sent' = transfer?.status ?? 'sent';
  // @ts-expect-error a user is not a transfer
  const mixed: Transfer[] = await session.find('User');
  void [alias, users, acl, unknown, tasks, types, wrong, mixed];
}

export async function typedCalls(): Promise<void> {
  const entries: FileEntry[] = await session.ls('folder=projects');
  const each: PathResult<FileEntry[]>[] = await session.ls(['a', 'b']);
  const size: number = await session.getSize('a');
  const sizes: PathResult<number>[] = await session.getSize(['a', 'b']);
  const there: boolean = await session.exists('a');
  const modified: Date = entries[0]?.modified ?? new Date();
  const granted: Acl = await session.grant('User', 'lisa@example.com', 'Folder', 'projects');
  const recipient: true = await session.grant('User', 'lisa@example.com', 'delivery', '000000000000000000000000');
  const onShare: ShareAccess[] = await session.access('volume', 'default');
  const recipients: Recipient[] = await session.access('Request', '000000000000000000000000');
  const value: string | null = await session.getSetting('checksum');
  const settings: Record<string, string> = await session.getSettings();
  const below = await session.getSettings({ recursive: true });
  const logs: LogEntry[] = await session.findLogs('outcome=denied');
  const found: LogEntry[] = await session.find('Log WHERE outcome=denied');
  const figures = await session.metrics('Transfer', { attributes: ['count', 'speed'] });
  const count: number = figures.count;
  // @ts-expect-error a listing of one path is entries, not answers per path
  const wrongList: PathResult<FileEntry[]>[] = await session.ls('a');
  // @ts-expect-error a grant on a share answers the ACL, not true
  const wrongGrant: true = await session.grant('User', 'lisa@example.com', 'folder', 'projects');
  // @ts-expect-error only the figures asked for are there
  const missing = figures.size;
  // @ts-expect-error recursive settings may hold dicts, not only strings
  const flat: Record<string, string> = below;
  void [each, size, sizes, there, modified, granted, recipient, onShare, recipients, value, settings];
  void [logs, found, count, wrongList, wrongGrant, missing, flat];
}
