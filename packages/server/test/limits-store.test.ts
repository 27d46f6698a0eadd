import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { Redis } from 'ioredis';
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import { MemoryStore } from '../src/limits/memory.js';
import { RedisStore } from '../src/limits/redis.js';
import type { LimitStore, RateLimit, WindowLimit } from '../src/limits/store.js';

/**
 * The two rate-limit stores give the same answers: the specification below runs against both on a fake clock, and a
 * property test drives both with one random sequence of requests. Redis runs on loopback; when it is not there, CI
 * fails and elsewhere the Redis half is skipped with a loud notice.
 */

const REDIS_URL = process.env.ACCSYN_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
/** Every key this file writes starts with it, so that concurrent runs don't collide and the end can clean up. */
const PREFIX = `accsyn-limits-test:${process.pid}-${randomBytes(4).toString('hex')}:`;
/** A real clock's magnitude, where a millisecond double has only 12 bits of fraction left. */
const START = 1_785_000_000_000;

const API: RateLimit = { rate: 30, burst: 60 };
const THROTTLE: WindowLimit = { windowMs: 300_000, max: 50 };

async function connectAdmin(): Promise<Redis | undefined> {
  const redis = new Redis(REDIS_URL, { lazyConnect: true, connectTimeout: 2000, maxRetriesPerRequest: 0 });
  redis.on('error', () => {});
  try {
    await redis.connect();
    await redis.ping();
    return redis;
  } catch (error) {
    redis.disconnect();
    const reason = `Redis is not reachable at ${REDIS_URL} (${(error as Error).message})`;
    if (process.env.CI) throw new Error(`${reason}. CI needs it; start it (see .ci/run).`);
    console.warn(`\n!!! SKIPPING the Redis rate-limit tests: ${reason}\n`);
    return undefined;
  }
}

const admin = await connectAdmin();

afterAll(async () => {
  if (!admin) return;
  const keys = await admin.keys(`${PREFIX}*`);
  if (keys.length > 0) await admin.del(...keys);
  await admin.quit();
});

let stores = 0;
const opened: LimitStore[] = [];

afterEach(async () => {
  await Promise.all(opened.splice(0).map((store) => store.close()));
});

function track<S extends LimitStore>(store: S): S {
  opened.push(store);
  return store;
}

function redisStore(options: { now?: () => number } = {}): RedisStore {
  return track(new RedisStore(REDIS_URL, { prefix: `${PREFIX}${++stores}:`, ...options }));
}

/** A clock that moves only when told, in milliseconds (fractions allowed). */
class FakeClock {
  constructor(public time = START) {}
  readonly now = () => this.time;
  advance(ms: number): void {
    this.time += ms;
  }
}

const kinds = [
  { name: 'MemoryStore', open: (clock: FakeClock) => track(new MemoryStore({ now: clock.now })) },
  ...(admin ? [{ name: 'RedisStore', open: (clock: FakeClock) => redisStore({ now: clock.now }) }] : []),
];

async function takeMany(store: LimitStore, key: string, limit: RateLimit, count: number) {
  const decisions = [];
  for (let i = 0; i < count; i++) decisions.push(await store.take(key, limit));
  return decisions;
}

