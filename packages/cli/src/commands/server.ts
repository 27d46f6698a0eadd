import { existsSync } from 'node:fs';
import type { ServerConfig, Store } from 'accsyn-server';
import type { Command } from 'commander';
import { CliError, Exit, usage } from '../exits.js';
import type { Io } from '../io.js';
import { formatOf, printList, printOne } from '../output.js';

interface StoreFlags {
  readonly dataDir?: string;
  readonly database?: string;
  readonly workspace?: string;
  readonly json?: boolean;
  readonly ndjson?: boolean;
}

/** `accsyn server ...`: run the workspace, and administer its database directly. */
export function addServerCommands(program: Command, io: Io): void {
  const server = program
    .command('server')
    .description('run the workspace server, and administer its workspaces, users and API keys on its database');

  server
    .command('start')
    .description('run the workspace server (the same as npm start, with the same settings)')
    .helpOption(false)
    .passThroughOptions()
    .allowUnknownOption()
    .allowExcessArguments()
    .argument('[settings...]', 'the server settings, as flags')
    .action(async (settings: string[]) => {
      const { SETTINGS_HELP, serve } = await serverModule();
      if (settings.includes('--help') || settings.includes('-h')) {
        io.stdout.write(
          `Usage: accsyn server start [settings]\n\nSettings (flag, environment variable):\n${SETTINGS_HELP}\n`,
        );
        return;
      }
      const signal = io.signal ?? new AbortController().signal;
      const code = await serve(settings, { stdout: io.stdout, stderr: io.stderr, env: io.env, signal });
      if (code !== 0)
        throw new CliError('The server stopped with an error (see above).', code === 2 ? Exit.usage : Exit.server);
    });

  const user = server.command('user').description("the workspace's users");
  storeOptions(user.command('add'))
    .description('add a user to the workspace')
    .argument('<email>', "the user's e-mail address")
    .requiredOption('--role <role>', 'admin, employee or standard')
    .option('--name <name>', 'the name to show (the e-mail address before the @ otherwise)')
    .action(async (email: string, flags: StoreFlags & { role: string; name?: string }) => {
      const { addUser } = await serverModule();
      const added = await withStore(flags, io, (store) =>
        addUser(store, { workspace: flags.workspace, email, role: flags.role, name: flags.name }),
      );
      io.stderr.write(`Added ${added.role} ${added.email} to workspace '${added.workspace}'.\n`);
      if (!io.stdout.isTTY || flags.json) printOne(io, added, 'json');
    });

  const workspace = server.command('workspace').description('the workspaces the server keeps');
  databaseOptions(workspace.command('add'))
    .description("add a workspace with its first admin, and make the admin's API key; it is shown once")
    .argument('<code>', "the workspace's code, which clients log in with: 2-63 letters, digits and '-'")
    .requiredOption('--admin <email>', "the first admin's e-mail address")
    .option('--name <name>', 'the name to show (the code otherwise)')
    .action(async (code: string, flags: StoreFlags & { admin: string; name?: string }) => {
      const { addWorkspace } = await serverModule();
      const added = await withStore(flags, io, (store, config) =>
        addWorkspace(store, { code, admin: flags.admin, name: flags.name, dataDir: config.dataDir }),
      );
      const output = formatOf(flags, io);
      if (output === 'table') {
        io.stdout.write(`${added.key}\n`);
        io.stderr.write(
          `Added workspace '${added.code}' (id ${added.id}), its default volume in ${added.volume}, and the API key ` +
            `of its admin ${added.admin}. It is shown this once: keep it in a safe place, such as an env file ` +
            'readable by you alone (ACCSYN_API_KEY=...).\n',
        );
      } else printOne(io, added, output);
    });

  databaseOptions(workspace.command('list'))
    .description('list the workspaces, with their admins and how many users they have')
    .action(async (flags: StoreFlags) => {
      const { listWorkspaces } = await serverModule();
      const workspaces = await withStore(flags, io, (store) => listWorkspaces(store));
      const output = formatOf(flags, io);
      const shown = output === 'table' ? workspaces.map((w) => ({ ...w, admins: w.admins.join(', ') })) : workspaces;
      printList(io, shown, output, ['id', 'code', 'name', 'admins', 'users', 'created'], ['workspace', 'workspaces']);
    });

  const apikey = server.command('apikey').description("a user's API keys");
  storeOptions(apikey.command('create'))
    .description('make a new API key for a user; it is shown once')
    .argument('<email>', "the user's e-mail address")
    .option('--name <name>', 'a name to tell the key by')
    .option('--expires <date>', 'when the key stops working: 2027-06-30 or 2027-06-30T12:00:00Z')
    .action(async (email: string, flags: StoreFlags & { name?: string; expires?: string }) => {
      const expires = flags.expires === undefined ? undefined : dateOf(flags.expires);
      const { createApiKey } = await serverModule();
      const created = await withStore(flags, io, (store) =>
        createApiKey(store, { workspace: flags.workspace, email, name: flags.name, expires }),
      );
      const output = formatOf(flags, io);
      if (output === 'table') {
        io.stdout.write(`${created.key}\n`);
        io.stderr.write(
          `API key '${created.name}' (id ${created.id}) for ${email}. It is shown this once: keep it in a safe place, ` +
            'such as an env file readable by you alone (ACCSYN_API_KEY=...).\n',
        );
      } else printOne(io, created, output);
    });

  storeOptions(apikey.command('list'))
    .description("list a user's API keys (never the keys themselves)")
    .argument('<email>', "the user's e-mail address")
    .action(async (email: string, flags: StoreFlags) => {
      const { listApiKeys } = await serverModule();
      const keys = await withStore(flags, io, (store) => listApiKeys(store, { workspace: flags.workspace, email }));
      const columns = ['id', 'name', 'state', 'created', 'expires', 'lastUsed'];
      printList(io, keys, formatOf(flags, io), columns, ['key', 'keys']);
    });

  storeOptions(apikey.command('revoke'))
    .description('revoke an API key by its id; it stops working at once')
    .argument('<id>', "the key's id (accsyn server apikey list shows it)")
    .action(async (id: string, flags: StoreFlags) => {
      const { revokeApiKey } = await serverModule();
      const key = await withStore(flags, io, (store) => revokeApiKey(store, id));
      io.stderr.write(`Revoked API key '${key.name}' (id ${key.id}) of ${key.user}.\n`);
    });
}

