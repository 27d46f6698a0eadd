import { Session } from 'accsyn-api';
import type { Command } from 'commander';
import { notFound, usage } from '../exits.js';
import { jsonArgument, wholeNumber } from '../input.js';
import type { Io } from '../io.js';
import { type Format, formatOf, printList, printOne } from '../output.js';

/** The options every API command takes: who to be and where to go. */
interface ConnectionOptions {
  readonly envFile?: string;
  readonly workspace?: string;
  readonly user?: string;
  readonly hostname?: string;
  readonly port?: number;
  readonly proxy?: string;
  readonly verbose?: boolean;
}

interface OutputOptions {
  readonly json?: boolean;
  readonly ndjson?: boolean;
}

/**
 * A session as the client makes one, with one difference: a flag beats the environment, as on every command line
 * (the client lets the environment beat its options).
 */
function sessionOf(options: ConnectionOptions, io: Io): Session {
  try {
    return newSession(options, io);
  } catch (error) {
    // The settings are incomplete or wrong: say where the command line takes them from.
    throw usage(
      `${(error as Error).message}\nThe command takes --workspace and --user, or ACCSYN_WORKSPACE, ACCSYN_API_USER ` +
        'and ACCSYN_API_KEY from the environment, an env file (--env-file, ACCSYN_CREDENTIALS_PATH) or ./.env.',
    );
  }
}

function newSession(options: ConnectionOptions, io: Io): Session {
  return new Session({
    envFile: options.envFile,
    workspace: options.workspace,
    username: options.user,
    hostname: options.hostname,
    port: options.port,
    proxy: options.proxy,
    verbose: options.verbose,
    environment: 'fallback',
    env: io.env,
    signal: io.signal,
  });
}

/** Adds the options that say who to be and where to go; every command that calls the API takes them. */
export function apiCommand(parent: Command, name: string): Command {
  return parent
    .command(name)
    .option('--env-file <path>', 'read the credentials from this env file (like ACCSYN_CREDENTIALS_PATH)')
    .option('--workspace <code>', 'the workspace (ACCSYN_WORKSPACE)')
    .option('--user <email>', 'the API user (ACCSYN_API_USER)')
    .option('--hostname <host>', 'the server: a host name, or a URL such as http://127.0.0.1:8181 (ACCSYN_HOSTNAME)')
    .option('--port <port>', 'the server port (ACCSYN_PORT)', wholeNumber(1))
    .option('--proxy <proxy>', 'accsyn:<host>:<port> or socks:<host>:<port> (ACCSYN_PROXY)')
    .option('-v, --verbose', 'log every call to stderr');
}

/** Runs `work` with a session, closing it after. */
export async function withSession<T>(command: Command, io: Io, work: (session: Session) => Promise<T>): Promise<T> {
  const session = sessionOf(command.opts<ConnectionOptions>(), io);
  try {
    return await work(session);
  } finally {
    await session.close();
  }
}

export function outputOptions(command: Command): Command {
  return command
    .option('--json', 'print JSON (the default when the output is not a terminal)')
    .option('--ndjson', 'print one JSON object per line');
}

export function format(command: Command, io: Io): Format {
  return formatOf(command.opts<OutputOptions>(), io);
}

function columns(text: string): string[] {
  const list = text
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  if (list.length === 0) throw usage('--attributes needs at least one attribute name.');
  return list;
}

interface FindFlags extends OutputOptions {
  readonly attributes?: string[];
  readonly skip?: number;
  readonly limit?: number;
  readonly all?: boolean;
  readonly finished?: boolean;
  readonly inactive?: boolean;
  readonly archived?: boolean;
}

/**
 * The attributes to ask for a table: those given, each reference with its readable form beside it (`user` with
 * `user_hr`), so that the table shows an e-mail rather than an id, as it does without --attributes.
 */
async function withReadableForms(session: Session, query: string, asked: readonly string[]): Promise<string[]> {
  const type = query.trim().split(/\s+/)[0] ?? '';
  const readable = new Set<unknown>(await session.find(`attributes WHERE entitytype=${type}`));
  return asked.flatMap((name) => (readable.has(`${name}_hr`) ? [name, `${name}_hr`] : [name]));
}

