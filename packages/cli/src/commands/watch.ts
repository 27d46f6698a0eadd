import type { Session } from 'accsyn-api';
import { SingleBar } from 'cli-progress';
import type { Command } from 'commander';
import { CliError, Exit, type ExitCode, notFound } from '../exits.js';
import { wholeNumber } from '../input.js';
import type { Io } from '../io.js';
import { formatOf, printOne, speedOf, timeLeft } from '../output.js';
import { apiCommand, withSession } from './api.js';

/** How a watched transfer ended, and the exit code that tells it. */
const ENDINGS: Readonly<Record<string, ExitCode>> = {
  done: Exit.ok,
  failed: Exit.transferFailed,
  aborted: Exit.transferAborted,
};

interface WatchFlags {
  readonly interval: number;
  readonly maxInterval: number;
  readonly json?: boolean;
  readonly ndjson?: boolean;
}

interface Transfer {
  readonly status?: string;
  readonly progress?: number | null;
  readonly speed?: number | null;
  readonly etr?: number | null;
  readonly [key: string]: unknown;
}

export function addWatchCommand(program: Command, io: Io): void {
  apiCommand(program, 'watch')
    .description('follow a transfer until it ends, with a progress bar on stderr')
    .argument('<id>', "the transfer's id")
    .option('--interval <seconds>', 'seconds between polls, at first', wholeNumber(1), 2)
    .option('--max-interval <seconds>', 'the longest wait between polls while nothing changes', wholeNumber(1), 30)
    .option('--json', 'print the transfer as it ended, as JSON')
    .option('--ndjson', 'print the transfer at every change, one JSON object per line')
    .addHelpText(
      'after',
      '\nExit codes: 0 done, 10 failed, 11 aborted (and the usual ones: 5 when there is no such transfer ...).',
    )
    .action(async (id: string, flags: WatchFlags, command: Command) => {
      if (flags.maxInterval < flags.interval) {
        throw new CliError('--max-interval must not be shorter than --interval.', Exit.usage);
      }
      const last = await withSession(command, io, (session) => follow(session, id, flags, io));
      if (!flags.ndjson && formatOf(flags, io) === 'json') printOne(io, last, 'json');
      const code = ENDINGS[String(last.status)] ?? Exit.ok;
      if (code !== Exit.ok)
        throw new CliError(`Transfer ${id} ${last.status === 'failed' ? 'failed' : 'was aborted'}.`, code);
      io.stderr.write(`Transfer ${id} is done.\n`);
    });
}

/**
 * Polls the transfer until it ends. The wait starts at `interval` and grows by half each time nothing changed, up
 * to `maxInterval`; a change brings it back. The client itself waits out a 429 as the server asks.
 */
async function follow(session: Session, id: string, flags: WatchFlags, io: Io): Promise<Transfer> {
  const bar = progressBar(io);
  let wait = flags.interval;
  let previous = '';
  try {
    for (;;) {
      const transfer = (await session.getEntity('transfer', id)) as Transfer | null;
      if (transfer === null) throw notFound(`There is no transfer ${id}, or you may not see it.`);
      const state = JSON.stringify([transfer.status, transfer.progress, transfer.speed, transfer.etr]);
      const changed = state !== previous;
      previous = state;
      if (changed && flags.ndjson) io.stdout.write(`${JSON.stringify(transfer)}\n`);
      bar.show(transfer, changed);
      if (String(transfer.status) in ENDINGS) return transfer;
      wait = changed ? flags.interval : Math.min(flags.maxInterval, wait * 1.5);
      await sleep(wait * 1000, io.signal);
    }
  } finally {
    bar.stop();
  }
}

/** A bar on a terminal; elsewhere a line on stderr at each change, so that a log shows the course of the transfer. */
function progressBar(io: Io) {
  const tty = io.stderr.isTTY === true;
  const bar = tty
    ? new SingleBar({
        stream: io.stderr,
        format: '{status} |{bar}| {percentage}% | {speed} | {left}',
        hideCursor: true,
        clearOnComplete: false,
      })
    : undefined;
  let started = false;
  return {
    show(transfer: Transfer, changed: boolean) {
      const tokens = {
        status: String(transfer.status ?? '?').padEnd(8),
        speed: speedOf(transfer.speed),
        left: timeLeft(transfer.etr),
      };
      const percent = Math.max(0, Math.min(100, Math.round(Number(transfer.progress ?? 0))));
      if (!bar) {
        if (changed)
          io.stderr.write(`${`${tokens.status.trim()} ${percent}% ${tokens.speed} ${tokens.left}`.trim()}\n`);
        return;
      }
      if (!started) bar.start(100, percent, tokens);
      else bar.update(percent, tokens);
      started = true;
    },
    stop() {
      if (started) bar?.stop();
    },
  };
}

function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener('abort', () => {
      clearTimeout(timer);
      resolve();
    });
  });
}
