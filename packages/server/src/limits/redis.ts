import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { gcraOf, micros, rateDecision, windowDecision, windowOf } from './memory.js';
import type { LimitStore, RateDecision, RateLimit, WindowDecision, WindowLimit } from './store.js';

/**
 * The counters in Redis, shared by every node. Each decision is one Lua script, so it is atomic, and it reads the
 * time from Redis (`TIME`): one clock for all nodes. The scripts do only the part that must be atomic (read the
 * state, decide, write) in whole microseconds, as `memory.ts` does, and return integers; the numbers a caller sees
 * come from the same functions the memory store uses.
 */

/**
 * `now` in µs: ARGV[1] when the caller drives the clock (the `now` option, which exists so that tests can run this
 * store and the memory store on one fake clock), else Redis's clock.
 */
const NOW = `
local now = tonumber(ARGV[1])
if not now then
  local time = redis.call('TIME')
  now = tonumber(time[1]) * 1000000 + tonumber(time[2])
end
`;

/**
 * GCRA. KEYS[1]: the TAT. ARGV[2]: the interval, ARGV[3]: the tolerance. Returns {tat raised to now, now}.
 * Numbers go to Redis as '%.0f'/'%d' strings: Lua's tostring keeps only 14 digits.
 */
const TAKE = `${NOW}
local tat = math.max(tonumber(redis.call('GET', KEYS[1])) or now, now)
if tat - now <= tonumber(ARGV[3]) then
  local later = tat + tonumber(ARGV[2])
  redis.call('SET', KEYS[1], string.format('%.0f', later), 'PX', string.format('%d', math.ceil((later - now) / 1000)))
end
return {tat, now}
`;

/**
 * Sliding-window log. KEYS[1]: a ZSET of hit times. ARGV[2]: the window length, ARGV[3]: max, ARGV[4]: a suffix
 * that keeps members of the same microsecond apart. Returns {hits in the window before this one, oldest, now}.
 */
const HIT = `${NOW}
local length = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', string.format('%.0f', now - length))
local count = redis.call('ZCARD', KEYS[1])
if count >= tonumber(ARGV[3]) then
  return {count, tonumber(redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')[2]), now}
end
local at = string.format('%.0f', now)
redis.call('ZADD', KEYS[1], at, at .. ':' .. ARGV[4])
redis.call('PEXPIRE', KEYS[1], string.format('%d', math.ceil(length / 1000)))
return {count, now, now}
`;

type Scripted = Redis & {
  gcraTake(key: string, now: string, interval: number, tolerance: number): Promise<[number, number]>;
  windowHit(key: string, now: string, length: number, max: number, suffix: string): Promise<[number, number, number]>;
};

export class RedisStore implements LimitStore {
  readonly #redis: Scripted;
  readonly #prefix: string;
  readonly #now: (() => number) | undefined;
  #connecting: Promise<void> | undefined;

  constructor(url: string, options: { prefix?: string; now?: () => number } = {}) {
    // No offline queue and short timeouts: while Redis is down a call fails at once (or within a second) instead of
    // waiting, and the caller decides whether to let the request through.
    const redis = new Redis(url, {
      lazyConnect: true,
      enableOfflineQueue: false,
      connectTimeout: 1000,
      commandTimeout: 1000,
      maxRetriesPerRequest: 1,
    });
    // Failures reach the caller as rejected calls; without a listener ioredis would also print each reconnect error.
    redis.on('error', () => {});
    redis.defineCommand('gcraTake', { numberOfKeys: 1, lua: TAKE });
    redis.defineCommand('windowHit', { numberOfKeys: 1, lua: HIT });
    this.#redis = redis as Scripted;
    this.#prefix = options.prefix ?? '';
    this.#now = options.now;
  }

  async take(key: string, limit: RateLimit): Promise<RateDecision> {
    const gcra = gcraOf(limit);
    await this.#connected();
    const name = `${this.#prefix}gcra:${key}`;
    const [tat, now] = await this.#redis.gcraTake(name, this.#clock(), gcra.interval, gcra.tolerance);
    return rateDecision(tat, now, gcra);
  }

  async hit(key: string, limit: WindowLimit): Promise<WindowDecision> {
    const window = windowOf(limit);
    await this.#connected();
    const name = `${this.#prefix}win:${key}`;
    const [count, oldest, now] = await this.#redis.windowHit(name, this.#clock(), window.length, window.max, suffix());
    return windowDecision(count, oldest, now, window);
  }

  async close(): Promise<void> {
    if (this.#redis.status === 'ready') await this.#redis.quit().catch(() => this.#redis.disconnect());
    else this.#redis.disconnect();
  }

  /**
   * Waits for the first connection, which the first call opens (a command sent before it is ready would fail, as
   * the offline queue is off). Later outages are not waited for: ioredis reconnects and calls fail meanwhile.
   */
  async #connected(): Promise<void> {
    if (this.#redis.status === 'wait') {
      this.#connecting = this.#redis.connect().finally(() => {
        this.#connecting = undefined;
      });
    }
    await this.#connecting;
  }

  /** The time to pass to a script: empty for Redis's own clock. */
  #clock(): string {
    return this.#now ? String(micros(this.#now())) : '';
  }
}

function suffix(): string {
  return randomBytes(6).toString('base64url');
}
