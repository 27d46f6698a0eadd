import type { FileEntry } from 'accsyn-api';
import { type Command, Option } from 'commander';
import { collect, wholeNumber } from '../input.js';
import type { Io } from '../io.js';
import { bytes, printList } from '../output.js';
import { apiCommand, format, outputOptions, withSession } from './api.js';

/**
 * The file calls on the workspace's shares: ls, du, mkdir, mv, rename, rm. A path is on the default volume
 * (`renders/a.exr`), or names its share first (`folder=projects/in`, `volume=archive/2024`, `home=lisa@example.com`).
 */

const PATH_HELP = 'a path on the default volume, or one of a share: folder=<code>/..., volume=<code>/..., home=...';

interface ListFlags {
  readonly recursive?: boolean;
  readonly maxdepth?: number;
  readonly include?: string[];
  readonly exclude?: string[];
  readonly filesOnly?: boolean;
  readonly dirsOnly?: boolean;
  readonly size?: boolean;
}

function filterOptions(command: Command): Command {
  return command
    .option('--include <pattern>', 'only names that match: a name, *.exr, or re(<regex>); may be repeated', collect)
    .option('--exclude <pattern>', 'leave out names that match; may be repeated (include wins)', collect);
}

export function addFileCommands(program: Command, io: Io): void {
  outputOptions(
    filterOptions(
      apiCommand(program, 'ls')
        .description('list a directory: accsyn ls folder=projects/in')
        .argument('<path>', PATH_HELP)
        .option('-r, --recursive', 'go down into directories')
        .option('--maxdepth <n>', 'go down at most n levels (implies --recursive)', wholeNumber(1)),
    )
      .addOption(new Option('--files-only', 'files only').conflicts('dirsOnly'))
      .option('--dirs-only', 'directories only')
      .option('--size', 'the sizes of directories too: the bytes they hold'),
  ).action(async (path: string, flags: ListFlags, command: Command) => {
    const entries = await withSession(command, io, (session) =>
      session.ls(path, {
        recursive: flags.recursive === true,
        ...(flags.maxdepth !== undefined && { maxDepth: flags.maxdepth }),
        ...(flags.include && { include: flags.include }),
        ...(flags.exclude && { exclude: flags.exclude }),
        filesOnly: flags.filesOnly === true,
        directoriesOnly: flags.dirsOnly === true,
        getSize: flags.size === true,
      }),
    );
    const output = format(command, io);
    if (output !== 'table') printList(io, entries, output);
    else printList(io, rowsOf(entries, flags.size === true), 'table', ['type', 'size', 'modified', 'name'], NOUN);
  });

  outputOptions(
    filterOptions(
      apiCommand(program, 'du')
        .description('the bytes of a file, or of all a directory holds')
        .argument('<path>', PATH_HELP),
    ),
  ).action(async (path: string, flags: { include?: string[]; exclude?: string[] }, command: Command) => {
    const size = await withSession(command, io, (session) =>
      session.getSize(path, {
        ...(flags.include && { include: flags.include }),
        ...(flags.exclude && { exclude: flags.exclude }),
      }),
    );
    if (format(command, io) === 'table') io.stdout.write(`${bytes(size)}  ${path}\n`);
    else io.stdout.write(`${JSON.stringify({ path, size }, null, format(command, io) === 'json' ? 2 : undefined)}\n`);
  });

  apiCommand(program, 'mkdir')
    .description('make directories, and those above them that are missing')
    .argument('<path...>', PATH_HELP)
    .action(async (paths: string[], _flags: unknown, command: Command) => {
      await withSession(command, io, (session) => session.mkdir(paths));
      for (const path of paths) io.stderr.write(`Made directory ${path}.\n`);
    });

  apiCommand(program, 'mv')
    .description('move a file or directory, into <destination> when that is a directory')
    .argument('<path>', PATH_HELP)
    .argument('<destination>', 'where it goes: a path, or a directory to move it into')
    .action(async (path: string, destination: string, _flags: unknown, command: Command) => {
      await withSession(command, io, (session) => session.move(path, destination));
      io.stderr.write(`Moved ${path} to ${destination}.\n`);
    });

  apiCommand(program, 'rename')
    .description('rename a file or directory where it is')
    .argument('<path>', PATH_HELP)
    .argument('<name>', 'its new name')
    .action(async (path: string, name: string, _flags: unknown, command: Command) => {
      await withSession(command, io, (session) => session.rename(path, name));
      io.stderr.write(`Renamed ${path} to ${name}.\n`);
    });

  apiCommand(program, 'rm')
    .description('delete files, or empty directories (--force: directories with all they hold)')
    .argument('<path...>', PATH_HELP)
    .option('--force', 'delete directories with everything in them')
    .action(async (paths: string[], flags: { force?: boolean }, command: Command) => {
      await withSession(command, io, (session) => session.remove(paths, { force: flags.force === true }));
      for (const path of paths) io.stderr.write(`Deleted ${path}.\n`);
    });
}

const NOUN = ['entry', 'entries'] as const;

/**
 * A listing as table rows: a recursive one flattened, each entry named by its path below the directory listed,
 * directories ending in `/`; sizes for people, right-aligned. A directory's size is shown only when asked for.
 */
function rowsOf(entries: readonly FileEntry[], sizes: boolean): Record<string, unknown>[] {
  const rows: { type: string; size: string; modified: Date; name: string }[] = [];
  const walk = (list: readonly FileEntry[], prefix: string) => {
    for (const entry of list) {
      const directory = entry.type === 0;
      const name = `${prefix}${entry.filename}${directory ? '/' : ''}`;
      rows.push({
        type: directory ? 'dir' : 'file',
        size: directory && !sizes ? '' : bytes(entry.size),
        modified: entry.modified,
        name,
      });
      if (entry.files) walk(entry.files, name);
    }
  };
  walk(entries, '');
  const width = Math.max(0, ...rows.map((row) => row.size.length));
  return rows.map((row) => ({ ...row, size: row.size.padStart(width) }));
}
