import { type Stats, statSync } from 'node:fs';
import { basename, sep } from 'node:path';
import {
  AbortError,
  AccsynError,
  type Overwrite,
  type Session,
  type Task,
  type TransferProgress,
  type TransferRun,
} from 'accsyn-api';
import { SingleBar } from 'cli-progress';
import { type Command, Option } from 'commander';
import { CliError, Exit, notFound, usage } from '../exits.js';
import type { Io } from '../io.js';
import { absoluteLocal, endsInSeparator, isLocal, shownLocal } from '../local.js';
import { bytes, speedOf, timeLeft } from '../output.js';
import { apiCommand, withSession } from './api.js';

/**
 * `accsyn cp SRC DST`: a file or a directory between this machine and the workspace's shares, carried by this
 * process (the client's `session.upload` and `session.download`), as a transfer that `find` shows like any other.
 */

const OVERWRITE: readonly Overwrite[] = ['skip_identical', 'overwrite', 'rename'];

const HELP = `
One side is on this machine, the other on the workspace's shares. A path is on this machine when it is absolute,
starts with ./, ../ or ~/, or exists here; any other is a share path: folder=<code>/..., volume=<code>/...,
home=..., or a path on the default volume (renders/a.exr). Write ./name for a local file that does not exist yet.

The destination is what the copy becomes; one that ends in / gets the source inside it. A file copied onto a
directory goes inside it, as with cp. Ctrl-C pauses the transfer and keeps what has arrived: the same accsyn cp
resumes it. Exit codes: 0 done, 10 failed, 11 aborted, 130 stopped by Ctrl-C (and the usual ones: 5 when the source is not
there ...).`;

interface CopyFlags {
  readonly recursive?: boolean;
  readonly overwrite?: Overwrite;
}

/** A copy as the command line asks for it: the direction, and both ends as the client takes them. */
interface Copy {
  readonly direction: 'upload' | 'download';
  /** The absolute path on this machine. */
  readonly local: string;
  /** The share path. */
  readonly remote: string;
}

export function addCopyCommand(program: Command, io: Io): void {
  apiCommand(program, 'cp')
    .description('copy files between this machine and the shares: accsyn cp -r ./plates shots/010/')
    .argument('<source>', 'what to copy: a local path, or a share path')
    .argument('<destination>', 'where it goes: a share path, or a local path')
    .option('-r, --recursive', 'copy a directory with all it holds')
    .addOption(
      new Option(
        '--overwrite <how>',
        'a file that is at the destination already: skip_identical keeps it when its size and time are the same ' +
          '(the default), overwrite replaces it, rename writes beside it',
      ).choices(OVERWRITE),
    )
    .addHelpText('after', HELP)
    .action(async (source: string, destination: string, flags: CopyFlags, command: Command) => {
      const from = isLocal(source);
      const to = isLocal(destination);
      if (from && to) {
        throw usage(
          `"${source}" and "${destination}" are both on this machine: accsyn cp copies to and from the shares.`,
        );
      }
      if (!from && !to) {
        throw usage(
          `Neither "${source}" nor "${destination}" is on this machine (a local path is absolute, starts with ./, ` +
            '../ or ~/, or exists). To copy between shares, create a transfer: accsyn create transfer ' +
            `'{"source": "${source}", "destination": "${destination}"}'.`,
        );
      }
      // The session runs without the Ctrl-C signal: when it comes, the transfer still pauses its job.
      await withSession(command, { ...io, signal: undefined }, async (session) => {
        const copy = from
          ? await uploadOf(session, source, destination, flags)
          : await downloadOf(session, source, destination, flags);
        const options = { signal: io.signal, ...(flags.overwrite && { overwrite: flags.overwrite }) };
        const run =
          copy.direction === 'upload'
            ? session.upload(copy.local, copy.remote, options)
            : session.download(copy.remote, copy.local, options);
        await follow(session, run, copy, io);
      });
    });
}

async function uploadOf(session: Session, source: string, destination: string, flags: CopyFlags): Promise<Copy> {
  const local = absoluteLocal(source);
  const found = statHere(local);
  if (!found) throw notFound(`There is no file or directory "${source}" on this machine.`);
  if (found.isDirectory() && !flags.recursive) throw needsRecursive(source);
  const into =
    !found.isDirectory() &&
    !endsInSeparator(destination) &&
    (await remoteKind(session, destination, true)) === 'directory';
  return { direction: 'upload', local, remote: into ? `${destination}/` : destination };
}

async function downloadOf(session: Session, source: string, destination: string, flags: CopyFlags): Promise<Copy> {
  const kind = await remoteKind(session, source, false);
  if (kind === 'directory' && !flags.recursive) throw needsRecursive(source);
  const local = absoluteLocal(destination);
  const into = kind === 'file' && !endsInSeparator(local) && statHere(local)?.isDirectory();
  return { direction: 'download', local: into ? `${local}${sep}` : local, remote: source };
}

