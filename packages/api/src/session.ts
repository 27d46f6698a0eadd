import { randomUUID } from 'node:crypto';
import { appendFileSync } from 'node:fs';
import { hostname, platform } from 'node:os';
import {
  authorizationHeader,
  DEVICE_HEADER,
  EVENT_PATH,
  encodeJson,
  formatDate,
  LOGIN_PATH,
  MASTER_LOOKUP_PATH,
  packData,
  queryStringOf,
  WORKSPACE_HEADER,
} from 'accsyn-protocol';
import { interpret } from './answers.js';
import { checkId, ID, normalType } from './checks.js';
import * as entitySettings from './entity-settings.js';
import { AccsynError, ServerError } from './errors.js';
import { type CallOptions, type Event, type Method, resultOf, type Send } from './events.js';
import * as files from './files.js';
import * as grants from './grants.js';
import { parseProxy, type TlsOptions } from './proxy.js';
import { inQuery, logQuery, type ReadQuery, readQuery } from './queries.js';
import * as reports from './reports.js';
import { type RetryOptions, retryPolicy, sleep, withRetries } from './retry.js';
import { resolveSettings, type Settings, type SettingsOptions } from './settings.js';
import { type TransferOptions, type TransferRun, transfer } from './transfer/job.js';
import { type DataRequest, type Link, SESSION_HEADER } from './transfer/link.js';
import { type DataAnswer, Transport } from './transport.js';
import type { EntityOf, EntityOfQuery, LogEntry, Task } from './types.js';
import { VERSION } from './version.js';

export type { CallOptions } from './events.js';

export interface SessionOptions extends SettingsOptions {
  /**
   * Log every call to stderr (or `logFile`): its method, event, status and time, and each retry. No header or
   * envelope is logged, so neither the key nor the session id; the key is masked should a message quote it.
   */
  readonly verbose?: boolean | undefined;
  /** Where verbose logging goes instead of stderr (the official client's `path_logfile`). */
  readonly logFile?: string | undefined;
  /** Milliseconds to wait for an answer (default 120 000). */
  readonly timeout?: number | undefined;
  /** Milliseconds to wait for a connection (default 10 000). */
  readonly connectTimeout?: number | undefined;
  readonly tls?: TlsOptions | undefined;
  /** Retries of refused (429) and, for reads, failed calls; `false` for none. */
  readonly retry?: RetryOptions | false | undefined;
  /** Space the calls so that no more than this many start in a second. */
  readonly maxRequestsPerSecond?: number | undefined;
  /** Ends every call of the session. */
  readonly signal?: AbortSignal | undefined;
}

export interface FindOptions {
  /** The attributes to answer with (the id always comes). */
  readonly attributes?: readonly string[];
  readonly skip?: number;
  readonly limit?: number;
  /** Also finished (done, aborted) jobs. */
  readonly finished?: boolean;
  /** Also deactivated users and shares. */
  readonly inactive?: boolean;
  /** Also deleted and archived entities. */
  readonly archived?: boolean;
  /** The parent: a job's id for its tasks. */
  readonly entityId?: string;
  readonly signal?: AbortSignal;
}

export interface AttributeOptions {
  /** The attributes a create may give. */
  readonly create?: boolean;
  /** The attributes an update may change. */
  readonly update?: boolean;
  readonly signal?: AbortSignal;
}

/** This machine's name, as the envelope and the device header carry it: read once, it is a system call. */
const HOST = hostname();
const DEVICE: Readonly<Record<string, string>> = {
  [DEVICE_HEADER]: `accsyn-api v${VERSION} @ ${platform()} ${HOST}(node)`,
  Accept: 'application/json',
};

/** Each session's link for the transfer modules (the agent, uploads, downloads): kept off the public API. */
const links = new WeakMap<Session, Link>();

export function linkOf(session: Session): Link {
  const link = links.get(session);
  if (!link) throw new AccsynError('Not a session of accsyn-api.');
  return link;
}

