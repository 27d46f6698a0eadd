import type { SettingTarget } from 'accsyn-api';
import type { Command } from 'commander';
import { usage } from '../exits.js';
import type { Io } from '../io.js';
import { printOne } from '../output.js';
import { apiCommand, format, outputOptions, withSession } from './api.js';

/**
 * `accsyn setting get|set|delete|list`: the settings of the workspace, or with `--on` of a user, a job (a queue
 * too) or a share. Values are text.
 */

interface OnFlag {
  readonly on?: string;
}

/** `--on workspace`, `--on user` (yourself), `--on <type>:<id or code>` (`queue:medium`, `user:lisa@example.com`). */
function targetOf(on: string | undefined): SettingTarget {
  if (on === undefined) return {};
  const colon = on.indexOf(':');
  const entityType = (colon === -1 ? on : on.slice(0, colon)).trim();
  const entityId = colon === -1 ? undefined : on.slice(colon + 1).trim();
  if (entityType === '' || entityId === '') {
    throw usage(`--on takes workspace, user, or <type>:<id or code> such as queue:medium, not '${on}'.`);
  }
  return { entityType, ...(entityId !== undefined && { entityId }) };
}

/** How a holder reads in a sentence: `the workspace`, `queue medium`. */
function holderText(on: string | undefined): string {
  if (on === undefined || on === 'workspace') return 'the workspace';
  if (on === 'user') return 'you';
  return on.replace(':', ' ');
}

function onOption(command: Command): Command {
  return command.option(
    '--on <holder>',
    'whose setting: workspace (the default), user (yourself), or <type>:<id or code> such as queue:medium, user:lisa@example.com, job:<id>, folder:<code>',
  );
}

export function addSettingCommands(program: Command, io: Io): void {
  const setting = program
    .command('setting')
    .description('read and change settings of the workspace, users, jobs (queues too) and shares');

  outputOptions(
    onOption(
      apiCommand(setting, 'get')
        .description('the value of a setting: set there, else inherited, else its default')
        .argument('<name>', 'the setting, such as checksum'),
    ),
  ).action(async (name: string, flags: OnFlag, command: Command) => {
    const value = await withSession(command, io, (session) => session.getSetting(name, targetOf(flags.on)));
    if (format(command, io) !== 'table') io.stdout.write(`${JSON.stringify(value)}\n`);
    else if (value === null) io.stderr.write(`${name} is not set on ${holderText(flags.on)}, and has no default.\n`);
    else io.stdout.write(`${value}\n`);
  });

  onOption(
    apiCommand(setting, 'set')
      .description('set a setting: accsyn setting set task_retries 5')
      .argument('<name>', 'the setting')
      .argument('<value>', 'its value, as text'),
  ).action(async (name: string, value: string, flags: OnFlag, command: Command) => {
    await withSession(command, io, (session) => session.setSetting(name, value, targetOf(flags.on)));
    io.stderr.write(`Set ${name} to ${value} on ${holderText(flags.on)}.\n`);
  });

  onOption(
    apiCommand(setting, 'delete')
      .description('remove a value, so that it is inherited again')
      .argument('<name>', 'the setting'),
  ).action(async (name: string, flags: OnFlag, command: Command) => {
    await withSession(command, io, (session) => session.deleteSetting(name, targetOf(flags.on)));
    io.stderr.write(`Removed ${name} from ${holderText(flags.on)}.\n`);
  });

  outputOptions(
    onOption(
      apiCommand(setting, 'list')
        .description('the settings set on the workspace (or --on), by name')
        .option('--upstream', 'also what it inherits (from a queue, a volume, the workspace)')
        .option('--defaults', 'every setting, at its default when it is set nowhere')
        .option('--recursive', 'also what is set on the entities below it'),
    ),
  ).action(
    async (flags: OnFlag & { upstream?: boolean; defaults?: boolean; recursive?: boolean }, command: Command) => {
      const values = await withSession(command, io, (session) =>
        session.getSettings({
          ...targetOf(flags.on),
          upstream: flags.upstream === true,
          omitDefaults: flags.defaults !== true,
          recursive: flags.recursive === true,
        }),
      );
      const output = format(command, io);
      if (output === 'table' && Object.keys(values).length === 0) io.stdout.write('Nothing set.\n');
      else printOne(io, values, output);
    },
  );
}
