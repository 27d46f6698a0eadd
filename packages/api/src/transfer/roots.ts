import { realpath } from 'node:fs/promises';
import { basename, dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import { LocalError } from './local.js';

/**
 * The directories a carrier may read and write beneath. A path is judged where it really leads: `..` undone, and
 * the symbolic links of the part of it that exists followed, so that neither climbs out of a root.
 */
export class Roots {
  private constructor(
    /** As given, for messages. */
    readonly given: readonly string[],
    private readonly real: readonly string[],
  ) {}

  static async of(paths: readonly string[]): Promise<Roots> {
    const given = paths.map((path) => resolve(path));
    return new Roots(given, await Promise.all(given.map(leadsTo)));
  }

  /** Where `path` leads, when it lies beneath a root; else a permanent LocalError naming it and the roots. */
  async check(path: string): Promise<string> {
    const real = await leadsTo(resolve(path));
    if (this.real.some((root) => beneath(root, real))) return real;
    const roots = this.given.map((root) => `"${root}"`).join(', ');
    throw new LocalError(`"${path}" is outside the roots this machine serves (${roots || 'none'})`, true);
  }
}

function beneath(root: string, path: string): boolean {
  const rest = relative(root, path);
  return rest === '' || (!isAbsolute(rest) && rest !== '..' && !rest.startsWith(`..${sep}`));
}

/** An absolute path with the links of its longest existing part followed; the part that does not exist kept as is. */
async function leadsTo(path: string): Promise<string> {
  const missing: string[] = [];
  for (let at = path; ; at = dirname(at)) {
    try {
      return join(await realpath(at), ...missing.reverse());
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if ((code !== 'ENOENT' && code !== 'ENOTDIR') || dirname(at) === at) return path;
      missing.push(basename(at));
    }
  }
}
