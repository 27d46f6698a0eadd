import { isId } from '../store/ids.js';

/**
 * The two ends of a Transfer, Delivery, Request or Task, written `<party>:<path>` as rsync and scp do:
 *
 *     endpoint = [party ":"] location ["/" | range]
 *     party    = workspace-code | e-mail ["@" hostname] | "site=" code | "client=" id
 *     location = "null" | local-path | "~" ["/" path] | key "=" share ["/" path] | path
 *     range    = "[" first "-" last "]"          (only after a printf frame pattern such as %04d)
 *
 * The syntax is ambiguous, so where the party ends is decided in this order:
 * 1. A drive letter, a colon and a slash (`C:\x`, `C:/x`) start a local path: `C` is not a party.
 * 2. `site=` and `client=` start a party, which runs to the first colon.
 * 3. Other text before the first colon is a party only if it holds no `=`, `/` or `\` (so `share=a/b:c` and
 *    `a/b:c` are paths): an e-mail if it holds an `@`, else a workspace code. Without a colon it is all path.
 * A relative path that would read as something else (`a:b`, `a=b`, `~a`, `null`) is written with `./`.
 */

/** Who is at an end. An omitted party is the workspace's main site (hq), as a workspace code is. */
export type Party =
  | { readonly kind: 'workspace'; readonly code?: string }
  | { readonly kind: 'user'; readonly email: string; readonly hostname?: string }
  | { readonly kind: 'client'; readonly id: string }
  | { readonly kind: 'site'; readonly code: string };

/** A path inside a share; `share` is its code, id or owner's e-mail, `(default)` kept as written. */
export type SharePath = {
  readonly kind: 'share';
  readonly shareType: 'share' | 'volume' | 'folder' | 'home' | 'collection';
  readonly share: string;
  /** Relative, without a leading slash; '' for the share's root. */
  readonly path: string;
};

export type Location =
  | SharePath
  /** Relative to the default volume. */
  | { readonly kind: 'default'; readonly path: string }
  /** In the user's own home share (`~`). */
  | { readonly kind: 'home'; readonly path: string }
  /** Absolute on the user's machine, as written; the caller decides whether its party may have one. */
  | { readonly kind: 'local'; readonly path: string }
  /** A placeholder for an end that is not known yet. */
  | { readonly kind: 'null' };

export interface Endpoint {
  readonly party: Party;
  readonly location: Location;
  /** Written with a trailing slash: into this directory. */
  readonly directory: boolean;
  /** The frames of a file sequence; the location's path keeps its frame pattern (`movie.%04d.jpg`). */
  readonly sequence?: { readonly first: number; readonly last: number };
}

/** Every problem with an endpoint's text: the message names the field and what is wrong with it. */
export class PartyError extends Error {
  override readonly name = 'PartyError';
}

const CODE = /^[A-Za-z0-9_-]+$/;
const EMAIL = /^[\w.+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+$/;
const HOSTNAME = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;
const DRIVE = /^[A-Za-z]:[\\/]/;
const LOCAL = /^(?:[A-Za-z]:[\\/]|\\\\|\/)/;
/** A frame pattern in the last segment, then a bracketed range ending the text. */
const SEQUENCE = /%\d*d[^/\\]*(\[[^\]/\\]*\])$/;

/** The `key=` prefixes of share paths: the share type each names and what must follow the `=`. */
const SHARE_KEYS: ReadonlyMap<string, { type: SharePath['shareType']; noun: string; valid: RegExp }> = new Map([
  ['share', { type: 'share', noun: 'share code or id', valid: CODE }],
  ['volume', { type: 'volume', noun: 'volume code', valid: /^(?:[A-Za-z0-9_-]+|\(default\))$/ }],
  ['folder', { type: 'folder', noun: 'folder id or code', valid: CODE }],
  ['home', { type: 'home', noun: 'e-mail address', valid: EMAIL }],
  ['collection', { type: 'collection', noun: 'collection code', valid: CODE }],
  // The old name of share=, still accepted.
  ['workarea', { type: 'share', noun: 'share code or id', valid: CODE }],
]);

