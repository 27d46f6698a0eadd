import { describe, expect, it } from 'vitest';
import { retryAfterOf } from '../src/answers.js';
import { ConnectionError, RateLimitError, ServerError, TimeoutError } from '../src/errors.js';
import { retryable, retryPolicy, withRetries } from '../src/retry.js';

describe('which failures are retried', () => {
  it('retries refusals always, and failures of the way for reads only', () => {
    expect(retryable(new RateLimitError('x', 1), false)).toBe(true);
    for (const error of [new ConnectionError('x'), new TimeoutError('x'), new ServerError('x', { status: 503 })]) {
      expect(retryable(error, true)).toBe(true);
      expect(retryable(error, false)).toBe(false);
    }
    expect(retryable(new ServerError('x', { status: 500 }), true)).toBe(false);
  });

  it('gives up after the attempts, waiting at least Retry-After between them', async () => {
    const waits: number[] = [];
    let tries = 0;
    const failing = withRetries(
      retryPolicy({ attempts: 3, baseDelay: 1, maxDelay: 1 }),
      true,
      undefined,
      (delay) => {
        waits.push(delay);
      },
      async () => {
        tries++;
        throw new RateLimitError('slow down', 0.05);
      },
    );
    await expect(failing).rejects.toThrow('slow down');
    expect(tries).toBe(3);
    expect(waits).toHaveLength(2);
    for (const wait of waits) expect(wait).toBeGreaterThanOrEqual(50);
  });

  it('does not retry when retries are off', async () => {
    let tries = 0;
    await expect(
      withRetries(
        retryPolicy(false),
        true,
        undefined,
        () => {},
        async () => {
          tries++;
          throw new ConnectionError('down');
        },
      ),
    ).rejects.toThrow('down');
    expect(tries).toBe(1);
  });
});

describe('Retry-After', () => {
  const answer = (value?: string) => ({ status: 429, headers: { 'retry-after': value }, text: '' });

  it('reads seconds, an HTTP date, or else the body', () => {
    expect(retryAfterOf(answer('7'), undefined)).toBe(7);
    const inTenSeconds = new Date(Date.now() + 10_000).toUTCString();
    expect(retryAfterOf(answer(inTenSeconds), undefined)).toBeGreaterThanOrEqual(9);
    expect(retryAfterOf(answer(inTenSeconds), undefined)).toBeLessThanOrEqual(10);
    expect(retryAfterOf(answer(), 120)).toBe(120);
    expect(retryAfterOf(answer('soon'), undefined)).toBeUndefined();
  });
});
