import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { isAbsolute, join, relative, resolve, sep } from 'node:path';

/**
 * Paths on this machine, as `accsyn cp` and `accsyn agent` take them. A path is local when it is absolute here,
 * starts with `./`, `../` or `~/` (or is `.`, `..` or `~`), or exists here; any other is a share path
 * (`folder=projects/in`, or `renders/a.exr` on the default volume).
 */

const MARKED = /^(\.\.?|~)([\\/]|$)/;

export function isLocal(path: string): boolean {
  return isAbsolute(path) || MARKED.test(path) || existsSync(path);
}

/**
 * The path made absolute: `~` is the home directory, a relative path is from the current directory. A trailing
 * separator (into a directory) stays.
 */
export function absoluteLocal(path: string): string {
  const expanded = path === '~' || /^~[\\/]/.test(path) ? join(homedir(), path.slice(1)) : path;
  return `${resolve(expanded)}${endsInSeparator(path) && resolve(expanded) !== sep ? sep : ''}`;
}

export function endsInSeparator(path: string): boolean {
  return /[\\/]$/.test(path);
}

/** A local path for people: below the current directory as `./a/b`, else as it is. */
export function shownLocal(path: string): string {
  const below = relative(process.cwd(), path);
  if (below === '') return '.';
  const outside = below === '..' || below.startsWith(`..${sep}`) || isAbsolute(below);
  return outside ? path : `.${sep}${below}`;
}
