import { chmodSync, closeSync, fchmodSync, mkdirSync, openSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';

/**
 * The data directory holds the database (users, key hashes, sessions) and admin.env: what the server makes there is
 * its owner's alone, folders 0700 and files 0600, whatever the umask. The modes are set, not left to the umask,
 * so that the process keeps the operator's umask for what it writes elsewhere (volumes shared with other tools).
 */

/** Makes `folder` and its missing parents, each 0700; a folder that exists is left as it is. */
export function makePrivateFolder(folder: string): void {
  const path = resolve(folder);
  const first = mkdirSync(path, { recursive: true, mode: 0o700 });
  if (first === undefined) return;
  // mkdir takes the umask off the mode: set it on each folder made here, from `folder` up to the first one.
  for (let at = path; ; at = dirname(at)) {
    chmodSync(at, 0o700);
    if (at === first || at === dirname(at)) break;
  }
}

/** Creates `file` empty unless it exists, and makes it 0600 either way. */
export function makePrivateFile(file: string): void {
  const fd = openSync(file, 'a', 0o600);
  try {
    fchmodSync(fd, 0o600);
  } finally {
    closeSync(fd);
  }
}

/** Makes `file` 0600 if it exists. */
export function restrictFile(file: string): void {
  try {
    chmodSync(file, 0o600);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
}

/** The mode of an existing folder that others may enter or read, as octal text; undefined when private or missing. */
export function openToOthers(folder: string): string | undefined {
  try {
    const mode = statSync(folder).mode & 0o777;
    return mode & 0o077 ? mode.toString(8).padStart(4, '0') : undefined;
  } catch {
    return undefined;
  }
}
