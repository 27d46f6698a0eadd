import type { LimitStore, RateDecision, RateLimit, WindowDecision, WindowLimit } from './store.js';

/**
 * The arithmetic both stores share, and the store that keeps its counters in this process.
 *
 * Times are whole microseconds. In doubles, a millisecond clock near 1.7e12 has a resolution of 2^-12 ms, so a TAT
 * built by adding 1000/rate sixty times drifts: with rate 7 and burst 50, only 49 requests of an idle burst passed.
 * Integers below 2^53 add and compare exactly, in JS and in Redis's Lua alike. The price: the emission interval is
 * rounded to a whole microsecond (30 r/s is 33 333 µs, so 30.0003 r/s).
 */

/** A clock reading in milliseconds (fractions allowed) as whole microseconds. */
export function micros(ms: number): number {
  return Math.round(ms * 1000);
}

/** Microseconds to whole milliseconds, rounded up: waiting that long is always enough. */
function millis(us: number): number {
  return Math.ceil(us / 1000);
}

/** A GCRA limit in microseconds: the time one request costs (T), and how far ahead of now the TAT may run (tau). */
export interface Gcra {
  readonly interval: number;
  readonly tolerance: number;
}

export function gcraOf({ rate, burst }: RateLimit): Gcra {
  if (!(rate > 0) || !Number.isInteger(burst) || burst < 1) {
    throw new RangeError(`a rate limit needs rate > 0 and a whole burst >= 1, not ${rate}/${burst}`);
  }
  const interval = Math.max(1, Math.round(1_000_000 / rate));
  return { interval, tolerance: (burst - 1) * interval };
}

/**
 * The decision for a request at `now` on a bucket whose TAT is `tat` (already raised to `now`): it passes iff
 * `tat - now <= tolerance`. Then `remaining = floor((tolerance - (tat - now)) / interval)`: burst - 1 for the first
 * of a burst on an idle key, 0 for the last. A rejected request is told to come back when the TAT is `tolerance`
 * ahead of the clock again.
 */
export function rateDecision(tat: number, now: number, { interval, tolerance }: Gcra): RateDecision {
  const ahead = tat - now;
  if (ahead > tolerance) {
    return { allowed: false, remaining: 0, retryAfterMs: millis(ahead - tolerance), resetMs: millis(ahead) };
  }
  const remaining = Math.floor((tolerance - ahead) / interval);
  return { allowed: true, remaining, retryAfterMs: 0, resetMs: millis(ahead + interval) };
}

/** A window limit in microseconds. */
export interface Window {
  readonly length: number;
  readonly max: number;
}

export function windowOf({ windowMs, max }: WindowLimit): Window {
  if (!(windowMs > 0) || !Number.isInteger(max) || max < 1) {
    throw new RangeError(`a window limit needs windowMs > 0 and a whole max >= 1, not ${windowMs}/${max}`);
  }
  return { length: micros(windowMs), max };
}

/** The decision for a hit when `count` hits, the oldest at `oldest`, are in the window ending at `now`. */
export function windowDecision(count: number, oldest: number, now: number, window: Window): WindowDecision {
  if (count < window.max) return { allowed: true, previousHits: count, retryAfterMs: 0 };
  return { allowed: false, previousHits: count, retryAfterMs: Math.max(1, millis(oldest + window.length - now)) };
}

/** A key's state and the instant (µs) from which it no longer matters: the same as having no state at all. */
type Entry =
  | { readonly expiresAt: number; readonly tat: number }
  | { readonly expiresAt: number; readonly hits: number[] };

const SWEEP_INTERVAL_MS = 60_000;

/**
 * Counters in a Map, named like the Redis keys (`gcra:<key>`, `win:<key>`). Memory is bounded: stale entries go on
 * access and in a sweep every minute, and beyond `maxKeys` (default 100 000) the least recently touched entry is
 * evicted. An evicted key starts again as idle (a full bucket, an empty window), so eviction can only make a
 * decision more lenient, never stricter.
 */
export class MemoryStore implements LimitStore {
  readonly #now: () => number;
  readonly #maxKeys: number;
  /** In order of last touch, oldest first: a touched entry is deleted and set again. */
  readonly #entries = new Map<string, Entry>();
  readonly #sweeper: NodeJS.Timeout;

  constructor(options: { now?: () => number; maxKeys?: number } = {}) {
    this.#now = options.now ?? Date.now;
    this.#maxKeys = options.maxKeys ?? 100_000;
    this.#sweeper = setInterval(() => this.#sweep(), SWEEP_INTERVAL_MS).unref();
  }

  /** Keys held, stale ones included until they are noticed. */
  get size(): number {
    return this.#entries.size;
  }

  async take(key: string, limit: RateLimit): Promise<RateDecision> {
    const gcra = gcraOf(limit);
    const now = micros(this.#now());
    const name = `gcra:${key}`;
    const entry = this.#live(name, now);
    const tat = Math.max(entry && 'tat' in entry ? entry.tat : now, now);
    const decision = rateDecision(tat, now, gcra);
    if (decision.allowed) this.#set(name, { tat: tat + gcra.interval, expiresAt: tat + gcra.interval });
    return decision;
  }

  async hit(key: string, limit: WindowLimit): Promise<WindowDecision> {
    const window = windowOf(limit);
    const now = micros(this.#now());
    const name = `win:${key}`;
    const entry = this.#live(name, now);
    const hits = entry && 'hits' in entry ? entry.hits : [];
    const expired = hits.findIndex((at) => at > now - window.length);
    hits.splice(0, expired < 0 ? hits.length : expired);
    const decision = windowDecision(hits.length, hits[0] ?? now, now, window);
    if (decision.allowed) {
      // Sorted, as in the Redis ZSET, even if the clock stepped back.
      const after = hits.findLastIndex((at) => at <= now);
      hits.splice(after + 1, 0, now);
      this.#set(name, { hits, expiresAt: now + window.length });
    }
    return decision;
  }

  async close(): Promise<void> {
    clearInterval(this.#sweeper);
  }

  /** The entry of `name` if it still matters at `now`, touched; a stale one is dropped. */
  #live(name: string, now: number): Entry | undefined {
    const entry = this.#entries.get(name);
    if (entry === undefined) return undefined;
    this.#entries.delete(name);
    if (entry.expiresAt <= now) return undefined;
    this.#entries.set(name, entry);
    return entry;
  }

  #set(name: string, entry: Entry): void {
    this.#entries.delete(name);
    this.#entries.set(name, entry);
    for (const oldest of this.#entries.keys()) {
      if (this.#entries.size <= this.#maxKeys) break;
      this.#entries.delete(oldest);
    }
  }

  #sweep(): void {
    const now = micros(this.#now());
    for (const [name, entry] of this.#entries) if (entry.expiresAt <= now) this.#entries.delete(name);
  }
}
