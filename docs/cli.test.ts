import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Server, startServer } from '../packages/api/test/support.js';
import { run } from '../packages/cli/src/program.js';

/**
 * Runs the `console` and `terminal` blocks of docs/cli.md in order, in-process, against one fresh server. A block is
 * `$ accsyn ...` lines, each followed by what it prints, stdout and stderr in the order written, and
 * `[exit N]` when it fails. `console` output goes to a pipe and `terminal` output to a terminal. In the expected text,
 * `<id>`, `<date>` and `<key>` stand for an id, a date and an API key; `<...>` stands for any text, and a line of
 * `<...>` alone stands for any lines. `$ID` is the first id the command before printed.
 *
 * A block fenced `console transfers` (or `terminal transfers`) runs against a second server whose transfer engine is
 * on (the first's is off, so that its transfers of files that do not exist stay as they were made), in a directory
 * of its own that holds `plates/a.exr` and `plates/b.exr`.
 */

const page = readFileSync(new URL('./cli.md', import.meta.url), 'utf8');
const blocks = [...page.matchAll(/```(console|terminal)( transfers)?\n([\s\S]*?)```/g)].map(
  ([, kind, transfers, body]) => ({
    tty: kind === 'terminal',
    transfers: transfers !== undefined,
    body: body as string,
  }),
);

const PLACEHOLDERS: Record<string, string> = {
  '<id>': '[0-9a-f]{24}',
  '<date>': '\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\dZ',
  '<key>': '[A-Za-z0-9]{64}',
  '<...>': '.*',
};

/** The expected text as a regular expression. */
function patternOf(expected: string): RegExp {
  if (expected === '') return /^$/;
  const lines = expected.split('\n').map((line) => {
    if (line === '<...>') return '(?:.*\\n)*?';
    const parts = line.split(/(<id>|<date>|<key>|<\.\.\.>)/);
    const source = parts.map((part) => PLACEHOLDERS[part] ?? part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('');
    return `${source}\\n`;
  });
  return new RegExp(`^${lines.join('')}$`);
}

/** A command line's words, as a POSIX shell splits them (quotes, no expansion but `$ID`). */
function wordsOf(line: string, id: string | undefined): string[] {
  const words: string[] = [];
  for (const [, single, double, bare] of line.matchAll(/'([^']*)'|"((?:[^"\\]|\\.)*)"|(\S+)/g)) {
    if (bare !== undefined && /[|<>;&]/.test(bare)) throw new Error(`no shell in the examples: ${line}`);
    const word = single ?? double?.replace(/\\(.)/g, '$1') ?? (bare as string);
    words.push(bare === '$ID' ? (id ?? 'no id yet') : word);
  }
  return words;
}

/** Runs `accsyn` in-process, with stdout and stderr written to one text in the order written. */
async function accsyn(argv: string[], env: NodeJS.ProcessEnv, tty: boolean) {
  let output = '';
  const stream = () => {
    const s = new PassThrough() as PassThrough & { isTTY?: boolean };
    s.isTTY = tty;
    s.on('data', (chunk: Buffer) => {
      output += chunk.toString();
    });
    return s;
  };
  const io = { stdout: stream(), stderr: stream(), stdin: Readable.from([]), env };
  const code = await run(argv, io);
  await new Promise((resolve) => setImmediate(resolve));
  return { code, output };
}

let server: Server;
let env: NodeJS.ProcessEnv;
let engine: Server;
let engineEnv: NodeJS.ProcessEnv;
let workDir: string;

beforeAll(async () => {
  [server, engine] = await Promise.all([startServer(), startServer({}, ['--transfers', 'on'])]);
  env = { ACCSYN_CREDENTIALS_PATH: join(server.dataDir, 'admin.env'), ACCSYN_DATA_DIR: server.dataDir };
  engineEnv = { ACCSYN_CREDENTIALS_PATH: join(engine.dataDir, 'admin.env'), ACCSYN_DATA_DIR: engine.dataDir };
  workDir = mkdtempSync(join(tmpdir(), 'accsyn-docs-cli-'));
  mkdirSync(join(workDir, 'plates'));
  writeFileSync(join(workDir, 'plates', 'a.exr'), 'frame 1001\n');
  writeFileSync(join(workDir, 'plates', 'b.exr'), 'frame 1002\n');
});
afterAll(async () => {
  await Promise.all([server.stop(), engine.stop()]);
  rmSync(workDir, { recursive: true, force: true });
});

describe('docs/cli.md', () => {
  it('has examples', () => {
    expect(blocks.length).toBeGreaterThanOrEqual(8);
  });

  let id: string | undefined;
  it.each(blocks.map((block, i) => [i + 1, block]))('block %i', async (_, block) => {
    const commands = block.body.split(/^\$ /m).filter(Boolean);
    for (const text of commands) {
      const [line = '', ...rest] = text.split('\n');
      const exit = /^\[exit (\d+)\]$/.exec(rest.at(-2) ?? '');
      const expected = rest.slice(0, exit ? -2 : -1).join('\n');
      const [name, ...argv] = wordsOf(line, id);
      expect(name).toBe('accsyn');
      const here = process.cwd();
      if (block.transfers) process.chdir(workDir);
      const { code, output } = await accsyn(argv, block.transfers ? engineEnv : env, block.tty).finally(() =>
        process.chdir(here),
      );
      expect({ command: line, code, output }).toEqual({
        command: line,
        code: exit ? Number(exit[1]) : 0,
        output: expect.stringMatching(patternOf(expected)),
      });
      id = /"id": ?"([0-9a-f]{24})"/.exec(output)?.[1] ?? /\b([0-9a-f]{24})\b/.exec(output)?.[1] ?? id;
    }
  });
});
