export { buildApp } from './app.js';
export { type Bootstrapped, bootstrap } from './bootstrap.js';
export { ConfigError, readConfig, SETTINGS_HELP, type ServerConfig } from './config.js';
export { type RunningServer, startServer } from './server.js';
export { openSqlite, Store } from './store/store.js';
export {
  AdminError,
  type AddedUser,
  addUser,
  createApiKey,
  type KeyInfo,
  listApiKeys,
  revokeApiKey,
  workspaceOf,
} from './admin.js';
export { type ServeIo, serve } from './serve.js';
