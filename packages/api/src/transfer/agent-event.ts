/** What an agent, or the carrier of an upload or download, tells a program that wants to log it. */
export type AgentEvent =
  /** The machine checked in; it is to check in again every `checkin` seconds. */
  | { readonly type: 'checked-in'; readonly client: string; readonly checkin: number }
  | ({ readonly type: 'task-started' } & TaskFacts)
  /** `sent`: the bytes that crossed the network this time, fewer than `size` when the file was resumed. */
  | ({ readonly type: 'task-done'; readonly size: number; readonly sent: number } & TaskFacts)
  | ({ readonly type: 'task-failed'; readonly message: string; readonly permanent: boolean } & TaskFacts)
  /** The server asked for the task to stop (its job was paused or aborted), or the carrier stopped: its part file stays. */
  | ({ readonly type: 'task-stopped' } & TaskFacts)
  /** A call failed on the network, or the server failed (5xx): it is tried again after `delay` milliseconds. */
  | {
      readonly type: 'retrying';
      readonly what: string;
      readonly attempt: number;
      readonly delay: number;
      readonly message: string;
    }
  /** The server refused a call for now (429): it is tried again after `delay` milliseconds. */
  | { readonly type: 'rate-limited'; readonly what: string; readonly delay: number }
  /** The agent stopped carrying and told the server it is offline. */
  | { readonly type: 'stopped' };

export interface TaskFacts {
  readonly task: string;
  readonly job: string;
  readonly kind: 'measure' | 'upload' | 'download';
  /** The file or directory on this machine. */
  readonly local: string;
}
