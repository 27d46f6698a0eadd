export type { GetSettingOptions, GetSettingsOptions, SettingTarget, SettingValues } from './entity-settings.js';
export {
  AbortError,
  AccsynError,
  AuthenticationError,
  ConnectionError,
  PermissionError,
  QueryError,
  RateLimitError,
  ServerError,
  TimeoutError,
  TransferError,
} from './errors.js';
export type {
  FileEntry,
  FilterOptions,
  ListOptions,
  NameFilter,
  PathAnswer,
  PathResult,
  RemoveOptions,
} from './files.js';
export type {
  AccessOf,
  AccessOptions,
  GrantData,
  GrantResult,
  Recipient,
  RecipientType,
  ShareAccess,
  ShareType,
} from './grants.js';
export { type ProxySetting, parseProxy, type TlsOptions } from './proxy.js';
export type { Metrics, MetricsOptions } from './reports.js';
export type { RetryOptions } from './retry.js';
export {
  type AttributeOptions,
  type CallOptions,
  type CreateOptions,
  type FindOptions,
  Session,
  type SessionOptions,
} from './session.js';
export { parseEnvFile } from './settings.js';
export { Agent, type AgentOptions } from './transfer/agent.js';
export type { AgentEvent, TaskFacts } from './transfer/agent-event.js';
export type { TransferOptions, TransferProgress, TransferRun } from './transfer/job.js';
export type { Overwrite } from './transfer/protocol.js';
export type * from './types.js';
