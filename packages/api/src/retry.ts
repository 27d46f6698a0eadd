import { AbortError, type AccsynError, ConnectionError, RateLimitError, ServerError, TimeoutError } from './errors.js';

/**
 * Retries, which the official client does not make: a 429 was never processed, so every call may be sent again;
 * a read may also be sent again after a failed connection, a timeout or a 502/503/504. Waits grow exponentially
 * with full jitter (a random wait up to the bound, so that many clients do not come back together), and never
 * fall short of the server's Retry-After.
 */
export interface RetryOptions {
  /** Tries in all, the first included (default 5). */
  readonly attempts?: number;
  /** The first wait's bound in milliseconds, doubled each time (default 500). */
  readonly baseDelay?: number;
  /** The largest bound of one wait (default 30 000). */
  readonly maxDelay?: number;
  /** Give up when the next wait would end later than this many milliseconds after the first try (default 120 000). */
  readonly maxTotal?: number;
}

export type RetryPolicy = Required<RetryOptions>;

export function retryPolicy(options: RetryOptions | false | undefined): RetryPolicy {
  if (options === false) return { attempts: 1, baseDelay: 0, maxDelay: 0, maxTotal: 0 };
  return { attempts: 5, baseDelay: 500, maxDelay: 30_000, maxTotal: 120_000, ...options };
}

const RETRYABLE_STATUS = new Set([502, 503, 504]);

/** Whether a failure may be retried: refusals always, failures of the transport or the gateway for reads. */
export function retryable(error: unknown, read: boolean): boolean {
  if (error instanceof RateLimitError) return true;
  if (!read) return false;
  if (error instanceof ConnectionError || error instanceof TimeoutError) return true;
  return error instanceof ServerError && error.status !== undefined && RETRYABLE_STATUS.has(error.status);
}

export async function withRetries<T>(
  policy: RetryPolicy,
  read: boolean,
  signal: AbortSignal | undefined,
  onRetry: (delay: number, error: AccsynError, attempt: number) => void,
  attempt: () => Promise<T>,
): Promise<T> {
  const started = Date.now();
  for (let tries = 1; ; tries++) {
    try {
      return await attempt();
    } catch (error) {
      if (tries >= policy.attempts || !retryable(error, read)) throw error;
      const bound = Math.min(policy.maxDelay, policy.baseDelay * 2 ** (tries - 1));
      const floor = error instanceof RateLimitError && error.retryAfter !== undefined ? error.retryAfter * 1000 : 0;
      const delay = Math.max(floor, Math.random() * bound);
      if (Date.now() - started + delay > policy.maxTotal) throw error;
      onRetry(delay, error as AccsynError, tries);
      await sleep(delay, signal);
    }
  }
}

/** Waits `ms`; an abort of `signal` ends the wait with an AbortError. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(new AbortError('The call was aborted.'));
    const abort = () => {
      clearTimeout(timer);
      reject(new AbortError('The call was aborted.'));
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', abort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', abort, { once: true });
  });
}
