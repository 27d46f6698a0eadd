import { stat } from 'node:fs/promises';
import { homedir } from 'node:os';
import { AccsynError } from '../errors.js';
import { linkOf, type Session } from '../session.js';
import type { AgentEvent } from './agent-event.js';
import { Carrier } from './carrier.js';
import type { Link } from './link.js';
import { Presence } from './presence.js';
import { agentEvents } from './protocol.js';
import { Roots } from './roots.js';

export interface AgentOptions {
  /** The directories the agent reads and writes beneath (default: the home directory). */
  readonly roots?: readonly string[] | undefined;
  /** Files carried at once (16), at most 4 of them of 4 MiB or more. */
  readonly concurrency?: number | undefined;
  /** What happens, for a program to log: check-ins, tasks started, done and failed, retries, rate limits. */
  readonly onEvent?: ((event: AgentEvent) => void) | undefined;
}

/**
 * The agent of docs/agent.md: registers this machine as a Client of the session's user, keeps it online, and
 * carries every task whose end is on it (its user's, or its Client's), within its roots. It rides out a lost
 * network: check-ins and files are tried again until the server answers, and files resume where they stopped.
 */
export class Agent {
  private readonly link: Link;
  private readonly onEvent: (event: AgentEvent) => void;
  private running: { controller: AbortController; work: Promise<unknown> } | undefined;

  constructor(
    session: Session,
    private readonly options: AgentOptions = {},
  ) {
    this.link = linkOf(session);
    this.onEvent = (event) => {
      try {
        options.onEvent?.(event);
      } catch {
        // A listener's mistake is not the agent's.
      }
    };
  }

  /** This machine's Client, once checked in. */
  get client(): string | undefined {
    return this.link.client;
  }

  /**
   * Checks in (until the network lets it), then carries in the background until `stop()`. Answers the Client's id.
   * A root that is not a directory, or a refusal of the check-in (a disabled client, bad credentials), is thrown.
   */
  async start(): Promise<{ client: string }> {
    if (this.running) throw new AccsynError('The agent is running already.');
    const given = this.options.roots ?? [homedir()];
    for (const root of given) {
      if (!(await stat(root).catch(() => undefined))?.isDirectory()) {
        throw new AccsynError(`The root "${root}" is not a directory.`);
      }
    }
    const roots = await Roots.of(given);
    const controller = new AbortController();
    const presence = new Presence(this.link, roots.given, this.onEvent);
    this.running = { controller, work: Promise.resolve() };
    try {
      const { client, checkin } = await presence.checkIn(controller.signal);
      const carrier = new Carrier(this.link, {
        client,
        roots,
        concurrency: this.options.concurrency,
        onEvent: this.onEvent,
      });
      const work = Promise.all([carrier.run(controller.signal), presence.keep(checkin, controller.signal)]);
      this.running = { controller, work };
      return { client };
    } catch (error) {
      this.running = undefined;
      throw error;
    }
  }

  /** Stops carrying (part files stay, to be resumed) and tells the server this machine is offline. */
  async stop(): Promise<void> {
    const running = this.running;
    if (!running) return;
    this.running = undefined;
    running.controller.abort();
    await running.work.catch(() => undefined);
    const client = this.link.client;
    if (client)
      await agentEvents(this.link)
        .offline(client, AbortSignal.timeout(10_000))
        .catch(() => undefined);
    this.onEvent({ type: 'stopped' });
  }
}