export function addApiCommands(program: Command, io: Io): void {
  outputOptions(
    apiCommand(program, 'find')
      .description('find entities: accsyn find "Transfer WHERE status=failed"')
      .argument('<query>', "'<type> [WHERE <conditions>]', see docs/query-language.md")
      .option('-a, --attributes <names>', 'the attributes to show, comma-separated', columns)
      .option('--skip <n>', 'skip the first n entities', wholeNumber(0))
      .option('--limit <n>', 'show at most n entities', wholeNumber(1))
      .option('--all', 'every entity, however many, a page at a time')
      .option('--finished', 'also finished (done, aborted) jobs')
      .option('--inactive', 'also deactivated users and shares')
      .option('--archived', 'also deleted and archived entities'),
  ).action(async (query: string, flags: FindFlags, command: Command) => {
    const output = format(command, io);
    if (flags.all && (flags.skip !== undefined || flags.limit !== undefined)) {
      throw usage('--all pages through every entity; it does not go with --skip or --limit.');
    }
    await withSession(command, io, async (session) => {
      const attributes =
        flags.attributes && output === 'table'
          ? await withReadableForms(session, query, flags.attributes)
          : flags.attributes;
      const options = {
        ...(attributes && { attributes }),
        ...(flags.skip !== undefined && { skip: flags.skip }),
        ...(flags.limit !== undefined && { limit: flags.limit }),
        finished: flags.finished === true,
        inactive: flags.inactive === true,
        archived: flags.archived === true,
      };
      if (!flags.all) {
        printList(io, await session.find(query, options), output, flags.attributes);
        return;
      }
      const found: unknown[] = [];
      for await (const entity of session.iterate(query, options)) {
        // Lines can go out as the pages come in; a table or a JSON list needs them all first.
        if (output === 'ndjson') printList(io, [entity], output);
        else found.push(entity);
      }
      if (output !== 'ndjson') printList(io, found, output, flags.attributes);
    });
  });

  outputOptions(
    apiCommand(program, 'get')
      .description('show one entity by its id, whatever its state')
      .argument('<type>', 'its entity type: transfer, user, share ...')
      .argument('<id>', 'its id'),
  ).action(async (type: string, id: string, _flags: OutputOptions, command: Command) => {
    const entity = await withSession(command, io, (session) => session.getEntity(type, id));
    if (entity === null) throw notFound(`There is no ${type} ${id}, or you may not see it.`);
    printOne(io, entity, format(command, io));
  });

  outputOptions(
    apiCommand(program, 'create')
      .description('create an entity: accsyn create user \'{"code": "lisa@example.com", "role": "employee"}\'')
      .argument('<type>', 'its entity type')
      .argument('<attributes>', 'a JSON object, @file to read it from a file, or - for standard input')
      .option('--parent <id>', "the job to add tasks to (accsyn create task '[...]' --parent <job id>)")
      .option('--allow-duplicates', 'create a transfer even if an identical one exists'),
  ).action(
    async (
      type: string,
      argument: string,
      flags: OutputOptions & { parent?: string; allowDuplicates?: boolean },
      command: Command,
    ) => {
      // A list is for tasks: the client sends it as `{tasks: [...]}`.
      const data = await jsonArgument(argument, io, `The new ${type}'s attributes`, type.toLowerCase() === 'task');
      const created = await withSession(command, io, (session) =>
        session.create(type, data, {
          ...(flags.parent !== undefined && { entityId: flags.parent }),
          ...(flags.allowDuplicates && { allowDuplicates: true }),
        }),
      );
      const output = format(command, io);
      if (Array.isArray(created)) printList(io, created, output);
      else printOne(io, created, output);
    },
  );

  outputOptions(
    apiCommand(program, 'update')
      .description('change attributes of an entity: accsyn update transfer <id> \'{"status": "paused"}\'')
      .argument('<type>', 'its entity type')
      .argument('<id>', 'its id')
      .argument('<attributes>', 'a JSON object of the changes, @file, or - for standard input'),
  ).action(async (type: string, id: string, argument: string, _flags: OutputOptions, command: Command) => {
    const data = await jsonArgument(argument, io, 'The changes');
    const updated = await withSession(command, io, (session) => session.update(type, id, data));
    printOne(io, updated, format(command, io));
  });

  apiCommand(program, 'delete')
    .description('delete an entity (the server archives it; --force removes a job for good)')
    .argument('<type>', 'its entity type')
    .argument('<id>', 'its id')
    .option('--force', 'remove a job and its tasks for good rather than archive it')
    .action(async (type: string, id: string, flags: { force?: boolean }, command: Command) => {
      await withSession(command, io, (session) => session.deleteOne(type, id, flags.force ? { force: true } : {}));
      io.stderr.write(`Deleted ${type} ${id}.\n`);
    });

  for (const [name, verb] of [
    ['activate', 'Activated'],
    ['deactivate', 'Deactivated'],
  ] as const) {
    apiCommand(program, name)
      .description(`${name} a user, share or client`)
      .argument('<type>', 'its entity type')
      .argument('<id>', name === 'activate' ? 'its id, or its code (an e-mail, a share code)' : 'its id')
      .action(async (type: string, id: string, _flags: unknown, command: Command) => {
        await withSession(command, io, (session) =>
          name === 'activate' ? session.activateOne(type, id) : session.deactivateOne(type, id),
        );
        io.stderr.write(`${verb} ${type} ${id}.\n`);
      });
  }

  outputOptions(apiCommand(program, 'whoami').description('who the credentials belong to, and their role')).action(
    async (_flags: OutputOptions, command: Command) => {
      const me = await withSession(command, io, async (session) => {
        const { id, role } = await session.login();
        return { workspace: session.workspace, user: session.username, role, id };
      });
      printOne(io, me, format(command, io));
    },
  );

  outputOptions(apiCommand(program, 'types').description('the entity types')).action(
    async (_flags: OutputOptions, command: Command) => {
      const types = await withSession(command, io, (session) => session.find('entitytypes'));
      printList(io, types, format(command, io));
    },
  );

  outputOptions(
    apiCommand(program, 'attributes')
      .description("an entity type's attributes, as your role reads them")
      .argument('<type>', 'the entity type')
      .option('--create', 'those a create may give')
      .option('--update', 'those an update may change'),
  ).action(async (type: string, flags: { create?: boolean; update?: boolean }, command: Command) => {
    if (flags.create && flags.update) throw usage('Give --create or --update, not both.');
    const attributes = await withSession(command, io, (session) =>
      session.find(`attributes WHERE entitytype=${type}`, { create: flags.create, update: flags.update }),
    );
    printList(io, attributes, format(command, io));
  });
}
