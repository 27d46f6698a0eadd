import { interpret } from '../answers.js';
import { AccsynError, ServerError } from '../errors.js';
import { type DataAnswer, failure } from '../transport.js';
import type { Link } from './link.js';

/**
 * The data routes of docs/agent.md from the carrier's side: `HEAD /u` for where an upload stands, `PUT /u` to
 * append to it (and, with the file's size, checksum, time and mode, to end it), `GET /d` to download from an
 * offset. An answer that is not what the route promises becomes one of our errors.
 */

/** The server holds a different number of bytes than we sent from (409 with `X-Accsyn-Offset`): go on from there. */
export class OffsetConflict extends AccsynError {
  override name = 'OffsetConflict';

  constructor(
    readonly offset: number,
    message: string,
  ) {
    super(message, { status: 409 });
  }
}

const OCTET = { 'Content-Type': 'application/octet-stream' };

/** The bytes the destination's part file holds. */
export async function uploadOffset(link: Link, task: string, signal: AbortSignal): Promise<number> {
  const answer = await link.data({ method: 'HEAD', route: 'u', task, signal });
  await refuse(answer, `/u/${task}`);
  const offset = offsetOf(answer);
  if (offset === undefined) throw new ServerError(`HEAD /u/${task} answered no X-Accsyn-Offset.`);
  return offset;
}

/** How an upload ends: the whole file's size, checksum, time (ms) and mode. */
export interface UploadEnd {
  readonly size: number;
  readonly checksum: string;
  readonly mtime: number;
  readonly mode: number;
}

/** Appends `length` bytes at `offset`; answers where the upload stands and whether the server has the file whole. */
export async function putUpload(
  link: Link,
  task: string,
  offset: number,
  body: { bytes: AsyncIterable<Uint8Array>; length: number } | undefined,
  end: UploadEnd | undefined,
  signal: AbortSignal,
): Promise<{ offset: number; done: boolean }> {
  const headers: Record<string, string> = {
    ...OCTET,
    'Content-Length': String(body?.length ?? 0),
    'X-Accsyn-Offset': String(offset),
    ...(end
      ? {
          'X-Accsyn-Size': String(end.size),
          'X-Accsyn-Checksum': end.checksum,
          'X-Accsyn-Mtime': String(Math.trunc(end.mtime)),
          'X-Accsyn-Mode': (end.mode & 0o7777).toString(8),
        }
      : {}),
  };
  const bytes = body && body.length > 0 ? body.bytes : undefined;
  const answer = await link.data({
    method: 'PUT',
    route: 'u',
    task,
    headers,
    ...(bytes ? { body: bytes } : {}),
    signal,
  });
  await refuse(answer, `/u/${task}`);
  const json = (await readJson(answer, `/u/${task}`)) as { offset?: unknown; done?: unknown };
  if (typeof json.offset !== 'number') throw new ServerError(`PUT /u/${task} answered no offset.`);
  return { offset: json.offset, done: json.done === true };
}

/** A download's answer: where its bytes start, and the file they are of. */
export interface Download {
  /** The byte the body starts at: the offset asked for, or 0 when the server sends the whole file. */
  readonly start: number;
  readonly size: number;
  readonly mtime: number | undefined;
  readonly mode: number | undefined;
  readonly body: AsyncIterable<Uint8Array>;
}

/** The task's source from byte `from` on. */
export async function getDownload(link: Link, task: string, from: number, signal: AbortSignal): Promise<Download> {
  const headers: Record<string, string> = from > 0 ? { Range: `bytes=${from}-` } : {};
  const answer = await link.data({ method: 'GET', route: 'd', task, headers, signal });
  await refuse(answer, `/d/${task}`);
  const header = (name: string) => {
    const value = answer.headers[name];
    return Array.isArray(value) ? value[0] : value;
  };
  const range = /^bytes (\d+)-\d+\/\d+$/.exec(header('content-range') ?? '');
  const start = answer.status === 206 && range ? Number(range[1]) : 0;
  const size = Number(header('x-accsyn-size') ?? header('content-length'));
  if (!Number.isSafeInteger(size) || size < 0) {
    answer.body.destroy();
    throw new ServerError(`GET /d/${task} answered no X-Accsyn-Size.`);
  }
  const mtime = Number(header('x-accsyn-mtime'));
  const mode = Number.parseInt(header('x-accsyn-mode') ?? '', 8);
  return {
    start,
    size,
    mtime: Number.isFinite(mtime) && header('x-accsyn-mtime') !== undefined ? mtime : undefined,
    mode: Number.isInteger(mode) ? mode : undefined,
    body: guarded(answer),
  };
}

/** The answer's body, a failure while it is read turned into ours (a broken connection, silence). */
async function* guarded(answer: DataAnswer): AsyncGenerator<Uint8Array> {
  try {
    for await (const chunk of answer.body as AsyncIterable<Uint8Array>) yield chunk;
  } catch (error) {
    throw failure(error, answer.url);
  }
}

/** Throws the error a refusal (4xx, 5xx) stands for; the body of an answer that is not one is left to be read. */
async function refuse(answer: DataAnswer, uri: string): Promise<void> {
  if (answer.status < 400) return;
  const body = await answer.body.text().catch(() => '');
  const offset = offsetOf(answer);
  if (answer.status === 409 && offset !== undefined) {
    throw new OffsetConflict(offset, `The server holds ${offset} bytes of ${uri}.`);
  }
  // A HEAD answer has no body to say why: its status does.
  const text = body || JSON.stringify({ message: `${uri} was refused (${answer.status}).` });
  interpret({ status: answer.status, headers: answer.headers, text }, { status: answer.status, uri }, undefined);
  throw new ServerError(`${uri} answered ${answer.status}.`, { status: answer.status, uri });
}

async function readJson(answer: DataAnswer, uri: string): Promise<Record<string, unknown>> {
  const text = await answer.body.text().catch((error: unknown) => {
    throw failure(error, answer.url);
  });
  try {
    const json = JSON.parse(text) as unknown;
    if (typeof json === 'object' && json !== null) return json as Record<string, unknown>;
  } catch {}
  throw new ServerError(`${uri} answered ${answer.status} with something other than a JSON object.`, { uri });
}

function offsetOf(answer: DataAnswer): number | undefined {
  const value = answer.headers['x-accsyn-offset'];
  const text = Array.isArray(value) ? value[0] : value;
  return text !== undefined && /^\d+$/.test(text) ? Number(text) : undefined;
}
