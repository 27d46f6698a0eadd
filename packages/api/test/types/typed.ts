/**
 * Compiled by types.test.ts with `tsc --noEmit`, never run: each assignment holds only if the client's types
 * are right, and each @ts-expect-error only if a mistake is refused.
 */
import type { Acl, Entity, Session, Task, Transfer, User } from '../../src/index.js';

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
