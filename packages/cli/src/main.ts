import { processIo } from './io.js';
import { run } from './program.js';

/**
 * `accsyn` as a process. The first Ctrl-C (or SIGTERM) ends what runs gently: calls in flight are cancelled, a
 * server or proxy finishes its requests. A second one ends the process at once.
 */
export async function main(): Promise<void> {
  const stop = new AbortController();
  const onSignal = () => {
    if (stop.signal.aborted) process.exit(130);
    stop.abort();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  process.exitCode = await run(process.argv.slice(2), processIo(stop.signal));
  process.off('SIGINT', onSignal);
  process.off('SIGTERM', onSignal);
}
