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
} from './errors.js';
export { type ProxySetting, parseProxy, type TlsOptions } from './proxy.js';
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
export type * from './types.js';