describe.each(kinds)('$name', ({ open }) => {
  it('lets a burst of 60 through at once at 30 r/s, counting down, then rejects', async () => {
    const store = open(new FakeClock());
    const burst = await takeMany(store, 'ip', API, 61);
    expect(burst.slice(0, 60).map((d) => d.remaining)).toEqual(Array.from({ length: 60 }, (_, i) => 59 - i));
    expect(burst[0]).toEqual({ allowed: true, remaining: 59, retryAfterMs: 0, resetMs: 34 });
    expect(burst[1]).toEqual({ allowed: true, remaining: 58, retryAfterMs: 0, resetMs: 67 });
    expect(burst[59]).toEqual({ allowed: true, remaining: 0, retryAfterMs: 0, resetMs: 2000 });
    expect(burst[60]).toEqual({ allowed: false, remaining: 0, retryAfterMs: 34, resetMs: 2000 });
  });

  it('refills at the rate: one request per interval, 30 after a second, a full burst when idle', async () => {
    const clock = new FakeClock();
    const store = open(clock);
    await takeMany(store, 'ip', API, 60);
    clock.advance(34);
    expect(await store.take('ip', API)).toEqual({ allowed: true, remaining: 0, retryAfterMs: 0, resetMs: 2000 });
    expect(await store.take('ip', API)).toEqual({ allowed: false, remaining: 0, retryAfterMs: 33, resetMs: 2000 });

    clock.advance(1000);
    const second = await takeMany(store, 'ip', API, 31);
    expect(second.filter((d) => d.allowed)).toHaveLength(30);
    expect(second[30]?.allowed).toBe(false);

    clock.advance(2000);
    expect((await takeMany(store, 'ip', API, 61)).map((d) => d.allowed)).toEqual([...Array(60).fill(true), false]);
  });

  it('gives exact remaining, retryAfterMs and resetMs at 20 r/s, burst 40', async () => {
    const clock = new FakeClock();
    const store = open(clock);
    const limit = { rate: 20, burst: 40 };
    const burst = await takeMany(store, 'ip', limit, 41);
    expect(burst[0]).toEqual({ allowed: true, remaining: 39, retryAfterMs: 0, resetMs: 50 });
    expect(burst[39]).toEqual({ allowed: true, remaining: 0, retryAfterMs: 0, resetMs: 2000 });
    expect(burst[40]).toEqual({ allowed: false, remaining: 0, retryAfterMs: 50, resetMs: 2000 });
    clock.advance(50);
    expect(await store.take('ip', limit)).toEqual({ allowed: true, remaining: 0, retryAfterMs: 0, resetMs: 2000 });
    clock.advance(25);
    expect(await store.take('ip', limit)).toEqual({ allowed: false, remaining: 0, retryAfterMs: 25, resetMs: 1975 });
    clock.advance(24.5);
    expect(await store.take('ip', limit)).toEqual({ allowed: false, remaining: 0, retryAfterMs: 1, resetMs: 1951 });
    clock.advance(0.5);
    expect(await store.take('ip', limit)).toEqual({ allowed: true, remaining: 0, retryAfterMs: 0, resetMs: 2000 });
  });

  it('means retryAfterMs: a millisecond earlier is rejected, then it passes', async () => {
    const clock = new FakeClock();
    const store = open(clock);
    const limit = { rate: 3, burst: 2 };
    await takeMany(store, 'ip', limit, 2);
    const rejected = await store.take('ip', limit);
    expect(rejected).toEqual({ allowed: false, remaining: 0, retryAfterMs: 334, resetMs: 667 });
    clock.advance(rejected.retryAfterMs - 1);
    expect((await store.take('ip', limit)).allowed).toBe(false);
    clock.advance(1);
    expect((await store.take('ip', limit)).allowed).toBe(true);
  });

  it('counts 50 hits in the window, refuses the 51st until the oldest leaves', async () => {
    const clock = new FakeClock();
    const store = open(clock);
    const hits = [];
    for (let i = 0; i < 50; i++) {
      hits.push(await store.hit('ip', THROTTLE));
      clock.advance(1000);
    }
    expect(hits[0]).toEqual({ allowed: true, previousHits: 0, retryAfterMs: 0 });
    expect(hits[49]).toEqual({ allowed: true, previousHits: 49, retryAfterMs: 0 });
    expect(hits.every((hit, i) => hit.allowed && hit.previousHits === i)).toBe(true);

    // 50 s after the first hit: it leaves the window 250 s from now.
    expect(await store.hit('ip', THROTTLE)).toEqual({ allowed: false, previousHits: 50, retryAfterMs: 250_000 });
    clock.advance(249_999.5);
    expect(await store.hit('ip', THROTTLE)).toEqual({ allowed: false, previousHits: 50, retryAfterMs: 1 });
    clock.advance(0.5);
    expect(await store.hit('ip', THROTTLE)).toEqual({ allowed: true, previousHits: 49, retryAfterMs: 0 });
    expect(await store.hit('ip', THROTTLE)).toEqual({ allowed: false, previousHits: 50, retryAfterMs: 1000 });
  });

  it('keeps keys apart, and the bucket apart from the window of the same key', async () => {
    const store = open(new FakeClock());
    const tiny = { rate: 1, burst: 1 };
    expect((await takeMany(store, 'a', tiny, 2)).map((d) => d.allowed)).toEqual([true, false]);
    expect((await store.take('b', tiny)).allowed).toBe(true);
    const one = { windowMs: 1000, max: 1 };
    expect((await store.hit('a', one)).allowed).toBe(true);
    expect((await store.hit('a', one)).allowed).toBe(false);
    expect(await store.hit('b', one)).toEqual({ allowed: true, previousHits: 0, retryAfterMs: 0 });
  });

  it('rejects limits that make no sense', async () => {
    const store = open(new FakeClock());
    await expect(store.take('ip', { rate: 0, burst: 1 })).rejects.toThrow(RangeError);
    await expect(store.take('ip', { rate: 1, burst: 0.5 })).rejects.toThrow(RangeError);
    await expect(store.hit('ip', { windowMs: 1000, max: 0 })).rejects.toThrow(RangeError);
  });
});

