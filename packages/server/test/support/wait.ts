export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** `promise`, or a rejection when it has not settled within `ms`: a request that hangs must not hang the test. */
export function within<T>(ms: number, promise: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** Waits until `done()` holds, checking every `stepMs`, at most `limitMs`; answers whether it held. */
export async function until(done: () => boolean | Promise<boolean>, limitMs: number, stepMs = 50): Promise<boolean> {
  for (const started = Date.now(); Date.now() - started < limitMs; await sleep(stepMs)) {
    if (await done()) return true;
  }
  return done();
}
