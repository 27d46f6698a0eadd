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
  /**
   * Where clients reach this server (`https://accsyn.example.com`), as the master lookup answers it; undefined for
   * the address it listens on.
   */
  readonly publicUrl: URL | undefined;
  /** Addresses or CIDR ranges of proxies whose X-Forwarded-For is believed. */
  readonly trustProxy: readonly string[];
  /** The largest request body, in bytes; beyond it a request gets 413. */
  readonly bodyLimit: number;
  /** Jobs finished longer ago than this many days are archived: only `archived` finds them. */
  readonly archiveAfterDays: number;
  /** Whether this node's transfer engine runs transfers (src/transfers/). */
  readonly transfers: boolean;
  /**
   * How long a node's claim on a transfer lasts unless renewed (it is, several times a second): once a node dies,
   * another takes its transfers over after this.
   */
  readonly transferLeaseMs: number;
  readonly limits: LimitsConfig;
  /** The largest request line and headers, in bytes: GET events carry their payload in the URL. */
  readonly maxHeaderSize: number;
  /** How long a new connection has for its TLS handshake, and each request for its request line and headers. */
  readonly headerTimeoutMs: number;
  readonly bootstrap: {
    readonly workspace: string | undefined;
    readonly admin: string | undefined;
    readonly apiKey: string | undefined;
  };
}

/** The rate limits (reference §5.1), each of which can be set or turned off. */
export interface LimitsConfig {
  /** Requests per second and burst per client, by path prefix, longest prefix first. */
  readonly edge: readonly EdgeLimit[];
  /** Open connections per client; 0 for no cap. */
  readonly connectionsPerClient: number;
  /** Open connections in all; undefined for a cap below the process's file limit. */
  readonly connectionsTotal: number | undefined;
  /** The backend throttle of authentication and unauthenticated calls; undefined when off. */
  readonly throttle: ThrottleConfig | undefined;
  /** IPv6 clients are one client per network of this prefix length. */
  readonly ipv6Prefix: number;
  /** When Redis cannot be reached: let requests through, or answer 503. */
  readonly redisFailure: 'open' | 'closed';
}

export interface EdgeLimit {
  /** The policy's name in the RateLimit headers. */
  readonly name: string;
  readonly prefixes: readonly string[];
  readonly rate: number;
  readonly burst: number;
}

export interface ThrottleConfig {
  /** Hits in the window after which calls are refused (429) rather than delayed. */
  readonly max: number;
  readonly windowMs: number;
  /** The longest delay, reached at `max` hits. */
  readonly maxDelayMs: number;
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
  'public-url': {
    env: 'ACCSYN_PUBLIC_URL',
    help: 'where clients reach the server, as the master lookup answers (default the listening address)',
  },
  'trust-proxy': { env: 'ACCSYN_TRUST_PROXY', help: 'comma-separated proxy addresses or CIDRs to trust' },
  'body-limit': { env: 'ACCSYN_BODY_LIMIT', help: 'largest request body in bytes (default 33554432)' },
  'archive-after-days': {
    env: 'ACCSYN_ARCHIVE_AFTER_DAYS',
    help: 'days after which a finished job is archived (default 14)',
  },
  'limit-api': { env: 'ACCSYN_LIMIT_API', help: 'requests/s:burst per client on /api (default 30:60, or off)' },
  'limit-graphql': { env: 'ACCSYN_LIMIT_GRAPHQL', help: 'requests/s:burst on /graphql (default 20:40, or off)' },
  'limit-files': { env: 'ACCSYN_LIMIT_FILES', help: 'requests/s:burst on /proxy, /u, /d (default 20:40, or off)' },
  'max-connections': { env: 'ACCSYN_MAX_CONNECTIONS', help: 'open connections per client (default 100, 0 for no cap)' },
  'max-connections-total': {
    env: 'ACCSYN_MAX_CONNECTIONS_TOTAL',
    help: 'open connections in all (default: below the file limit)',
  },
  'header-timeout': {
    env: 'ACCSYN_HEADER_TIMEOUT',
    help: 'seconds for the TLS handshake and for the request headers (default 10)',
  },
  throttle: {
    env: 'ACCSYN_THROTTLE',
    help: 'hits:window seconds:longest delay seconds of the auth throttle (default 50:300:10, or off)',
  },
  'ipv6-prefix': { env: 'ACCSYN_IPV6_PREFIX', help: 'IPv6 clients are grouped by this prefix length (default 64)' },
  'redis-failure': { env: 'ACCSYN_REDIS_FAILURE', help: 'without Redis: open (let requests in) or closed (503)' },
  transfers: {
    env: 'ACCSYN_TRANSFERS',
    help: 'on: this node runs transfers; off: it only answers the API (default on)',
  },
  'transfer-lease': {
    env: 'ACCSYN_TRANSFER_LEASE',
    help: "seconds after which another node takes over a dead node's transfers (default 15)",
  },
} as const;

