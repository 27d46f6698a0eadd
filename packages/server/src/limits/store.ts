/**
 * The two rate-limit algorithms and where their counters live. A store answers one decision per request, atomically,
 * with its own clock: the memory store the process's, the Redis store Redis's (one clock for every node).
 */

/** The edge layer's limit for one key: nginx `limit_req` with `burst` and `nodelay`, as a GCRA. */
export interface RateLimit {
  /** Requests per second, sustained. */
  readonly rate: number;
  /** Requests that may arrive at once on an idle key; beyond, they are rejected until the bucket drains. */
  readonly burst: number;
}

export interface RateDecision {
  readonly allowed: boolean;
  /** Requests that would still pass at once after this one. */
  readonly remaining: number;
  /** Milliseconds until a request would pass (0 when allowed). */
  readonly retryAfterMs: number;
  /** Milliseconds until the bucket is empty again (the key is idle). */
  readonly resetMs: number;
}

/** The backend throttle's window for one key: a sliding-window log of hits. */
export interface WindowLimit {
  /** Length of the window, in milliseconds (about five minutes). */
  readonly windowMs: number;
  /** Hits in the window beyond which requests are refused rather than delayed (50). */
  readonly max: number;
}

export interface WindowDecision {
  readonly allowed: boolean;
  /** Hits in the window before this one (0 for the first: no delay). Counts only when allowed. */
  readonly previousHits: number;
  /** When refused: milliseconds until the oldest hit leaves the window. */
  readonly retryAfterMs: number;
}

export interface LimitStore {
  /** Takes one request from the GCRA bucket of `key`. */
  take(key: string, limit: RateLimit): Promise<RateDecision>;
  /** Records one hit in the window of `key`, unless the window is full. */
  hit(key: string, limit: WindowLimit): Promise<WindowDecision>;
  close(): Promise<void>;
}
