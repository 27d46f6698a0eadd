import type { Recipient, ShareAccess } from 'accsyn-api';
import type { Command } from 'commander';
import { usage } from '../exits.js';
import type { Io } from '../io.js';
import { printList, printOne } from '../output.js';
import { apiCommand, format, outputOptions, withSession } from './api.js';

/**
 * Who may reach what: grant, revoke and access, for the recipients of deliveries and requests and for the ACLs of
 * shares. Users are named by e-mail or id, shares by code or id, deliveries and requests by id.
 */

const RECIPIENT_TYPES = new Set(['delivery', 'request']);
const TARGET_HELP = 'delivery, request, or a share: volume, folder, home, collection';

interface GrantFlags {
  readonly read?: boolean;
  readonly write?: boolean;
  readonly path?: string;
  readonly invite: boolean;
  readonly notify: boolean;
  readonly message?: string;
}

export function addAccessCommands(program: Command, io: Io): void {
  outputOptions(
    apiCommand(program, 'grant')
      .description('give a user access: accsyn grant lisa@example.com folder projects --read --path in')
      .argument('<user>', 'their e-mail or id; an e-mail that names no user invites them (see --no-invite)')
      .argument('<target-type>', TARGET_HELP)
      .argument('<target>', "a share's code or id, or a delivery's or request's id")
      .option('--read', 'read (list, download) on a share; with neither --read nor --write, both')
      .option('--write', 'write (upload, change) on a share')
      .option('--path <path>', 'the path of the share the rights are on (default /, all of it)')
      .option('--message <text>', 'a message to the user in the e-mail about it')
      .option('--no-notify', 'send the user no e-mail about it')
      .option('--no-invite', 'refuse an e-mail that names no user, rather than invite them'),
  ).action(async (user: string, type: string, target: string, flags: GrantFlags, command: Command) => {
    const recipients = RECIPIENT_TYPES.has(type.toLowerCase());
    if (recipients && (flags.read || flags.write || flags.path !== undefined)) {
      throw usage(`--read, --write and --path are rights on a share; a ${type}'s recipients receive it all.`);
    }
    const both = !flags.read && !flags.write;
    const granted = await withSession(command, io, (session) =>
      session.grant('user', user, type, target, {
        ...(!recipients && { read: both || flags.read === true, write: both || flags.write === true }),
        ...(flags.path !== undefined && { path: flags.path }),
        ...(flags.message !== undefined && { message: flags.message }),
        ...(!flags.notify && { notify: false }),
        ...(!flags.invite && { invite: false }),
      }),
    );
    if (granted === true) io.stderr.write(`Added ${user} to the recipients of ${type} ${target}.\n`);
    else printOne(io, granted, format(command, io));
  });

  apiCommand(program, 'revoke')
    .description("take a user's access away: off a delivery's recipients, or every right on a share")
    .argument('<user>', 'their e-mail or id')
    .argument('<target-type>', TARGET_HELP)
    .argument('<target>', "a share's code or id, or a delivery's or request's id")
    .action(async (user: string, type: string, target: string, _flags: unknown, command: Command) => {
      await withSession(command, io, (session) => session.revoke('user', user, type, target));
      io.stderr.write(`Revoked the access of ${user} to ${type} ${target}.\n`);
    });

  outputOptions(
    apiCommand(program, 'access')
      .description("who has access: a delivery's recipients, or the users' rights on a share")
      .argument('<target-type>', TARGET_HELP)
      .argument('<target>', "a share's code or id, or a delivery's or request's id")
      .option('--recursive', 'on a volume, also the rights on the shares inside it'),
  ).action(async (type: string, target: string, flags: { recursive?: boolean }, command: Command) => {
    const found = await withSession(command, io, (session) =>
      session.access(type, target, { recursive: flags.recursive === true }),
    );
    const output = format(command, io);
    if (output !== 'table') printList(io, found, output);
    else if (RECIPIENT_TYPES.has(type.toLowerCase())) {
      printList(io, found as Recipient[], output, ['user', 'actioned'], ['recipient', 'recipients']);
    } else {
      printList(io, (found as ShareAccess[]).map(rightsRow), output, ['user', 'rights', 'acknowledged'], USERS);
    }
  });
}

const USERS = ['user', 'users'] as const;

/** A user's rights on a share in one line: `DOWNLOAD: read; UPLOAD: write`. */
function rightsRow(access: ShareAccess): Record<string, unknown> {
  const rights = access.rules
    .map((rule) => `${rule.path}: ${[rule.read && 'read', rule.write && 'write'].filter(Boolean).join(', ')}`)
    .join('; ');
  return { user: access.user, user_hr: access.user_hr, rights, acknowledged: access.acknowledged };
}