/**
 * A session with one workspace, as one user. It logs in on its first call (or `login()`), once, and then sends
 * events (reference §1): find, create, update, delete and the rest, each answered or failed with an AccsynError.
 */
export class Session {
  private readonly settings: Settings;
  private readonly transport: Transport;
  private readonly retry: ReturnType<typeof retryPolicy>;
  private loggedIn: Promise<{ base: URL; session: string; role: string; id: string }> | undefined;
  private lastMessage: string | undefined;
  private nextStart = 0;
  /** The headers of every authenticated call, built once. */
  private readonly authHeaders: Record<string, string>;
  /** How the modules of the client (files, grants, settings, reports) send their events. */
  private readonly send: Send = (event) => this.event(event);

  constructor(private readonly options: SessionOptions = {}) {
    this.settings = resolveSettings(options);
    this.transport = new Transport({
      connectTimeout: options.connectTimeout ?? 10_000,
      timeout: options.timeout ?? 120_000,
      tls: options.tls ?? {},
      proxy: this.settings.proxy,
    });
    // A proxy setting that cannot work fails here, not on the first call.
    const proxy = this.settings.proxy();
    if (proxy) parseProxy(proxy);
    this.retry = retryPolicy(options.retry);
    this.authHeaders = {
      ...DEVICE,
      Authorization: authorizationHeader(this.settings.username, this.settings.apiKey),
      [WORKSPACE_HEADER]: this.settings.workspace,
    };
    links.set(this, { send: this.send, data: (request) => this.data(request), client: undefined });
  }

  get workspace(): string {
    return this.settings.workspace;
  }

  get username(): string {
    return this.settings.username;
  }

  /** Logs in (the first call does it anyway); answers the user's role and id. */
  async login(options: CallOptions = {}): Promise<{ role: string; id: string }> {
    const { role, id } = await this.connection(options.signal);
    return { role, id };
  }

  /** Closes the session's connections. */
  async close(): Promise<void> {
    await this.transport.close();
  }