/** The options of a command on the database: where it is, and how to print. */
function databaseOptions(command: Command): Command {
  return command
    .option('--data-dir <dir>', 'the data directory (ACCSYN_DATA_DIR, default ./data)')
    .option(
      '--database <path|url>',
      'a SQLite file or postgres:// URL (ACCSYN_DATABASE_URL, default <data dir>/accsyn.db)',
    )
    .option('--json', 'print JSON')
    .option('--ndjson', 'print one JSON object per line');
}

/** The options of a command on one workspace of the database. */
function storeOptions(command: Command): Command {
  return databaseOptions(command).option('--workspace <code>', 'the workspace, when the database holds several');
}

/** The server's code, loaded when a command needs it: the API commands start faster without it. */
const serverModule = () => import('accsyn-server');

async function withStore<T>(
  flags: StoreFlags,
  io: Io,
  work: (store: Store, config: ServerConfig) => Promise<T>,
): Promise<T> {
  const { AdminError, ConfigError, isPostgresUrl, openStore, readConfig } = await serverModule();
  let store: Store;
  let config: ServerConfig;
  try {
    const argv = [
      ...(flags.dataDir === undefined ? [] : ['--data-dir', flags.dataDir]),
      ...(flags.database === undefined ? [] : ['--database', flags.database]),
    ];
    config = readConfig(argv, io.env);
    const { database } = config;
    if (!isPostgresUrl(database) && !existsSync(database)) {
      throw usage(`There is no database at ${database}. Start the server once to create it, or give --data-dir.`);
    }
    store = await openStore(database);
  } catch (error) {
    if (error instanceof ConfigError) throw usage(error.message);
    throw error;
  }
  try {
    return await work(store, config);
  } catch (error) {
    if (error instanceof AdminError) throw usage(error.message);
    throw error;
  } finally {
    await store.close();
  }
}

/** A date as an operator writes it: a day (its start, UTC) or a full ISO 8601 time. */
function dateOf(text: string): Date {
  const day = /^\d{4}-\d{2}-\d{2}$/.test(text);
  const date = new Date(day ? `${text}T00:00:00Z` : text);
  if (Number.isNaN(date.getTime()) || !/^\d{4}-\d{2}-\d{2}/.test(text)) {
    throw usage(`--expires must be a date such as 2027-06-30 or 2027-06-30T12:00:00Z, not '${text}'.`);
  }
  return date;
}
