// Writes one benchmark's section of bench/RESULTS.md, keeping the other benchmarks' sections.
import { execSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';

const FILE = new URL('./RESULTS.md', import.meta.url);

function machine() {
  const cpu = os.cpus()[0]?.model ?? 'unknown CPU';
  let commit = 'uncommitted';
  try {
    commit = execSync('git rev-parse --short HEAD', { stdio: ['ignore', 'pipe', 'ignore'] })
      .toString()
      .trim();
  } catch {}
  const memory = Math.round(os.totalmem() / 2 ** 30);
  return `${new Date().toISOString().slice(0, 10)}, ${cpu}, ${os.cpus().length} cores, ${memory} GiB, Node ${process.version}, commit ${commit}`;
}

export function writeResults(key, title, lines) {
  const start = `<!-- ${key}:start -->`;
  const end = `<!-- ${key}:end -->`;
  const section = [start, `## ${title}`, '', `Measured ${machine()}.`, '', ...lines, end].join('\n');
  let text = existsSync(FILE)
    ? readFileSync(FILE, 'utf8')
    : '# Benchmark results\n\nWritten by the benchmarks in `bench/`; each section is replaced when its benchmark runs again.\n';
  const at = text.indexOf(start);
  text =
    at === -1
      ? `${text.trimEnd()}\n\n${section}\n`
      : text.slice(0, at) + section + text.slice(text.indexOf(end) + end.length);
  writeFileSync(FILE, text);
}
