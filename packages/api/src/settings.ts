import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { DEV_PORT } from 'accsyn-protocol';
import { AccsynError } from './errors.js';

/**
 * Where a session's settings come from (reference §2.1, and the page's promise): the environment beats the
 * constructor's options, unless `environment: false`; an env file (`envFile`, else ACCSYN_CREDENTIALS_PATH, else
 * `./.env`) adds to the environment and beats it. Unlike the official client, we never write the file's values into
 * `process.env`: another session, or the program itself, sees its environment unchanged.
 */

export interface SettingsOptions {
  readonly workspace?: string | undefined;
  readonly username?: string | undefined;
  readonly apiKey?: string | undefined;
  readonly hostname?: string | undefined;
  readonly port?: number | undefined;
  readonly proxy?: string | undefined;
  readonly envFile?: string | undefined;
  /**
   * `true` (the default): the environment beats the options, as the page says. `false`: read nothing from the
   * environment or env files, the options alone. `'fallback'`: the options beat the environment, as in the official
   * client and on our command line, where a flag beats a variable.
   */
  readonly environment?: boolean | 'fallback' | undefined;
  /** The environment to read instead of `process.env`. */
  readonly env?: NodeJS.ProcessEnv | undefined;
}

/** Where the session talks to: a base URL, or the master lookup still to make. */
export type Endpoint =
  | { readonly kind: 'direct'; readonly url: URL }
  | { readonly kind: 'lookup'; readonly url: URL; readonly port: number | undefined };

export interface Settings {
  readonly workspace: string;
  readonly username: string;
  readonly apiKey: string;
  readonly endpoint: Endpoint;
  /** The proxy setting now: re-read before each call, as the official client re-reads ACCSYN_PROXY. */
  readonly proxy: () => string | undefined;
}

export const MASTER_HOST = 'master.accsyn.com';

export function resolveSettings(
  options: SettingsOptions,
  processEnv: NodeJS.ProcessEnv = options.env ?? process.env,
): Settings {
  const useEnvironment = options.environment !== false;
  const optionsFirst = options.environment === 'fallback';
  const file = useEnvironment ? envFile(options.envFile, processEnv) : {};
  const env = useEnvironment ? { ...processEnv, ...file } : {};
  const pick = (option: string | undefined, ...names: string[]) => {
    const given = option?.trim() || undefined;
    if (optionsFirst && given) return given;
    for (const name of names) {
      const value = env[name]?.trim();
      if (value) return value;
    }
    return given;
  };
  const workspace = pick(options.workspace, 'ACCSYN_WORKSPACE', 'ACCSYN_DOMAIN', 'ACCSYN_ORG');
  const username = pick(options.username, 'ACCSYN_API_USER');
  const apiKey = pick(options.apiKey, 'ACCSYN_API_KEY');
  const missing = (option: string, variable: string) =>
    new AccsynError(`No ${option}: pass the '${option}' option or set ${variable}.`);
  if (!workspace) throw missing('workspace', 'ACCSYN_WORKSPACE');
  if (!username) throw missing('username', 'ACCSYN_API_USER');
  if (!apiKey) throw missing('apiKey', 'ACCSYN_API_KEY');
  const portText = pick(options.port === undefined ? undefined : String(options.port), 'ACCSYN_PORT');
  const port = portText === undefined ? undefined : portNumber(portText);
  const dev = env.AS_DEV === '1' || env.AS_DEV === 'true';
  return {
    workspace,
    username,
    apiKey,
    endpoint: endpointOf(pick(options.hostname, 'ACCSYN_HOSTNAME'), port, dev),
    // Read again at each call, from the live environment: the file, then the process, then the option.
    proxy: () =>
      (optionsFirst && options.proxy?.trim()) ||
      (useEnvironment && (file.ACCSYN_PROXY?.trim() || processEnv.ACCSYN_PROXY?.trim())) ||
      options.proxy?.trim() ||
      undefined,
  };
}

/**
 * The server to talk to (reference §1.2): a host given as a name (HTTPS on `port` or 443) or as a URL (its scheme
 * and port); dev mode's plain HTTP on 8181, on 127.0.0.1 unless a host is given; or else the master lookup, which
 * the official client sends to `port` when one is given.
 */
function endpointOf(hostname: string | undefined, port: number | undefined, dev: boolean): Endpoint {
  if (hostname && /^https?:\/\//i.test(hostname)) {
    const url = new URL(hostname);
    if (port !== undefined && !url.port) url.port = String(port);
    return { kind: 'direct', url: new URL(url.origin) };
  }
  if (dev) return { kind: 'direct', url: new URL(`http://${hostname ?? '127.0.0.1'}:${DEV_PORT}`) };
  if (hostname) return { kind: 'direct', url: new URL(`https://${hostname}:${port ?? 443}`) };
  return { kind: 'lookup', url: new URL(`https://${MASTER_HOST}:${port ?? 443}`), port };
}

function portNumber(text: string): number {
  const port = Number(text);
  if (!/^\d+$/.test(text) || port < 1 || port > 65_535) {
    throw new AccsynError(`The port must be a whole number from 1 to 65535, not '${text}'.`);
  }
  return port;
}

/** The variables of the env file in force, or none when there is no file. */
function envFile(option: string | undefined, env: NodeJS.ProcessEnv): Record<string, string> {
  const path = option ?? env.ACCSYN_CREDENTIALS_PATH;
  let text: string;
  try {
    text = readFileSync(resolve(path ?? '.env'), 'utf8');
  } catch (error) {
    // A missing ./.env is normal; a file that was named and is missing is the caller's mistake.
    if (path === undefined && (error as NodeJS.ErrnoException).code === 'ENOENT') return {};
    throw new AccsynError(`Cannot read the env file ${path ?? '.env'}: ${(error as Error).message}`, { cause: error });
  }
  return parseEnvFile(text);
}

/**
 * `KEY=VALUE` lines as the official client reads them: trimmed, `#` lines and blank lines skipped, split at the
 * first `=`, one pair of matching quotes taken off the value. We also accept a leading `export `.
 */
export function parseEnvFile(text: string): Record<string, string> {
  const variables: Record<string, string> = {};
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim().replace(/^export\s+/, '');
    const at = line.indexOf('=');
    if (line === '' || line.startsWith('#') || at <= 0) continue;
    const value = line.slice(at + 1).trim();
    const quoted = /^(['"])(.*)\1$/s.exec(value);
    variables[line.slice(0, at).trim()] = quoted ? (quoted[2] as string) : value;
  }
  return variables;
}
