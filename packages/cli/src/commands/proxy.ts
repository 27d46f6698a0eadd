import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { usage } from '../exits.js';
import { wholeNumber } from '../input.js';
import type { Io } from '../io.js';
import { ProxyConfigError, parseListen, parseUpstream, startProxy } from '../proxy.js';

interface ProxyFlags {
  readonly listen: string;
  readonly upstream: string;
  readonly caFile?: string;
  readonly insecure?: boolean;
  readonly connectTimeout: number;
  readonly idleTimeout: number;
  readonly maxConnections: number;
  readonly quiet?: boolean;
}

export function addProxyCommand(program: Command, io: Io): void {
  program
    .command('proxy')
    .description('run the accsyn network proxy: clients speak plain HTTP to it, and it forwards to the workspace')
    .requiredOption('--upstream <url>', 'the workspace to forward to: https://host[:port]')
    .option(
      '--listen <host:port>',
      'where clients reach the proxy (0.0.0.0:8282 for every interface)',
      '127.0.0.1:8282',
    )
    .option('--ca-file <path>', "PEM certificate authorities to trust for the upstream's certificate")
    .option('--insecure', "do not check the upstream's certificate (for tests; anyone on the path can listen in)")
    .option('--connect-timeout <seconds>', 'how long connecting to the upstream may take', wholeNumber(1), 10)
    .option(
      '--idle-timeout <seconds>',
      'how long an exchange may pass no byte before it is given up',
      wholeNumber(1),
      120,
    )
    .option('--max-connections <n>', 'client connections open at once; beyond, 503', wholeNumber(1), 1000)
    .option('-q, --quiet', 'no log on stderr, only the `listening on` line on stdout')
    .action(async (flags: ProxyFlags) => {
      let options: Parameters<typeof startProxy>[0];
      try {
        options = {
          listen: parseListen(flags.listen),
          upstream: parseUpstream(flags.upstream),
          ...(flags.caFile !== undefined && { ca: readCa(flags.caFile) }),
          insecure: flags.insecure === true,
          connectTimeoutMs: flags.connectTimeout * 1000,
          idleTimeoutMs: flags.idleTimeout * 1000,
          maxConnections: flags.maxConnections,
          ...(!flags.quiet && { log: (line: string) => io.stderr.write(`${line}\n`) }),
        };
      } catch (error) {
        if (error instanceof ProxyConfigError) throw usage(error.message);
        throw error;
      }
      let proxy: Awaited<ReturnType<typeof startProxy>>;
      try {
        proxy = await startProxy(options);
      } catch (error) {
        if (error instanceof ProxyConfigError) throw usage(error.message);
        throw error;
      }
      io.stdout.write(`listening on ${proxy.url}\n`);
      await new Promise<void>((resolve) => {
        if (!io.signal || io.signal.aborted) return resolve();
        io.signal.addEventListener('abort', () => resolve(), { once: true });
      });
      await proxy.close();
    });
}

function readCa(path: string): Buffer {
  try {
    return readFileSync(path);
  } catch (error) {
    throw usage(
      `Cannot read the CA file ${path}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}.`,
    );
  }
}
