import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { AccsynError } from '../src/errors.js';
import { parseEnvFile, resolveSettings } from '../src/settings.js';

const credentials = { workspace: 'acme', username: 'lisa@example.com', apiKey: 'k'.repeat(40) };
const folder = mkdtempSync(join(tmpdir(), 'accsyn-settings-'));
// Each test names an env file, so that no ./.env of the working directory takes part.
const empty = join(folder, 'empty.env');
writeFileSync(empty, '');

describe('where the settings come from', () => {
  it('takes the options when the environment is silent', () => {
    const settings = resolveSettings(credentials, { ACCSYN_CREDENTIALS_PATH: empty });
    expect(settings).toMatchObject(credentials);
  });

  it('lets the environment beat the options, as the page says, unless told not to', () => {
    const env = { ACCSYN_WORKSPACE: 'other', ACCSYN_API_USER: 'env@example.com', ACCSYN_API_KEY: 'e'.repeat(40) };
    expect(resolveSettings({ ...credentials, envFile: empty }, env)).toMatchObject({
      workspace: 'other',
      username: 'env@example.com',
    });
    expect(resolveSettings({ ...credentials, environment: false }, env)).toMatchObject(credentials);
  });

  it("lets the options beat the environment with environment: 'fallback', which still fills the gaps", () => {
    const env = { ACCSYN_WORKSPACE: 'other', ACCSYN_API_KEY: 'e'.repeat(40), ACCSYN_PROXY: 'socks:10.0.0.1:1080' };
    const { apiKey: _, ...rest } = credentials;
    const settings = resolveSettings({ ...rest, envFile: empty, environment: 'fallback', env, proxy: 'h:1' });
    expect(settings).toMatchObject({ workspace: 'acme', username: 'lisa@example.com', apiKey: 'e'.repeat(40) });
    expect(settings.proxy()).toBe('h:1');
    expect(resolveSettings({ ...rest, envFile: empty, environment: 'fallback', env }).proxy()).toBe(
      'socks:10.0.0.1:1080',
    );
  });

  it('falls back to ACCSYN_DOMAIN and ACCSYN_ORG for the workspace', () => {
    const { workspace: _, ...rest } = credentials;
    expect(resolveSettings({ ...rest, envFile: empty }, { ACCSYN_ORG: 'org' }).workspace).toBe('org');
    const both = { ACCSYN_ORG: 'org', ACCSYN_DOMAIN: 'domain' };
    expect(resolveSettings({ ...rest, envFile: empty }, both).workspace).toBe('domain');
  });

  it('reads an env file, which beats the environment, without touching process.env', () => {
    const file = join(folder, 'admin.env');
    writeFileSync(file, '# a comment\nexport ACCSYN_WORKSPACE="from-file"\nACCSYN_API_USER = file@example.com\n\n');
    const env = { ACCSYN_WORKSPACE: 'from-env', ACCSYN_CREDENTIALS_PATH: file };
    expect(resolveSettings(credentials, env)).toMatchObject({ workspace: 'from-file', username: 'file@example.com' });
    expect(resolveSettings({ ...credentials, envFile: file }, {}).workspace).toBe('from-file');
    expect(process.env.ACCSYN_WORKSPACE).toBeUndefined();
    expect(() => resolveSettings({ ...credentials, envFile: join(folder, 'missing.env') }, {})).toThrow(
      /^Cannot read the env file .*missing\.env/,
    );
  });

  it('names the option and the variable of a missing credential', () => {
    expect(() => resolveSettings({ username: 'x', apiKey: 'y', envFile: empty }, {})).toThrow(
      new AccsynError("No workspace: pass the 'workspace' option or set ACCSYN_WORKSPACE."),
    );
    expect(() => resolveSettings({ workspace: 'x', username: 'y', envFile: empty }, {})).toThrow(
      "No apiKey: pass the 'apiKey' option or set ACCSYN_API_KEY.",
    );
  });
});

describe('where the session connects', () => {
  const url = (options: object, env: Record<string, string> = {}) => {
    const { endpoint } = resolveSettings({ ...credentials, ...options, envFile: empty }, env);
    return `${endpoint.kind} ${endpoint.url.href}`;
  };

  it('looks the workspace up at the master, on the port given', () => {
    expect(url({})).toBe('lookup https://master.accsyn.com/');
    expect(url({ port: 9000 })).toBe('lookup https://master.accsyn.com:9000/');
  });

  it('goes to a host by name over HTTPS, or to a URL as written', () => {
    expect(url({ hostname: 'ws.example.com' })).toBe('direct https://ws.example.com/');
    expect(url({ hostname: 'ws.example.com', port: 8443 })).toBe('direct https://ws.example.com:8443/');
    expect(url({}, { ACCSYN_HOSTNAME: 'http://127.0.0.1:8181', ACCSYN_PORT: '9999' })).toBe(
      'direct http://127.0.0.1:8181/',
    );
    expect(url({}, { ACCSYN_HOSTNAME: 'http://10.0.0.5' })).toBe('direct http://10.0.0.5/');
  });

  it('speaks plain HTTP to 127.0.0.1:8181 in dev mode, ignoring the port', () => {
    expect(url({}, { AS_DEV: '1' })).toBe('direct http://127.0.0.1:8181/');
    expect(url({ hostname: '10.0.0.5', port: 443 }, { AS_DEV: 'true' })).toBe('direct http://10.0.0.5:8181/');
  });

  it('refuses a port that is no port', () => {
    expect(() => url({}, { ACCSYN_PORT: 'eighty' })).toThrow(
      "The port must be a whole number from 1 to 65535, not 'eighty'.",
    );
  });
});

describe('env files', () => {
  it('reads lines as the official client does', () => {
    expect(parseEnvFile('A=1\n B = two words \nC=\'quoted\'\nD="x=y"\n#E=no\nnot a line\n=F\n')).toEqual({
      A: '1',
      B: 'two words',
      C: 'quoted',
      D: 'x=y',
    });
  });
});
