import { hostname, platform } from 'node:os';
import { retryable, sleep } from '../retry.js';
import { VERSION } from '../version.js';
import type { AgentEvent } from './agent-event.js';
import type { Link } from './link.js';
import { agentEvents, type CheckIn, type Machine } from './protocol.js';

/**
 * This machine as a Client of the workspace (`agent/checkin`): registered on the first check-in, kept online by
 * checking in every `checkin` seconds the server asks for. A check-in that fails on the network is tried again
 * after a growing pause, for as long as it takes.
 */
export class Presence {
  private readonly events;
  private readonly machine: Machine;
  private online = false;

  constructor(
    private readonly link: Link,
    roots: readonly string[],
    private readonly onEvent: (event: AgentEvent) => void = () => undefined,
  ) {
    this.events = agentEvents(link);
    this.machine = { code: hostname(), os: osOf(platform()), version: VERSION, roots };
  }

  /** Checks in until the server answers: a refusal (a disabled client, bad credentials) is thrown. */
  async checkIn(signal: AbortSignal): Promise<CheckIn> {
    for (let attempt = 1; ; attempt++) {
      try {
        const answer = await this.events.checkin(this.machine, this.link.client, signal);
        this.link.client = answer.client;
        // Said when the machine comes online, not at every check-in.
        if (!this.online) this.onEvent({ type: 'checked-in', client: answer.client, checkin: answer.checkin });
        this.online = true;
        return answer;
      } catch (error) {
        this.online = false;
        if (signal.aborted || !retryable(error, true)) throw error;
        const delay = Math.min(30_000, 500 * 2 ** Math.min(attempt - 1, 10)) * (0.5 + Math.random() / 2);
        this.onEvent({
          type: 'retrying',
          what: 'checking in',
          attempt,
          delay,
          message: (error as Error)?.message ?? String(error),
        });
        await sleep(delay, signal);
      }
    }
  }

  /** Checks in every `seconds` until `signal` aborts; a refusal is reported and tried again at the next turn. */
  async keep(seconds: number, signal: AbortSignal): Promise<void> {
    let every = seconds;
    while (!signal.aborted) {
      try {
        await sleep(every * 1000, signal);
        every = (await this.checkIn(signal)).checkin;
      } catch (error) {
        if (signal.aborted) return;
        this.onEvent({
          type: 'retrying',
          what: 'checking in',
          attempt: 1,
          delay: every * 1000,
          message: (error as Error)?.message ?? String(error),
        });
      }
    }
  }
}

function osOf(name: NodeJS.Platform): Machine['os'] {
  if (name === 'win32') return 'windows';
  if (name === 'darwin') return 'mac';
  return 'linux';
}
