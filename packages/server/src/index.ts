export { buildApp } from './app.js';
export { type Bootstrapped, bootstrap } from './bootstrap.js';
export { ConfigError, readConfig, type ServerConfig } from './config.js';
export { type RunningServer, startServer } from './server.js';
export { openSqlite, Store } from './store/store.js';