/** What is at a local path, if anything (a file in the way, `file/x`, is nothing either). */
function statHere(path: string): Stats | undefined {
  try {
    return statSync(path);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
    const denied = code === 'EACCES' || code === 'EPERM';
    throw new CliError(
      `Cannot look at "${path}": ${code ?? (error as Error).message}.`,
      denied ? Exit.permission : Exit.usage,
    );
  }
}

const needsRecursive = (path: string) => usage(`"${path}" is a directory: give -r to copy it with all it holds.`);

/**
 * Whether a share path is a file or a directory: a listing of its directories holds a file only when the path is
 * one. For a destination, a path that is not there (or that the user may write but not list) is neither.
 */
async function remoteKind(
  session: Session,
  path: string,
  mayBeMissing: boolean,
): Promise<'file' | 'directory' | undefined> {
  try {
    const entries = await session.ls(path, { directoriesOnly: true });
    return entries.some((entry) => entry.type === 1) ? 'file' : 'directory';
  } catch (error) {
    if (mayBeMissing && error instanceof AccsynError && (error.status === 404 || error.status === 403)) {
      return undefined;
    }
    throw error;
  }
}

/** Shows the transfer's course until it ends, and says how it ended. */
async function follow(session: Session, run: TransferRun, copy: Copy, io: Io): Promise<void> {
  const view = io.stderr.isTTY ? progressBar(io) : fileLines(session, copy, io);
  const began = performance.now();
  let job: string | undefined;
  try {
    for await (const progress of run) {
      job = progress.job;
      await view.show(progress);
    }
    const transfer = await run;
    await view.end(transfer.id);
    const seconds = (performance.now() - began) / 1000;
    const size = Number(transfer.size ?? 0);
    const verb = copy.direction === 'upload' ? 'Uploaded' : 'Downloaded';
    io.stderr.write(
      `${verb} ${bytes(size)} in ${seconds.toFixed(1)} s (${speedOf(size / 1e6 / seconds)}): transfer ${transfer.id}.\n`,
    );
  } catch (error) {
    await view.end(job).catch(() => undefined);
    if (error instanceof AbortError && io.signal?.aborted) {
      throw new CliError(
        job === undefined
          ? 'Stopped; the same accsyn cp takes it up again.'
          : `Stopped: transfer ${job} is paused, and what arrived is kept; the same accsyn cp resumes it.`,
        Exit.interrupted,
      );
    }
    throw error;
  }
}

interface View {
  show(progress: TransferProgress): Promise<void>;
  /** The transfer has ended, or the command stops. */
  end(job: string | undefined): Promise<void>;
}

/** At a terminal: one line, redrawn, with the bytes, the percentage, the speed and the time left. */
function progressBar(io: Io): View {
  const bar = new SingleBar({
    stream: io.stderr,
    format: '|{bar}| {percentage}% | {carried} | {speed} | {left}',
    hideCursor: true,
    clearOnComplete: false,
  });
  let started = false;
  return {
    async show(progress) {
      const tokens = {
        carried: `${bytes(progress.bytes)} / ${progress.size === null ? '?' : bytes(progress.size)}`,
        speed: speedOf(progress.speed),
        left: timeLeft(progress.etr),
      };
      const percent = Math.max(0, Math.min(100, Math.floor(progress.progress)));
      if (started) bar.update(percent, tokens);
      else bar.start(100, percent, tokens);
      started = true;
    },
    async end() {
      if (started) bar.stop();
      started = false;
    },
  };
}

/**
 * Elsewhere (a pipe, a log, CI): a line for each file once it has arrived, `from -> to (size)`. The client tells
 * the job's progress, not its files': the files done since the last look are read from the job's tasks.
 */
function fileLines(session: Session, copy: Copy, io: Io): View {
  const printed = new Set<string>();
  let since: Date | undefined;
  const print = async (job: string | undefined) => {
    if (job === undefined) return;
    // Tasks finish within the second they are stamped with: from that second on, less those already printed.
    const after = since ? ` AND finished>=${since.toISOString().slice(0, 19)}` : '';
    const tasks: Task[] = [];
    for await (const task of session.iterate(`Task WHERE job=${job} AND status=done${after}`, {
      attributes: ['uri', 'source', 'destination', 'size', 'finished'],
    })) {
      if (!printed.has(task.id)) tasks.push(task);
    }
    const at = (task: Task) => (task.finished ? new Date(task.finished).getTime() : 0);
    tasks.sort((a, b) => at(a) - at(b) || a.uri.localeCompare(b.uri, 'en', { numeric: true }));
    for (const task of tasks) {
      printed.add(task.id);
      if (task.finished && (!since || task.finished > since)) since = new Date(task.finished);
      // A file sent into a directory has the directory as its destination.
      const from = task.source.path;
      const to = endsInSeparator(task.destination.path)
        ? `${task.destination.path}${basename(from)}`
        : task.destination.path;
      const [shownFrom, shownTo] = copy.direction === 'upload' ? [shownLocal(from), to] : [from, shownLocal(to)];
      io.stderr.write(`${shownFrom} -> ${shownTo} (${bytes(Number(task.size ?? 0))})\n`);
    }
  };
  return { show: (progress) => print(progress.job), end: print };
}
