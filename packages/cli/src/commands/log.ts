import type { Command } from 'commander';
import { usage } from '../exits.js';
import { wholeNumber } from '../input.js';
import type { Io } from '../io.js';
import { isoDate, printList } from '../output.js';
import { apiCommand, format, outputOptions, withSession } from './api.js';

/** `accsyn log`: the workspace's audit log, oldest first, as find reads it (admins see everyone's entries). */

interface LogFlags {
  readonly limit?: number;
  readonly skip?: number;
  readonly since?: string;
}

const COLUMNS = ['created', 'user', 'address', 'method', 'operation', 'entity', 'outcome'];

export function addLogCommand(program: Command, io: Io): void {
  outputOptions(
    apiCommand(program, 'log')
      .description("the audit log: accsyn log 'outcome=denied' --since 24h")
      .argument('[conditions]', "what to find, in the query language: 'operation=acl/create AND user=lisa@example.com'")
      .option('--since <when>', 'only entries since then: 30m, 24h, 7d, 2w back from now, or a UTC date or time')
      .option('--limit <n>', 'show at most n entries', wholeNumber(1))
      .option('--skip <n>', 'skip the first n entries', wholeNumber(0)),
  ).action(async (conditions: string | undefined, flags: LogFlags, command: Command) => {
    const parts = [conditionsOf(conditions), flags.since === undefined ? undefined : `created>=${since(flags.since)}`];
    const given = parts.filter((part): part is string => part !== undefined);
    const where = given.length > 1 ? given.map((part) => `(${part})`).join(' AND ') : given[0];
    const entries = await withSession(command, io, (session) =>
      session.findLogs(where, {
        ...(flags.limit !== undefined && { limit: flags.limit }),
        ...(flags.skip !== undefined && { skip: flags.skip }),
      }),
    );
    printList(io, entries, format(command, io), COLUMNS, ['entry', 'entries']);
  });
}

/** The conditions alone, also when given as a whole `Log WHERE ...` query as find takes it. */
function conditionsOf(text: string | undefined): string | undefined {
  if (text === undefined) return undefined;
  const stripped = text.replace(/^\s*log(\s+where\s+|\s*$)/i, '').trim();
  return stripped === '' ? undefined : stripped;
}

const UNITS: Readonly<Record<string, number>> = { m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };

/** Where `--since` starts, as a UTC time the query language reads: a span back from now, or a date as given. */
function since(text: string): string {
  const span = /^(\d{1,6})([mhdw])$/.exec(text.trim().toLowerCase());
  if (span) return isoDate(new Date(Date.now() - Number(span[1]) * (UNITS[span[2] as string] as number)));
  if (/^\d{4}-\d\d(-\d\d)?(T\d\d:\d\d(:\d\d)?Z?)?$/.test(text.trim())) return text.trim();
  throw usage(
    `--since takes a span back from now (30m, 24h, 7d, 2w) or a UTC date or time (2026-11-01), not '${text}'.`,
  );
}