describe('MemoryStore memory', () => {
  it('evicts the least recently touched key beyond maxKeys, which only makes it lenient', async () => {
    const store = track(new MemoryStore({ now: new FakeClock().now, maxKeys: 2 }));
    const once = { rate: 1, burst: 1 };
    await store.take('a', once);
    await store.take('b', once);
    expect((await store.take('a', once)).allowed).toBe(false); // touches a: b is now the oldest
    await store.take('c', once);
    expect(store.size).toBe(2);
    expect((await store.take('a', once)).allowed).toBe(false);
    expect((await store.take('b', once)).allowed).toBe(true); // forgotten, so idle again
  });

  it('sweeps stale keys every minute', async () => {
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] });
    try {
      const clock = new FakeClock();
      const store = track(new MemoryStore({ now: clock.now }));
      await store.take('a', { rate: 1, burst: 1 });
      await store.hit('b', { windowMs: 120_000, max: 5 });
      clock.advance(60_000);
      vi.advanceTimersByTime(60_000);
      expect(store.size).toBe(1); // the bucket drained after a second; the hit stays in its window for two minutes
      clock.advance(60_000);
      vi.advanceTimersByTime(60_000);
      expect(store.size).toBe(0);
    } finally {
      vi.useRealTimers();
    }
  });
});

describe.runIf(admin)('RedisStore on Redis', () => {
  it("works on Redis's own clock: a burst of burst + 1 rejects the last", async () => {
    const store = redisStore();
    const burst = await takeMany(store, 'ip', { rate: 1, burst: 5 }, 6);
    expect(burst.map((d) => [d.allowed, d.remaining])).toEqual([
      [true, 4],
      [true, 3],
      [true, 2],
      [true, 1],
      [true, 0],
      [false, 0],
    ]);
    expect(burst[5]?.retryAfterMs).toBeGreaterThan(900);
    expect(burst[5]?.retryAfterMs).toBeLessThanOrEqual(1000);
  });

  it('lets its keys expire when they no longer matter', async () => {
    const store = redisStore();
    await store.take('ip', API);
    await store.hit('ip', THROTTLE);
    const prefix = `${PREFIX}${stores}:`;
    expect(await admin?.pttl(`${prefix}gcra:ip`)).toBeGreaterThan(0);
    expect(await admin?.pttl(`${prefix}gcra:ip`)).toBeLessThanOrEqual(34);
    expect(await admin?.pttl(`${prefix}win:ip`)).toBeGreaterThan(299_000);
  });

  it('answers exactly as the memory store for any sequence of requests on one clock', async () => {
    const rates: RateLimit[] = [
      { rate: 5, burst: 3 },
      { rate: 2.5, burst: 1 },
      { rate: 7, burst: 4 },
    ];
    // Redis expires keys on its real clock; these limits keep every key alive for 140 ms of real time at least,
    // far longer than a run takes, so that a key never vanishes before the fake clock says it is stale.
    const windows: WindowLimit[] = [
      { windowMs: 1000, max: 3 },
      { windowMs: 2500.5, max: 5 },
    ];
    // Besides random steps, the exact intervals and window lengths, so that requests land on the boundaries.
    const advance = fc.oneof(
      fc.constant(0),
      fc.constantFrom(0.001, 142.857, 200, 400, 1000, 2500.5),
      fc.integer({ min: 0, max: 700 }),
      fc.double({ min: 0, max: 700, noNaN: true }),
    );
    const key = fc.constantFrom('a', 'b', 'c');
    // A bucket may be taken from under different rates, but a window keeps its length: a store forgets a window
    // one length after its last hit, so a longer window on the same key would see a hit the other forgot.
    const windowOfKey = { a: 0, b: 1, c: 0 } as const;
    const request = fc.oneof(
      fc.record({ advance, key, op: fc.constant('take' as const), limit: fc.integer({ min: 0, max: 2 }) }),
      fc.record({ advance, key, op: fc.constant('hit' as const) }),
    );
    const clock = new FakeClock();
    const redis = redisStore({ now: clock.now });
    let run = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(fc.constant(START), fc.double({ min: START, max: START + 1e9, noNaN: true })),
        fc.array(request, { minLength: 1, maxLength: 40 }),
        async (start, requests) => {
          clock.time = start;
          const memory = new MemoryStore({ now: clock.now });
          const namespace = `${++run}:`;
          try {
            for (const request of requests) {
              clock.advance(request.advance);
              const { key } = request;
              if (request.op === 'take') {
                const rate = rates[request.limit] as RateLimit;
                expect(await redis.take(namespace + key, rate)).toEqual(await memory.take(key, rate));
              } else {
                const window = windows[windowOfKey[key]] as WindowLimit;
                expect(await redis.hit(namespace + key, window)).toEqual(await memory.hit(key, window));
              }
            }
          } finally {
            await memory.close();
          }
        },
      ),
      { numRuns: process.env.CI ? 1000 : 100 },
    );
  });
});

describe('RedisStore without Redis', () => {
  it('fails fast instead of waiting', async () => {
    const store = track(new RedisStore('redis://127.0.0.1:1'));
    const started = performance.now();
    await expect(store.take('ip', API)).rejects.toThrow();
    await expect(store.hit('ip', THROTTLE)).rejects.toThrow();
    expect(performance.now() - started).toBeLessThan(1500);
  });
});