/** Reads `text`; `what` names the field (`source`, `tasks[2].destination`) in the messages of errors. */
export function parseEndpoint(text: string, what: string): Endpoint {
  try {
    return endpoint(text);
  } catch (error) {
    throw error instanceof PartyError ? new PartyError(`${what}: ${error.message}`) : error;
  }
}

function endpoint(text: string): Endpoint {
  if (text === '') throw new PartyError('empty; expected [<party>:]<path> such as "share=projects/in/"');
  if (/\p{Cc}/u.test(text)) throw new PartyError(`${quote(text)} contains a control character`);
  const { head, rest } = splitParty(text);
  const party: Party = head === undefined ? { kind: 'workspace' } : parseParty(head);
  if (rest === '') throw new PartyError(`${quote(text)} has no path after the party`);
  if (rest === 'null') return { party, location: { kind: 'null' }, directory: false };
  const range = SEQUENCE.exec(rest)?.[1];
  const written = range === undefined ? rest : rest.slice(0, -range.length);
  const location = parseLocation(written);
  if (location.kind === 'local' && (party.kind === 'site' || (party.kind === 'workspace' && head !== undefined))) {
    const not = quote(printParty(party));
    throw new PartyError(`${quote(written)} is a path on a user's machine, so its party must be a user, not ${not}`);
  }
  const directory = location.kind === 'local' ? /[\\/]$/.test(written) : written.endsWith('/');
  return range === undefined ? { party, location, directory } : { party, location, directory, sequence: frames(range) };
}

function splitParty(text: string): { head?: string; rest: string } {
  if (DRIVE.test(text)) return { rest: text };
  const colon = text.indexOf(':');
  const server = /^(?:site|client)=/.test(text);
  if (server && colon === -1) {
    throw new PartyError(`${quote(text)} names a party but no path; write ${quote(`${text}:<path>`)}`);
  }
  if (colon === -1 || (!server && /[=/\\]/.test(text.slice(0, colon)))) return { rest: text };
  return { head: text.slice(0, colon), rest: text.slice(colon + 1) };
}

function parseParty(head: string): Party {
  if (head.startsWith('site=')) return { kind: 'site', code: checked(head.slice(5), head, 'site', 'site code', CODE) };
  if (head.startsWith('client=')) {
    const id = head.slice(7);
    if (!isId(id)) throw new PartyError(`client id ${quote(id)} is not 24 lowercase letters and digits`);
    return { kind: 'client', id };
  }
  if (!head.includes('@')) {
    if (CODE.test(head)) return { kind: 'workspace', code: head };
    throw new PartyError(
      `${quote(head)} before ":" is not a workspace code (letters, digits, "-" and "_"); write a relative path as "./${head}:…"`,
    );
  }
  const second = head.indexOf('@', head.indexOf('@') + 1);
  const email = second === -1 ? head : head.slice(0, second);
  if (!EMAIL.test(email)) throw new PartyError(`${quote(email)} is not an e-mail address`);
  if (second === -1) return { kind: 'user', email };
  const hostname = head.slice(second + 1);
  if (!HOSTNAME.test(hostname)) throw new PartyError(`${quote(hostname)} after "${email}@" is not a hostname`);
  return { kind: 'user', email, hostname };
}

function parseLocation(text: string): Location {
  if (LOCAL.test(text)) return { kind: 'local', path: trimLocal(text) };
  // Server paths are the same on every platform, so a backslash is a typo for a slash or a very odd file name.
  if (text.includes('\\')) throw new PartyError(`${quote(text)} has a "\\"; separate folders with "/"`);
  if (text === '~' || text.startsWith('~/')) return { kind: 'home', path: relative(text.slice(1), text) };
  if (text.startsWith('~')) {
    throw new PartyError(`${quote(text)}: "~" is your own home share; write another user's as home=<e-mail>/…`);
  }
  const key = /^([^/=]*)=/.exec(text)?.[1];
  if (key === undefined) return { kind: 'default', path: relative(text, text) };
  const known = SHARE_KEYS.get(key);
  if (known === undefined) {
    const keys = [...SHARE_KEYS.keys()].map((name) => `${name}=`).join(', ');
    throw new PartyError(`${quote(text)} starts with an unknown prefix ${quote(`${key}=`)}; known prefixes: ${keys}`);
  }
  const value = text.slice(key.length + 1);
  const slash = value.indexOf('/');
  const share = slash === -1 ? value : value.slice(0, slash);
  checked(share, text, key, known.noun, known.valid);
  return { kind: 'share', shareType: known.type, share, path: relative(slash === -1 ? '' : value.slice(slash), text) };
}