  /**
   * Entities matching a query: `'Transfer WHERE status=failed'`. `find('entitytypes')` lists the types, and
   * `find('attributes WHERE entitytype=transfer')` a type's attributes.
   */
  find(query: 'entitytypes', options?: CallOptions): Promise<string[]>;
  find<Q extends string>(query: Q, options?: FindOptions & AttributeOptions): Promise<EntityOfQuery<Q>[]>;
  async find(query: string, options: FindOptions & AttributeOptions = {}): Promise<unknown[]> {
    const read = readQuery(query);
    const { entityType, expression } = read;
    if (entityType === 'entitytypes') {
      const answer = await this.event({ method: 'GET', uri: 'entitytypes', data: {}, signal: options.signal });
      return resultOf(answer) as string[];
    }
    if (entityType === 'attributes') {
      const match = expression && /^entitytype\s*=\s*(?:"([^"]*)"|'([^']*)'|(\S+))$/i.exec(expression.trim());
      if (!match)
        throw new AccsynError(`Write the attributes query as 'attributes WHERE entitytype=<type>', not '${query}'.`);
      const entitytype = (match[1] ?? match[2] ?? match[3]) as string;
      const data = { entitytype, create: options.create === true, update: options.update === true };
      return resultOf(
        await this.event({ method: 'GET', uri: 'attributes', data, signal: options.signal }),
      ) as unknown[];
    }
    return this.findEvent(query, read, findData(options), options);
  }

  /** The first entity matching a query (also among finished jobs), or null. `findOne('User')` is yourself. */
  async findOne<Q extends string>(query: Q, options: FindOptions = {}): Promise<EntityOfQuery<Q> | null> {
    const data = { ...findData(options), single_entity_query: true };
    const found = await this.findEvent(query, readQuery(query), data, options);
    return (found[0] as EntityOfQuery<Q> | undefined) ?? null;
  }

  /** An entity by id, whatever its state; null when there is none or the caller may not see it. */
  async getEntity<T extends string>(entityType: T, id: string, options: CallOptions = {}): Promise<EntityOf<T> | null> {
    checkId(id, 'id');
    const answer = await this.event({ method: 'GET', uri: `${entityType}/find`, data: {}, id, signal: options.signal });
    return ((resultOf(answer) as unknown[])[0] as EntityOf<T> | undefined) ?? null;
  }

  /** Every entity matching a query, a page at a time, however many there are. */
  async *iterate<Q extends string>(
    query: Q,
    options: Omit<FindOptions, 'skip' | 'limit'> & { readonly pageSize?: number } = {},
  ): AsyncGenerator<EntityOfQuery<Q>> {
    const pageSize = options.pageSize ?? 500;
    if (!Number.isInteger(pageSize) || pageSize < 1)
      throw new AccsynError('pageSize must be a whole number of at least 1.');
    for (let skip = 0; ; skip += pageSize) {
      const page = await this.find(query, { ...options, skip, limit: pageSize });
      yield* page;
      if (page.length < pageSize) return;
    }
  }

  /**
   * Creates an entity and answers it. Tasks (`create('task', {tasks: [...]}, {entityId: job})`) answer a list
   * when there are several. A list as `data` is sent as `{tasks: list}`, as the official client does.
   */
  create<T extends 'task' | 'Task'>(entityType: T, data: unknown, options?: CreateOptions): Promise<Task | Task[]>;
  create<T extends string>(entityType: T, data: unknown, options?: CreateOptions): Promise<EntityOf<T>>;
  async create(entityType: string, data: unknown, options: CreateOptions = {}): Promise<unknown> {
    if (typeof data !== 'object' || data === null || Object.keys(data).length === 0) {
      throw new AccsynError(`create needs the new ${entityType}'s attributes as an object.`);
    }
    let payload: object = Array.isArray(data) ? { tasks: data } : data;
    const type = normalType(entityType);
    if (type === 'task' && !('tasks' in payload)) payload = { tasks: payload };
    if (options.allowDuplicates !== undefined) payload = { ...payload, allow_duplicates: options.allowDuplicates };
    if (options.replaceDuplicates !== undefined) {
      payload = { ...payload, replace_duplicates: options.replaceDuplicates };
    }
    if (options.entityId !== undefined) checkId(options.entityId, 'entityId');
    const answer = await this.event({
      method: 'POST',
      uri: `${type}/create`,
      data: payload,
      id: options.entityId,
      signal: options.signal,
    });
    const result = resultOf(answer) as unknown[];
    return result.length === 1 ? result[0] : result;
  }

  /** Changes attributes of an entity and answers it. */
  async update<T extends string>(
    entityType: T,
    id: string,
    data: object,
    options: CallOptions = {},
  ): Promise<EntityOf<T>> {
    checkId(id, 'id');
    if (Object.keys(data).length === 0) throw new AccsynError('update needs the attributes to change.');
    const answer = await this.event({
      method: 'PUT',
      uri: `${normalType(entityType)}/edit`,
      data,
      id,
      signal: options.signal,
    });
    return (resultOf(answer) as EntityOf<T>[])[0] as EntityOf<T>;
  }

  /** Changes several tasks of a job, each named by its `id` or `uri`. */
  async updateMany(
    entityType: 'task' | 'Task',
    jobId: string,
    changes: readonly object[],
    options: CallOptions = {},
  ): Promise<Task[]> {
    if (normalType(entityType) !== 'task') throw new AccsynError('updateMany changes tasks only.');
    checkId(jobId, 'jobId');
    const answer = await this.event({
      method: 'PUT',
      uri: 'task/edit',
      data: changes,
      id: jobId,
      signal: options.signal,
    });
    return resultOf(answer) as Task[];
  }

  /** Deletes an entity (the server archives it; `force` removes a job for good). */
  async deleteOne(
    entityType: string,
    id: string,
    options: CallOptions & { readonly force?: boolean } = {},
  ): Promise<true> {
    checkId(id, 'id');
    const data = options.force === undefined ? null : { force: options.force };
    await this.event({ method: 'DELETE', uri: `${normalType(entityType)}/delete`, data, id, signal: options.signal });
    return true;
  }

  /** Removes files from a collection. */
  async deleteMany(
    entityType: 'collection' | 'Collection',
    id: string,
    data: { files: readonly string[] },
    options: CallOptions = {},
  ): Promise<unknown> {
    if (normalType(entityType) !== 'collection')
      throw new AccsynError('deleteMany removes files from collections only.');
    checkId(id, 'id');
    return resultOf(
      await this.event({ method: 'DELETE', uri: 'collection/file/remove', data, id, signal: options.signal }),
    );
  }

  /** Takes a user, share or client online again, by id or by code (an e-mail, a share code). */
  async activateOne(entityType: string, idOrCode: string, options: CallOptions = {}): Promise<true> {
    const ident = idOrCode.trim().toLowerCase();
    const target = ID.test(ident) ? { id: ident } : { query: ident };
    await this.event({
      method: 'POST',
      uri: `${normalType(entityType)}/activate`,
      data: {},
      ...target,
      signal: options.signal,
    });
    return true;
  }

  /** Takes a user, share or client offline. */
  async deactivateOne(entityType: string, id: string, options: CallOptions = {}): Promise<true> {
    checkId(id, 'id');
    await this.event({
      method: 'DELETE',
      uri: `${normalType(entityType)}/deactivate`,
      data: {},
      id,
      signal: options.signal,
    });
    return true;
  }

  /** Entries of the audit log: `where` is the conditions (`'outcome=denied'`), or a whole `Log WHERE ...` query. */
  findLogs(where?: string, options: FindOptions = {}): Promise<LogEntry[]> {
    return this.find(logQuery(where), options) as Promise<LogEntry[]>;
  }

  // ---- files (files.ts) ----

  /**
   * What a directory holds (a file: itself), or for a list of paths, what each holds: `ls('folder=projects/in')`.
   * Paths without a share are on the default volume.
   */
  ls<P extends string | readonly string[]>(
    path: P,
    options?: files.ListOptions,
  ): Promise<files.PathAnswer<P, files.FileEntry[]>> {
    return files.ls(this.send, path, options);
  }

  /** The bytes of a file, or of the files beneath a directory (those `include` and `exclude` keep). */
  getSize<P extends string | readonly string[]>(
    path: P,
    options?: files.FilterOptions,
  ): Promise<files.PathAnswer<P, number>> {
    return files.getSize(this.send, path, options);
  }

  exists<P extends string | readonly string[]>(path: P, options?: CallOptions): Promise<files.PathAnswer<P, boolean>> {
    return files.exists(this.send, path, options);
  }

  /** Makes a directory, and those above it that are missing; one that exists is fine. */
  mkdir<P extends string | readonly string[]>(path: P, options?: CallOptions): Promise<files.PathAnswer<P, true>> {
    return files.mkdir(this.send, path, options);
  }

  /** Renames a file or directory in its directory. */
  rename(path: string, name: string, options?: CallOptions): Promise<true> {
    return files.rename(this.send, path, name, options);
  }

  /** Moves a file or directory, into `destination` when that is a directory. */
  move(path: string, destination: string, options?: CallOptions): Promise<true> {
    return files.move(this.send, path, destination, options);
  }

  /** Deletes a file, or an empty directory; `force` deletes a directory with all it holds. */
  remove<P extends string | readonly string[]>(
    path: P,
    options?: files.RemoveOptions,
  ): Promise<files.PathAnswer<P, true>> {
    return files.remove(this.send, path, options);
  }

  // ---- uploads and downloads (transfer/) ----

  /**
   * Uploads a file or directory of this machine to a share path (`share=projects/in/`): a transfer from this
   * machine, carried by this process, resumed where an earlier upload of the same ends stopped. Await it for the
   * finished Transfer, or iterate it for its progress.
   */
  upload(localPath: string, destination: string, options: TransferOptions = {}): TransferRun {
    return transfer(this, linkOf(this), 'upload', localPath, destination, options);
  }

  /** Downloads a file or directory of a share to this machine: a file to write, or with a trailing `/`, a directory. */
  download(source: string, localPath: string, options: TransferOptions = {}): TransferRun {
    return transfer(this, linkOf(this), 'download', localPath, source, options);
  }

  // ---- access (grants.ts) ----

  /**
   * Gives a user (an id or e-mail) access: to a delivery or request as a recipient (answers true), or to a share
   * (a volume, folder, home or collection, by id or code) by an ACL, read and write on `/` unless `data` says
   * otherwise (answers the ACL). An e-mail that names no user invites them, unless `invite` is false.
   */
  grant<T extends string>(
    entityType: string,
    entityIdOrCode: string,
    targetType: T,
    targetIdOrCode: string,
    data?: grants.GrantData,
    options?: CallOptions,
  ): Promise<grants.GrantResult<T>> {
    return grants.grant(this.send, entityType, entityIdOrCode, targetType, targetIdOrCode, data, options);
  }

  /** Who has access: a delivery's or request's recipients, or the users with an ACL on a share. */
  access<T extends string>(
    targetType: T,
    targetIdOrCode: string,
    options?: grants.AccessOptions,
  ): Promise<grants.AccessOf<T>> {
    return grants.access(this.send, targetType, targetIdOrCode, options);
  }

  /** Takes a user's access away: off the recipients, or every ACL they have on the share. */
  revoke(
    entityType: string,
    entityIdOrCode: string,
    targetType: string,
    targetIdOrCode: string,
    options?: CallOptions,
  ): Promise<true> {
    return grants.revoke(this.send, entityType, entityIdOrCode, targetType, targetIdOrCode, options);
  }

  // ---- settings (entity-settings.ts) ----

  /** A setting's value on the workspace (or `entityType`/`entityId`): set there, inherited, or its default. */
  getSetting(name: string, options?: entitySettings.GetSettingOptions): Promise<string | null> {
    return entitySettings.getSetting(this.send, name, options);
  }

  /** The settings of the workspace (or `entityType`/`entityId`) by name; `recursive` adds those below it. */
  getSettings(
    options?: entitySettings.GetSettingsOptions & { readonly recursive?: false },
  ): Promise<entitySettings.SettingValues>;
  getSettings(
    options: entitySettings.GetSettingsOptions,
  ): Promise<Record<string, string | entitySettings.SettingValues>>;
  getSettings(options?: entitySettings.GetSettingsOptions) {
    return entitySettings.getSettings(this.send, options);
  }

  setSetting(name: string, value: string | number | boolean, options?: entitySettings.SettingTarget): Promise<true> {
    return entitySettings.setSetting(this.send, name, value, options);
  }

  deleteSetting(name: string, options?: entitySettings.SettingTarget): Promise<true> {
    return entitySettings.deleteSetting(this.send, name, options);
  }

  // ---- reports (reports.ts) ----

  /** Figures about the jobs a query matches: `metrics('Transfer WHERE status=running', { time: '24h' })`. */
  metrics<K extends keyof reports.Metrics = keyof reports.Metrics>(
    query: string,
    options?: reports.MetricsOptions<K>,
  ): Promise<Pick<reports.Metrics, K>> {
    return reports.metrics(this.send, query, options);
  }

  /** A plain-text report of the jobs a query matches. */
  report(query: string, options?: CallOptions): Promise<string> {
    return reports.report(this.send, query, options);
  }

  /** The message of the last call that failed (the official v3 client always answers None). */
  getLastMessage(): string | undefined {
    return this.lastMessage;
  }

  /** JSON as the wire writes it, dates as naive UTC, for printing. */
  static dump(value: unknown, indent = 4): string {
    return JSON.stringify(value, (_, v) => (v instanceof Date ? formatDate(v) : v), indent);
  }

  dump(value: unknown, indent = 4): string {
    return Session.dump(value, indent);
  }

  // -------------------------------------------------------------------------------------------------------------

  private findEvent(query: string, read: ReadQuery, data: object, options: CallOptions): Promise<unknown[]> {
    return inQuery(query, read, async () => {
      const answer = await this.event({
        method: 'GET',
        uri: `${read.entityType}/find`,
        data,
        query: read.expression,
        signal: options.signal,
      });
      return resultOf(answer) as unknown[];
    });
  }

  /** Logs in once; every caller waits for the same login. A failed login is forgotten, so the next call retries. */
  private connection(signal?: AbortSignal) {
    this.loggedIn ??= this.logIn(signal).catch((error) => {
      this.loggedIn = undefined;
      throw error;
    });
    return this.loggedIn;
  }

  private async logIn(signal?: AbortSignal) {
    const base = await this.baseUrl(signal);
    const answer = await this.call({
      method: 'PUT',
      url: new URL(LOGIN_PATH, base),
      body: '{}',
      auth: true,
      uri: 'login',
      signal,
    });
    const result = answer.result as { session_id?: unknown; role?: unknown; id?: unknown } | undefined;
    if (typeof result?.session_id !== 'string' || typeof result.id !== 'string') {
      throw new ServerError('The login answer has no session id.', { uri: 'login' });
    }
    return { base, session: result.session_id, role: String(result.role), id: result.id };
  }

  /** The server's URL: as configured, or from the master lookup (reference §1.2). */
  private async baseUrl(signal?: AbortSignal): Promise<URL> {
    const endpoint = this.settings.endpoint;
    if (endpoint.kind === 'direct') return endpoint.url;
    const ident = queryStringOf(encodeJson({ ident: this.settings.workspace }));
    const answer = await this.call({
      method: 'GET',
      url: new URL(`${MASTER_LOOKUP_PATH}?${ident}`, endpoint.url),
      auth: false,
      uri: 'lookup',
      signal,
    });
    const result = answer.result as { hostname?: unknown; port?: unknown } | undefined;
    if (typeof result?.hostname !== 'string')
      throw new ServerError('The master lookup answered no host name.', { uri: 'lookup' });
    const port = endpoint.port ?? Number(result.port ?? 443);
    return new URL(`https://${result.hostname}:${port}`);
  }

  private async event(event: Event): Promise<Record<string, unknown>> {
    const { base, session } = await this.connection(event.signal);
    const eid = randomUUID();
    const envelope = {
      audience: 'api',
      workspace: this.settings.workspace,
      eid,
      session,
      uri: event.uri,
      ident: this.settings.username,
      created: formatDate(new Date()),
      hostname: HOST,
      ...packData(event.data),
      ...(event.query !== undefined ? { query: event.query } : {}),
      ...(event.id !== undefined ? { id: event.id } : {}),
    };
    const json = encodeJson(envelope);
    const carried = event.method === 'GET' || event.method === 'DELETE';
    const url = new URL(EVENT_PATH, base);
    if (carried) url.search = queryStringOf(json);
    return this.call({
      method: event.method,
      url,
      body: carried ? undefined : json,
      auth: true,
      uri: event.uri,
      eventId: eid,
      query: event.query,
      signal: event.signal,
    });
  }

  /** One call with its retries, pacing, logging and the interpretation of its answer. */
  private async call(call: Call): Promise<Record<string, unknown>> {
    const signal = anySignal(call.signal, this.options.signal);
    const reads = call.method === 'GET';
    try {
      return await withRetries(
        this.retry,
        reads,
        signal,
        (delay, error, attempt) => {
          this.log(`retry ${attempt} of ${call.uri} in ${Math.round(delay)} ms: ${error.message}`);
        },
        async () => {
          if (this.options.maxRequestsPerSecond) await this.pace(signal);
          const started = performance.now();
          const answer = await this.transport.send({
            method: call.method,
            url: call.url,
            headers: this.headers(call.auth, call.body),
            body: call.body,
            signal,
          });
          this.log(`${call.method} ${call.uri} ${answer.status} ${Math.round(performance.now() - started)} ms`);
          return interpret(answer, { status: answer.status, uri: call.uri, eventId: call.eventId }, call.query);
        },
      );
    } catch (error) {
      this.lastMessage = (error as Error).message;
      throw error;
    }
  }

  /** One request to a data route (`/u`, `/d`), with the credentials and the session of the login. */
  private async data(request: DataRequest): Promise<DataAnswer> {
    const signal = anySignal(request.signal, this.options.signal);
    const { base, session } = await this.connection(signal);
    const path = `/${request.route}/${encodeURIComponent(request.task)}`;
    const started = performance.now();
    const answer = await this.transport.stream({
      method: request.method,
      url: new URL(path, base),
      headers: { ...this.authHeaders, [SESSION_HEADER]: session, ...request.headers },
      body: request.body,
      signal,
    });
    this.log(`${request.method} ${path} ${answer.status} ${Math.round(performance.now() - started)} ms`);
    return answer;
  }

  private headers(auth: boolean, body: string | undefined): Record<string, string> {
    const fixed = auth ? this.authHeaders : DEVICE;
    return body === undefined ? fixed : { ...fixed, 'Content-Length': String(Buffer.byteLength(body)) };
  }

  /** Waits until this call may start, so that no more than maxRequestsPerSecond start in a second. */
  private async pace(signal: AbortSignal | undefined): Promise<void> {
    const rate = this.options.maxRequestsPerSecond;
    if (!rate) return;
    const now = performance.now();
    const start = Math.max(now, this.nextStart);
    this.nextStart = start + 1000 / rate;
    if (start > now) await sleep(start - now, signal);
  }

  private log(line: string): void {
    if (!this.options.verbose) return;
    const text = `${new Date().toISOString()} accsyn: ${mask(line, this.settings.apiKey)}\n`;
    if (this.options.logFile) appendFileSync(this.options.logFile, text);
    else process.stderr.write(text);
  }
}

