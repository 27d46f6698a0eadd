export {
  type AddedUser,
  type AddedWorkspace,
  AdminError,
  addUser,
  addWorkspace,
  createApiKey,
  type KeyInfo,
  listApiKeys,
  listWorkspaces,
  revokeApiKey,
  type WorkspaceInfo,
  workspaceOf,
} from './admin.js';
export { buildApp } from './app.js';
export { type Bootstrapped, bootstrap } from './bootstrap.js';
export { ConfigError, readConfig, SETTINGS_HELP, type ServerConfig } from './config.js';
export { type ServeIo, serve } from './serve.js';
export { type RunningServer, startServer } from './server.js';
export { isPostgresUrl, openStore } from './store/open.js';
export { openSqlite, Store } from './store/store.js';