type Setting = keyof typeof SETTINGS;

const widest = (names: string[]) => Math.max(...names.map((name) => name.length));
const [flagWidth, envWidth] = [widest(Object.keys(SETTINGS)), widest(Object.values(SETTINGS).map((s) => s.env))];

export const SETTINGS_HELP = Object.entries(SETTINGS)
  .map(([flag, { env, help }]) => `  --${flag.padEnd(flagWidth)} ${env.padEnd(envWidth)} ${help}`)
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
  const total = get('max-connections-total');
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
    publicUrl: publicUrl(get('public-url')),
    trustProxy: (get('trust-proxy') ?? '')
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean),
    bodyLimit: integer('body-limit', get('body-limit') ?? String(32 * 1024 * 1024), 1024, 2 ** 31),
    maxHeaderSize: 512 * 1024,
    headerTimeoutMs: integer('header-timeout', get('header-timeout') ?? '10', 1, 3600) * 1000,
    archiveAfterDays: integer('archive-after-days', get('archive-after-days') ?? '14', 0, 36500),
    transfers: choice('transfers', get('transfers') ?? 'on', ['on', 'off'] as const) === 'on',
    transferLeaseMs: integer('transfer-lease', get('transfer-lease') ?? '15', 1, 3600) * 1000,
    limits: {
      edge: [
        edgeLimit('limit-api', get('limit-api') ?? '30:60', 'api', ['/api']),
        edgeLimit('limit-graphql', get('limit-graphql') ?? '20:40', 'graphql', ['/graphql']),
        edgeLimit('limit-files', get('limit-files') ?? '20:40', 'files', ['/proxy', '/u', '/d']),
      ].filter((limit): limit is EdgeLimit => limit !== undefined),
      connectionsPerClient: integer('max-connections', get('max-connections') ?? '100', 0, 1_000_000),
      connectionsTotal: total === undefined ? undefined : integer('max-connections-total', total, 1, 10_000_000),
      throttle: throttle(get('throttle') ?? '50:300:10'),
      ipv6Prefix: integer('ipv6-prefix', get('ipv6-prefix') ?? '64', 1, 128),
      redisFailure: choice('redis-failure', get('redis-failure') ?? 'open', ['open', 'closed'] as const),
    },
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

/** An http(s) URL with a host and nothing after it: the master lookup answers its host and port. */
function publicUrl(text: string | undefined): URL | undefined {
  if (text === undefined) return undefined;
  const url = URL.canParse(text) ? new URL(text) : undefined;
  if (
    !url ||
    (url.protocol !== 'https:' && url.protocol !== 'http:') ||
    url.hostname === '' ||
    url.username !== '' ||
    url.password !== '' ||
    url.pathname !== '/' ||
    url.search !== '' ||
    url.hash !== ''
  ) {
    throw new ConfigError(
      `--public-url (ACCSYN_PUBLIC_URL) must be an http or https URL with a host and an optional port, such as https://accsyn.example.com, not '${text}'`,
    );
  }
  return url;
}

function edgeLimit(name: Setting, text: string, policy: string, prefixes: string[]): EdgeLimit | undefined {
  if (text === 'off') return undefined;
  const [rate = 0, burst = 0] = numbers(name, text, 2, 'requests per second and burst, such as 30:60, or off');
  return { name: policy, prefixes, rate, burst: Math.max(1, Math.floor(burst)) };
}

function throttle(text: string): ThrottleConfig | undefined {
  if (text === 'off') return undefined;
  const [max = 0, windowSeconds = 0, maxDelaySeconds = 0] = numbers(
    'throttle',
    text,
    3,
    'hits, window seconds and longest delay seconds, such as 50:300:10, or off',
  );
  return { max: Math.floor(max), windowMs: windowSeconds * 1000, maxDelayMs: maxDelaySeconds * 1000 };
}

/** `count` positive numbers separated by colons. */
function numbers(name: Setting, text: string, count: number, expected: string): number[] {
  const parts = text.split(':').map(Number);
  // Every part is positive; only a last one after the first two (the throttle's longest delay) may be 0.
  const valid = parts.every((n, i) => Number.isFinite(n) && (n > 0 || (n === 0 && i >= 2)));
  if (parts.length !== count || !valid) {
    throw new ConfigError(`--${name} (${SETTINGS[name].env}) must be ${expected}, not '${text}'`);
  }
  return parts;
}

function choice<T extends string>(name: Setting, text: string, values: readonly T[]): T {
  if (!values.includes(text as T)) {
    throw new ConfigError(`--${name} (${SETTINGS[name].env}) must be ${values.join(' or ')}, not '${text}'`);
  }
  return text as T;
}