export interface CreateOptions extends CallOptions {
  /** The parent: a job's id for new tasks. */
  readonly entityId?: string;
  /**
   * A new task with the same source and destination as one of the job's retries that one (the default); `false`
   * refuses the call instead.
   */
  readonly allowDuplicates?: boolean;
  /** `true`: a new task takes the place of the job's task with the same source and destination, under its uri. */
  readonly replaceDuplicates?: boolean;
}

interface Call {
  readonly method: Method;
  readonly url: URL;
  readonly body?: string | undefined;
  readonly auth: boolean;
  readonly uri: string;
  readonly eventId?: string | undefined;
  readonly query?: string | undefined;
  readonly signal?: AbortSignal | undefined;
}

function findData(options: FindOptions): Record<string, unknown> {
  const data: Record<string, unknown> = {};
  for (const flag of ['finished', 'inactive', 'archived'] as const) {
    if (options[flag] !== undefined) data[flag] = options[flag] === true;
  }
  for (const count of ['limit', 'skip'] as const) {
    const value = options[count];
    if (value === undefined) continue;
    if (!Number.isSafeInteger(value) || value < 0)
      throw new AccsynError(`${count} must be a whole number of at least 0.`);
    if (value > 0) data[count] = value;
  }
  if (options.attributes !== undefined) {
    const names = options.attributes.map((name) => String(name).trim()).filter(Boolean);
    data.attributes = names;
  }
  if (options.entityId !== undefined) {
    checkId(options.entityId, 'entityId');
    data.parent = options.entityId;
  }
  return data;
}

/** Hides the API key in a log line. */
function mask(line: string, apiKey: string): string {
  return line.replaceAll(apiKey, '***');
}

function anySignal(...signals: (AbortSignal | undefined)[]): AbortSignal | undefined {
  const present = signals.filter((s): s is AbortSignal => s !== undefined);
  return present.length <= 1 ? present[0] : AbortSignal.any(present);
}
