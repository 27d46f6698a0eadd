import { resolve } from 'node:path';
import { parseArgs } from 'node:util';

/** How a server runs: each setting from its flag, else its environment variable, else the default. */
export interface ServerConfig {
  readonly host: string;
  readonly port: number;
  /** Where the SQLite database, admin.env and the default volume's files live. */
  readonly dataDir: string;
  /** A SQLite file path, or a `postgres://` URL. */
  readonly database: string;
  readonly redis: string | undefined;
  readonly tls: { readonly cert: string; readonly key: string } | undefined;
  /** Addresses or CIDR ranges of proxies whose X-Forwarded-For is believed. */
  readonly trustProxy: readonly string[];
  /** The largest request body, in bytes; beyond it a request gets 413. */
  readonly bodyLimit: number;
  /** Jobs finished longer ago than this many days are archived: only `archived` finds them. */
  readonly archiveAfterDays: number;
  /** The largest request line and headers, in bytes: GET events carry their payload in the URL. */
  readonly maxHeaderSize: number;
  readonly bootstrap: {
    readonly workspace: string | undefined;
    readonly admin: string | undefined;
    readonly apiKey: string | undefined;
  };
}

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

/** Each setting: its flag, its environment variable, and what it is, for errors and `--help`. */
const SETTINGS = {
  host: { env: 'ACCSYN_HOST', help: 'address to listen on (default 127.0.0.1)' },
  port: { env: 'ACCSYN_PORT', help: 'port to listen on (default 8181)' },
  'data-dir': { env: 'ACCSYN_DATA_DIR', help: 'data directory (default ./data)' },
  database: { env: 'ACCSYN_DATABASE_URL', help: 'SQLite file or postgres:// URL (default <data-dir>/accsyn.db)' },
  redis: { env: 'ACCSYN_REDIS_URL', help: 'Redis URL for shared rate-limit counters' },
  'tls-cert': { env: 'ACCSYN_TLS_CERT', help: 'TLS certificate file (PEM); serves HTTPS with --tls-key' },
  'tls-key': { env: 'ACCSYN_TLS_KEY', help: 'TLS private key file (PEM)' },
  'trust-proxy': { env: 'ACCSYN_TRUST_PROXY', help: 'comma-separated proxy addresses or CIDRs to trust' },
  'body-limit': { env: 'ACCSYN_BODY_LIMIT', help: 'largest request body in bytes (default 33554432)' },
  'archive-after-days': {
    env: 'ACCSYN_ARCHIVE_AFTER_DAYS',
    help: 'days after which a finished job is archived (default 14)',
  },
} as const;

type Setting = keyof typeof SETTINGS;

export const SETTINGS_HELP = Object.entries(SETTINGS)
  .map(([flag, { env, help }]) => `  --${flag.padEnd(12)} ${env.padEnd(20)} ${help}`)
  .join('\n');

/** Reads the settings from command-line flags and the environment; throws ConfigError naming a bad one. */
export function readConfig(argv: readonly string[], env: NodeJS.ProcessEnv): ServerConfig {
  let flags: Partial<Record<Setting, string>>;
  try {
    const options = Object.fromEntries(Object.keys(SETTINGS).map((flag) => [flag, { type: 'string' as const }]));
    flags = parseArgs({ args: [...argv], options, strict: true, allowPositionals: false }).values as typeof flags;
  } catch (error) {
    throw new ConfigError(`${(error as Error).message}\nSettings (flag, environment variable):\n${SETTINGS_HELP}`);
  }
  const get = (name: Setting): string | undefined => {
    const value = flags[name] ?? env[SETTINGS[name].env];
    return value === undefined || value.trim() === '' ? undefined : value.trim();
  };
  const dataDir = resolve(get('data-dir') ?? 'data');
  const cert = get('tls-cert');
  const key = get('tls-key');
  if ((cert === undefined) !== (key === undefined)) {
    throw new ConfigError('HTTPS needs both --tls-cert and --tls-key (ACCSYN_TLS_CERT and ACCSYN_TLS_KEY)');
  }
  return {
    host: get('host') ?? '127.0.0.1',
    port: integer('port', get('port') ?? '8181', 0, 65_535),
    dataDir,
    database: get('database') ?? resolve(dataDir, 'accsyn.db'),
    redis: get('redis'),
    tls: cert && key ? { cert, key } : undefined,
    trustProxy: (get('trust-proxy') ?? '')
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean),
    bodyLimit: integer('body-limit', get('body-limit') ?? String(32 * 1024 * 1024), 1024, 2 ** 31),
    maxHeaderSize: 512 * 1024,
    archiveAfterDays: integer('archive-after-days', get('archive-after-days') ?? '14', 0, 36500),
    bootstrap: {
      workspace: env.ACCSYN_BOOTSTRAP_WORKSPACE?.trim() || undefined,
      admin: env.ACCSYN_BOOTSTRAP_ADMIN?.trim() || undefined,
      apiKey: env.ACCSYN_BOOTSTRAP_API_KEY?.trim() || undefined,
    },
  };
}

function integer(name: Setting, text: string, min: number, max: number): number {
  const value = Number(text);
  if (!/^\d+$/.test(text) || value < min || value > max) {
    throw new ConfigError(
      `--${name} (${SETTINGS[name].env}) must be a whole number from ${min} to ${max}, not '${text}'`,
    );
  }
  return value;
}
