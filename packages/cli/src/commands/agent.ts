import { hostname } from 'node:os';
import { Agent, type AgentEvent } from 'accsyn-api';
import type { Command } from 'commander';
import { collect, wholeNumber } from '../input.js';
import type { Io } from '../io.js';
import { absoluteLocal, shownLocal } from '../local.js';
import { bytes, isoDate, printList } from '../output.js';
import { apiCommand, format, outputOptions, withSession } from './api.js';

/**
 * `accsyn agent start`: this machine as a Client of the workspace (docs/agent.md), carrying the transfers whose end
 * is on it, in the foreground until Ctrl-C or SIGTERM; `accsyn agent status`: this machine's clients.
 */

interface StartFlags {
  readonly root?: string[];
  readonly concurrency?: number;
}

export function addAgentCommands(program: Command, io: Io): void {
  const agent = program
    .command('agent')
    .description('the agent: this machine carries the transfers that have an end on it');

  apiCommand(agent, 'start')
    .description('run the agent in the foreground until Ctrl-C or SIGTERM (under systemd, launchd or a terminal)')
    .option('--root <dir>', 'a directory to read and write beneath; may be repeated (default: your home)', collect)
    .option('--concurrency <n>', 'files carried at once (16)', wholeNumber(1))
    .addHelpText(
      'after',
      '\nIt logs a line to stderr for each thing that happens. At the signal, files stop where they are (their part\n' +
        'files stay, to be resumed), the client goes offline, and the agent exits 0.',
    )
    .action(async (flags: StartFlags, command: Command) => {
      // The session runs without the signal: when it comes, the agent still tells the server it goes offline.
      await withSession(command, { ...io, signal: undefined }, async (session) => {
        const agent = new Agent(session, {
          roots: flags.root?.map(absoluteLocal),
          concurrency: flags.concurrency,
          onEvent: (event) => log(io, event),
        });
        const stop = stopped(io.signal);
        const starting = agent.start();
        const first = await Promise.race([starting.then(() => 'started' as const), stop]);
        if (first === 'started') await stop;
        await agent.stop();
        // Stopped while checking in: the check-in ends with the stop.
        await starting.catch(() => undefined);
      });
    });

  outputOptions(
    apiCommand(agent, 'status').description("this machine's clients of yours, registered by an agent or accsyn cp"),
  ).action(async (_flags: unknown, command: Command) => {
    const clients = await withSession(command, io, async (session) => {
      const me = await session.login();
      return session.find(`Client WHERE user=${me.id} AND type IN (0, 2) AND code=${JSON.stringify(hostname())}`);
    });
    const columns = ['id', 'code', 'type', 'status', 'os', 'version', 'last_checkin'];
    printList(io, clients, format(command, io), columns, ['client', 'clients']);
  });
}

function stopped(signal: AbortSignal | undefined): Promise<'stopped'> {
  return new Promise((resolve) => {
    if (signal?.aborted) resolve('stopped');
    signal?.addEventListener('abort', () => resolve('stopped'), { once: true });
  });
}

/** One line on stderr for each event, after the time. */
function log(io: Io, event: AgentEvent): void {
  io.stderr.write(`${isoDate(new Date())} ${sentenceOf(event)}\n`);
}

const KINDS = { measure: 'Measuring', upload: 'Uploading', download: 'Downloading' } as const;

function sentenceOf(event: AgentEvent): string {
  switch (event.type) {
    case 'checked-in':
      return `Checked in as client ${event.client}; checking in every ${event.checkin} s.`;
    case 'task-started':
      return `${KINDS[event.kind]} ${shownLocal(event.local)} (transfer ${event.job}, task ${event.task}).`;
    case 'task-done': {
      const resumed = event.sent < event.size ? `, ${bytes(event.sent)} of it sent now` : '';
      return `Done: ${shownLocal(event.local)}, ${bytes(event.size)}${resumed} (transfer ${event.job}).`;
    }
    case 'task-failed':
      return `Failed: ${shownLocal(event.local)}: ${withStop(event.message)} ${event.permanent ? 'It failed for good.' : 'It will be tried again.'}`;
    case 'task-stopped':
      return `Stopped: ${shownLocal(event.local)}; what arrived is kept (transfer ${event.job}).`;
    case 'retrying':
      return `${capital(event.what)} failed: ${withStop(event.message)} Retrying in ${seconds(event.delay)} (attempt ${event.attempt}).`;
    case 'rate-limited':
      return `Rate limited (${event.what}); trying again in ${seconds(event.delay)}.`;
    case 'stopped':
      return 'Stopped; this machine is offline.';
  }
}

const withStop = (text: string) => (/[.!?]$/.test(text) ? text : `${text}.`);
const capital = (text: string) => `${text.charAt(0).toUpperCase()}${text.slice(1)}`;
const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
