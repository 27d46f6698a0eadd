// What the benchmarks over HTTP share: child processes that are always stopped, the official client's wire, and
// bounded load: autocannon at saturation, an evenly paced generator at a given rate. Imported by bench/server/run.js, bench/limits/run.js and bench/client/run.js.
import { execFileSync, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { connect as netConnect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import autocannon from 'autocannon';
import { authorizationHeader, encodeEnvelope, queryStringOf } from '../packages/protocol/dist/index.js';

export const WORKSPACE = 'bench';
export const ADMIN = 'admin@bench.test';
// A fixed key of 64 letters and digits, as the server generates them; the server is on loopback and lives minutes.
export const API_KEY = 'BenchKey0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTU';
export const SERVER = new URL('../packages/server/dist/main.js', import.meta.url).pathname;
/** Server flags that turn the rate limits off: they would refuse one client's load; bench/limits measures them. */
export const NO_LIMITS = ['--limit-api', 'off', '--max-connections', '0', '--throttle', 'off'];
/** On its first start on an empty data directory, the server makes this workspace, its admin and the admin's key. */
export const BOOTSTRAP_ENV = {
  ACCSYN_BOOTSTRAP_WORKSPACE: WORKSPACE,
  ACCSYN_BOOTSTRAP_ADMIN: ADMIN,
  ACCSYN_BOOTSTRAP_API_KEY: API_KEY,
};

// --- child processes, always stopped ----------------------------------------------------------------------------

const children = new Set();
const scratch = [];
process.on('exit', () => {
  for (const child of children) child.kill('SIGKILL');
  for (const dir of scratch) rmSync(dir, { recursive: true, force: true });
});
for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => process.exit(130));

/** A new temporary directory, removed when this process exits. */
export function scratchDir(name) {
  const dir = mkdtempSync(join(tmpdir(), `accsyn-bench-${name}-`));
  scratch.push(dir);
  return dir;
}

/** Starts `node <args>` with its output in `<dir>/<name>.log`; resolves when it prints `listening on <url>`. */
export async function start(dir, name, args, env = {}) {
  const log = join(dir, `${name}.log`);
  const fd = openSync(log, 'w');
  const child = spawn(process.execPath, args, { stdio: ['ignore', fd, fd], env: { ...process.env, ...env } });
  closeSync(fd);
  children.add(child);
  let exited = false;
  child.once('exit', () => {
    exited = true;
    children.delete(child);
  });
  const deadline = Date.now() + 30_000;
  for (;;) {
    const text = readFileSync(log, 'utf8');
    const url = /^listening on (\S+)$/m.exec(text)?.[1];
    if (url) return { child, url, log };
    if (exited || Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`${name} did not start:\n${text.slice(-2000)}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

const CLOCK_TICKS = Number(execFileSync('getconf', ['CLK_TCK']).toString());

/** CPU time a process has used, all its threads, user and system, in µs (Linux). */
export function cpuOf(pid) {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return ((Number(fields[11]) + Number(fields[12])) * 1e6) / CLOCK_TICKS;
}

/** Asks a child to stop, as an operator would; kills it when it has not gone in 10 s. */
export async function stop({ child }) {
  if (!children.has(child)) return;
  const gone = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
  await gone;
  clearTimeout(timer);
}

// --- the wire, as the official client speaks it ----------------------------------------------------------------

export const headers = {
  Authorization: authorizationHeader(ADMIN, API_KEY),
  'X-Accsyn-Workspace': WORKSPACE,
  'X-Accsyn-Device': 'PythonAPI v3.3.0-0 @ linux bench(posix)',
  Accept: '*/*',
};

/** One request with the client's headers; a body goes with no Content-Type, as Python requests sends a str. */
export function send(base, method, path, body) {
  return new Promise((resolve, reject) => {
    const extra = body === undefined ? {} : { 'Content-Length': Buffer.byteLength(body) };
    const request = httpRequest(new URL(path, base), { method, headers: { ...headers, ...extra } }, (response) => {
      const chunks = [];
      response.on('data', (chunk) => chunks.push(chunk));
      response.on('end', () =>
        resolve({
          status: response.statusCode,
          headers: response.headers,
          text: Buffer.concat(chunks).toString('utf8'),
        }),
      );
    });
    request.on('error', reject);
    request.end(body);
  });
}

export async function login(base) {
  const reply = await send(base, 'PUT', '/api/v3/api/login', '{}');
  if (reply.status !== 200) throw new Error(`login failed: ${reply.status} ${reply.text}`);
  return JSON.parse(reply.text).result.session_id;
}

/** An event's envelope in the client's field order; `extra` adds the fields after data (`query`, `id`). */
export function envelopeOf(session, uri, data, extra = {}) {
  return encodeEnvelope({
    audience: 'api',
    workspace: WORKSPACE,
    eid: randomUUID(),
    session,
    uri,
    ident: ADMIN,
    created: new Date().toISOString().slice(0, 19),
    hostname: 'bench',
    data,
    ...extra,
  });
}

/** The path of a GET event: the envelope, percent-encoded as the whole query string. */
export function eventPath(session, uri, data, query) {
  return `/api/v3/event?${queryStringOf(envelopeOf(session, uri, data, { query }))}`;
}

/** Creates a transfer as the client does (POST, the envelope as the body); answers its id. */
export async function createTransfer(base, session, name) {
  const body = envelopeOf(session, 'transfer/create', { source: `renders/${name}.mov`, destination: `${ADMIN}:/in/` });
  const reply = await send(base, 'POST', '/api/v3/event', body);
  if (reply.status !== 200) throw new Error(`transfer/create answered ${reply.status}: ${reply.text}`);
  return JSON.parse(reply.text).result[0].id;
}

export async function result(base, path) {
  const reply = await send(base, 'GET', path);
  if (reply.status !== 200) throw new Error(`GET ${path.slice(0, 60)}... answered ${reply.status}: ${reply.text}`);
  return { rows: JSON.parse(reply.text).result, body: reply.text };
}

// --- load ---------------------------------------------------------------------------------------------------------

/** Percentile of sorted values, nearest rank. */
export const percentile = (sorted, p) => sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];

/** Median of values; the mean of the middle two for an even count. */
export function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = sorted.length / 2;
  return Number.isInteger(middle) ? (sorted[middle - 1] + sorted[middle]) / 2 : sorted[Math.floor(middle)];
}

/**
 * One bounded autocannon run at saturation (10 connections, no pipelining): requests per second, p50/p99 over every
 * response's own time (autocannon's histogram keeps whole milliseconds only), and the requests that failed (`non2xx`
 * of them answered other than 2xx). For latency at a given rate, see `pacedLoad`: autocannon's `overallRate` lets
 * each connection send its share of a second back to back, then wait, so the server meets bursts, not that rate.
 */
export function load(base, path, seconds) {
  return new Promise((resolve, reject) => {
    const times = [];
    const instance = autocannon(
      {
        url: base,
        requests: [{ method: 'GET', path, headers }],
        connections: 10,
        pipelining: 1,
        duration: seconds,
        timeout: 10,
      },
      (error, outcome) => {
        if (error) return reject(error);
        times.sort((a, b) => a - b);
        resolve({
          base,
          rate: outcome.requests.average,
          count: times.length,
          p50: percentile(times, 50),
          p99: percentile(times, 99),
          failed: outcome.errors + outcome.timeouts + outcome.non2xx,
          non2xx: outcome.non2xx,
        });
      },
    );
    instance.on('response', (_client, _status, _bytes, time) => times.push(time));
  });
}

const REQUEST_TIMEOUT_MS = 10_000;

/** A GET of `url` with the client's headers, as bytes on the wire (HTTP/1.1 keeps the connection open). */
const getBytes = (url) =>
  Buffer.from(
    [
      `GET ${url.pathname}${url.search} HTTP/1.1`,
      `Host: ${url.host}`,
      ...Object.entries(headers).map(([name, value]) => `${name}: ${value}`),
      '',
      '',
    ].join('\r\n'),
    'latin1',
  );

/**
 * An open-loop run at `rate` requests per second for `seconds`: request i is due at start + i / rate, whatever the
 * earlier ones are doing, and goes on a free one of `connections` keep-alive connections (opened as needed), or
 * waits for one when all are busy. Its latency runs from when it was due to the end of its answer, so that a wait
 * behind a slow request counts (no coordinated omission), and so does any lateness of this process's timers. Same
 * outcome as `load`, with `rate` the achieved one (the answers over the time from the start to the last answer) and
 * `late` the p99 of how long after its due time each request was handed to the connections.
 *
 * It writes the request's bytes, made once, on plain sockets and reads an answer to the end of its Content-Length
 * (the servers here always send one), as autocannon does: node:http's client took two to two and a half times the
 * CPU per request, taken on 2 cores from the server under test, and fell behind pacing the bare route at half its
 * rate.
 */
export function pacedLoad(base, path, seconds, rate, connections = 10) {
  return new Promise((resolve) => {
    const url = new URL(path, base);
    const bytes = getBytes(url);
    const total = Math.floor(seconds * rate);
    const times = [];
    const lateness = [];
    const open = new Set();
    const idle = [];
    const waiting = []; // the due times of requests that wait for a free connection
    const start = performance.now();
    let sent = 0;
    let settled = 0;
    let failed = 0;
    let non2xx = 0;
    let last;
    let finished = false;

    // What is still unanswered when it ends (at the deadline) has failed.
    const finish = () => {
      if (finished) return;
      finished = true;
      clearTimeout(deadline);
      failed += total - settled;
      for (const connection of open) connection.socket.destroy();
      times.sort((a, b) => a - b);
      lateness.sort((a, b) => a - b);
      resolve({
        base,
        rate: last === undefined ? 0 : (times.length * 1000) / (last - start),
        count: times.length,
        p50: percentile(times, 50),
        p99: percentile(times, 99),
        late: percentile(lateness, 99),
        failed,
        non2xx,
      });
    };
    const settle = () => {
      if (++settled === total) finish();
    };

    /** A keep-alive connection that carries one request at a time, then takes the next that waits. */
    const connect = () => {
      const socket = netConnect({ host: url.hostname, port: Number(url.port), noDelay: true });
      let due; // of the request it carries; undefined while idle
      let head; // the answer's bytes until the end of its headers
      let status;
      let closes; // the answer says the server closes the connection after it
      let remaining; // bytes of the body still to come, once the headers are read
      const connection = {
        socket,
        send(at) {
          due = at;
          head = undefined;
          remaining = undefined;
          socket.write(bytes);
        },
      };
      const answered = () => {
        last = performance.now();
        times.push(last - due);
        if (status < 200 || status > 299) {
          non2xx++;
          failed++;
        }
        due = undefined;
        // A connection the server closes is not used again; 'close' sends what waits on a new one.
        if (closes) socket.destroy();
        else if (waiting.length > 0) connection.send(waiting.shift());
        else idle.push(connection);
        settle();
      };
      socket.on('data', (chunk) => {
        if (due === undefined) return socket.destroy(); // an answer to no request
        let body = chunk;
        if (remaining === undefined) {
          head = head ? Buffer.concat([head, chunk]) : chunk;
          const end = head.indexOf('\r\n\r\n');
          if (end < 0) return;
          const text = head.toString('latin1', 0, end);
          const length = /\r\ncontent-length: *(\d+)/i.exec(text);
          if (!length) return socket.destroy(new Error('an answer without Content-Length'));
          status = Number(text.slice(9, 12));
          closes = /\r\nconnection: *close/i.test(text);
          remaining = Number(length[1]);
          body = head.subarray(end + 4);
        }
        remaining -= body.length;
        if (remaining <= 0) answered();
      });
      socket.setTimeout(REQUEST_TIMEOUT_MS, () => socket.destroy());
      socket.on('error', () => {}); // 'close' follows
      socket.on('close', () => {
        if (finished) return;
        open.delete(connection);
        if (idle.includes(connection)) idle.splice(idle.indexOf(connection), 1);
        if (due !== undefined) {
          failed++;
          settle();
        }
        if (waiting.length > 0) connect().send(waiting.shift());
      });
      open.add(connection);
      return connection;
    };

    const send = (due) => {
      const connection = idle.pop() ?? (open.size < connections ? connect() : undefined);
      if (connection) connection.send(due);
      else waiting.push(due);
    };

    // Each tick sends every request due by now, their times computed from the start so that late timers do not
    // drift the rate; when several are due at once, they go together.
    const dueAt = (i) => start + (i * 1000) / rate;
    const tick = () => {
      const now = performance.now();
      while (sent < total && dueAt(sent) <= now) {
        lateness.push(now - dueAt(sent));
        send(dueAt(sent++));
      }
      if (sent < total) setTimeout(tick, dueAt(sent) - now);
      else if (settled === total) finish();
    };

    // What is still unanswered a request's timeout after the last was due is given up.
    const deadline = setTimeout(finish, seconds * 1000 + REQUEST_TIMEOUT_MS);
    tick();
  });
}

/** A run's outcome, unless a request failed. */
export function allAnswered(run) {
  if (run.failed > 0) throw new Error(`${run.failed} failed requests (${run.non2xx} not 2xx) at ${run.base}`);
  return run;
}

/** A process's resident memory now, and its peak since start or since the last `resetPeak`, in bytes (Linux). */
export function memoryOf(pid) {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kib = (field) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1]) * 1024;
  return { rss: kib('VmRSS'), peak: kib('VmHWM') };
}

/** Sets a process's peak resident memory (VmHWM) back to what it holds now; false where the kernel does not allow. */
export function resetPeak(pid) {
  try {
    writeFileSync(`/proc/${pid}/clear_refs`, '5');
    return true;
  } catch {
    return false;
  }
}
