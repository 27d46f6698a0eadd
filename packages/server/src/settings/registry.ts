import { closeMatches } from 'accsyn-query';
import { badRequest } from '../http/errors.js';

/**
 * The settings this server knows (reference §2.3 `get_setting` ... `delete_setting`): each is held by some kinds of
 * entity, takes values of one type, and has a default. On the wire every value is a string, as the official client
 * asserts; a value is stored in its one canonical spelling ("true", "12", "sha256").
 */

/** What holds settings: the workspace, a user, a job (a queue, transfer, delivery or request), a share. */
export type Holder = 'workspace' | 'user' | 'job' | 'share';

export type SettingType =
  | { readonly kind: 'boolean' }
  | { readonly kind: 'integer'; readonly min: number; readonly max: number }
  | { readonly kind: 'choice'; readonly values: readonly string[] }
  | { readonly kind: 'text'; readonly maxLength: number };

export interface Setting {
  readonly name: string;
  /** Who may hold it; a value set on one of them applies to what lies below it (see `chainOf` in holders.ts). */
  readonly holders: readonly Holder[];
  readonly type: SettingType;
  /** What applies when it is set nowhere; null: nothing, the setting is simply not set. */
  readonly default: string | null;
  readonly description: string;
}

const whole = (min: number, max: number): SettingType => ({ kind: 'integer', min, max });

export const SETTINGS: readonly Setting[] = [
  {
    name: 'transfer_concurrency',
    holders: ['workspace', 'share'],
    type: whole(1, 256),
    default: '4',
    description: 'Transfers that run at once in the workspace; on a share, those that read or write it.',
  },
  {
    name: 'queue_concurrency',
    holders: ['workspace', 'job'],
    type: whole(1, 256),
    default: '2',
    description: 'Jobs of one queue that run at once; on the workspace, for every queue.',
  },
  {
    name: 'task_retries',
    holders: ['workspace', 'job'],
    type: whole(0, 100),
    default: '3',
    description: 'Times a failed task is tried again before its job fails.',
  },
  {
    name: 'checksum',
    holders: ['workspace', 'job'],
    type: { kind: 'choice', values: ['xxhash64', 'sha256'] },
    // xxhash64 keeps up with the disk (about 5 GB/s here); sha256 is there for who needs a cryptographic hash.
    default: 'xxhash64',
    description: 'The checksum that verifies each file a transfer writes.',
  },
  {
    name: 'verify_checksums',
    holders: ['workspace', 'job'],
    type: { kind: 'boolean' },
    default: 'true',
    description: 'Whether each file written is read back and compared with its checksum.',
  },
  {
    name: 'overwrite',
    holders: ['workspace', 'job'],
    type: { kind: 'choice', values: ['skip_identical', 'overwrite', 'rename'] },
    default: 'skip_identical',
    description:
      'What a transfer does with a file that exists where it writes: keeps it when it has the same size and time as the source (and replaces it otherwise), replaces it, or writes beside it as "name (1).ext".',
  },
  {
    name: 'delivery_expiry_hours',
    holders: ['workspace', 'job'],
    type: whole(1, 8760),
    default: '8',
    description: 'Hours a delivery that is never submitted is kept before it expires.',
  },
  {
    name: 'delivery_availability_days',
    holders: ['workspace', 'job'],
    type: whole(1, 3650),
    default: '30',
    description: 'Days a submitted delivery stays available to its recipients.',
  },
  {
    name: 'compute_avoid',
    holders: ['job'],
    type: { kind: 'choice', values: ['enable', 'disable'] },
    default: null,
    description: "accsyn's compute setting of a job or queue, kept as given: this server runs no compute.",
  },
  {
    name: 'download_directory',
    holders: ['user'],
    type: { kind: 'text', maxLength: 1024 },
    default: null,
    description: "Where the user's downloads land on their machine when a transfer names no directory.",
  },
];

const BY_NAME = new Map(SETTINGS.map((setting) => [setting.name, setting]));

const HOLDER_WORDS: Readonly<Record<Holder, string>> = {
  workspace: 'the workspace',
  user: 'a user',
  job: 'a job',
  share: 'a share',
};

/** The settings `holder` may hold, in registry order. */
export function settingsOf(holder: Holder): readonly Setting[] {
  return SETTINGS.filter((setting) => setting.holders.includes(holder));
}

/**
 * The setting `name` of `holder`; a 400 otherwise, that suggests the names meant (among those the holder has) or
 * says who holds a setting of that name.
 */
export function settingNamed(name: unknown, holder: Holder): Setting {
  if (typeof name !== 'string' || name.trim() === '') throw badRequest('setting: data.name must name a setting.');
  const key = name.trim().toLowerCase();
  const setting = BY_NAME.get(key);
  if (setting?.holders.includes(holder)) return setting;
  if (setting) {
    throw badRequest(
      `${setting.name} is not a setting of ${HOLDER_WORDS[holder]}: ${setting.holders.map((h) => HOLDER_WORDS[h]).join(' or ')} holds it.`,
    );
  }
  const names = settingsOf(holder).map((s) => s.name);
  const close = closeMatches(key, names);
  throw badRequest(
    `Unknown setting '${name.trim()}' of ${HOLDER_WORDS[holder]}${close.length > 0 ? `; did you mean ${close.join(' or ')}?` : `; its settings are ${names.join(', ')}.`}`,
  );
}

/** What a setting takes, in words: `a whole number from 1 to 256`, `one of xxhash64, sha256`. */
export function describeType(type: SettingType): string {
  switch (type.kind) {
    case 'boolean':
      return '"true" or "false"';
    case 'integer':
      return `a whole number from ${type.min} to ${type.max}`;
    case 'choice':
      return `one of ${type.values.join(', ')}`;
    case 'text':
      return `text of at most ${type.maxLength} characters`;
  }
}

/** `value` in its canonical spelling for `setting`; a 400 naming the setting and what it takes otherwise. */
export function canonicalValue(setting: Setting, value: unknown): string {
  const wrong = () =>
    badRequest(`Setting ${setting.name} takes ${describeType(setting.type)} (as a string), not ${shown(value)}.`);
  if (typeof value !== 'string') throw wrong();
  const type = setting.type;
  switch (type.kind) {
    case 'boolean': {
      const folded = value.trim().toLowerCase();
      if (folded !== 'true' && folded !== 'false') throw wrong();
      return folded;
    }
    case 'integer': {
      if (!/^\s*[-+]?\d{1,16}\s*$/.test(value)) throw wrong();
      const number = Number(value);
      if (number < type.min || number > type.max) throw wrong();
      return String(number);
    }
    case 'choice': {
      const folded = value.trim().toLowerCase();
      if (!type.values.includes(folded)) throw wrong();
      return folded;
    }
    case 'text':
      // PostgreSQL keeps no U+0000 in text; SQLite would, and the two must agree.
      if (value.length > type.maxLength || value.includes('\u0000')) throw wrong();
      return value;
  }
}

/** A value as an error message shows it: short text quoted, anything else by its kind. */
function shown(value: unknown): string {
  if (typeof value === 'string')
    return value.length <= 40 ? JSON.stringify(value) : `a text of ${value.length} characters`;
  if (Array.isArray(value)) return 'a list';
  if (value === null) return 'null';
  if (typeof value === 'object') return 'an object';
  return `the ${typeof value} ${String(value)}`;
}