/** `value`, the code or e-mail after `key=` in `text`, if it is one. */
function checked(value: string, text: string, key: string, noun: string, valid: RegExp): string {
  if (value === '') throw new PartyError(`${quote(text)} has no ${noun} after ${key}=`);
  if (!valid.test(value)) throw new PartyError(`${quote(value)} after ${key}= is not a valid ${noun}`);
  return value;
}

/** Normalises a path inside a share: no empty or `.` segments, `..` undone but never above the share's root. */
function relative(path: string, text: string): string {
  const segments: string[] = [];
  for (const segment of path.split('/')) {
    if (segment === '..') {
      if (segments.pop() === undefined) throw new PartyError(`".." climbs out of the share (${quote(text)})`);
    } else if (segment !== '' && segment !== '.') {
      segments.push(segment);
    }
  }
  return segments.join('/');
}

/** A local path without its trailing separators (they set `directory`), unless that would leave no root. */
function trimLocal(path: string): string {
  let trimmed = path;
  while (/[\\/]$/.test(trimmed) && LOCAL.test(trimmed.slice(0, -1))) trimmed = trimmed.slice(0, -1);
  return trimmed;
}

function frames(range: string): { first: number; last: number } {
  const bounds = /^\[(\d{1,15})-(\d{1,15})\]$/.exec(range);
  if (bounds === null) throw new PartyError(`frame range ${range} is not [first-last] with whole numbers`);
  const [first, last] = [Number(bounds[1]), Number(bounds[2])];
  if (first > last) throw new PartyError(`frame range ${range} starts after it ends`);
  return { first, last };
}

/** Quotes text for a message, showing control characters as escapes instead of printing them. */
function quote(text: string): string {
  return `"${text.replace(/\p{Cc}/gu, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`)}"`;
}

/** The canonical text of `endpoint`, which parseEndpoint reads back to an equal endpoint. */
export function printEndpoint(endpoint: Endpoint): string {
  const { party, location, sequence } = endpoint;
  const prefix = party.kind === 'workspace' && party.code === undefined ? '' : `${printParty(party)}:`;
  const where = printLocation(location);
  if (sequence !== undefined) return `${prefix}${where}[${sequence.first}-${sequence.last}]`;
  if (!endpoint.directory || /[\\/]$/.test(where)) return prefix + where;
  const backslash = location.kind === 'local' && where.lastIndexOf('\\') > where.lastIndexOf('/');
  return `${prefix}${where}${backslash ? '\\' : '/'}`;
}

function printParty(party: Party): string {
  switch (party.kind) {
    case 'workspace':
      return party.code ?? '';
    case 'user':
      return party.hostname === undefined ? party.email : `${party.email}@${party.hostname}`;
    case 'client':
      return `client=${party.id}`;
    case 'site':
      return `site=${party.code}`;
  }
}

function printLocation(location: Location): string {
  switch (location.kind) {
    case 'share':
      return `${location.shareType}=${location.share}${location.path === '' ? '' : `/${location.path}`}`;
    case 'home':
      return location.path === '' ? '~' : `~/${location.path}`;
    case 'default': {
      const { path } = location;
      if (path === '') return '.';
      return path === 'null' || path.startsWith('~') || /^[^/]*[:=]/.test(path) ? `./${path}` : path;
    }
    case 'local':
      return location.path;
    case 'null':
      return 'null';
  }
}
