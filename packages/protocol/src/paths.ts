/** Every v3 URL starts with this prefix (§1.1). */
export const API_PREFIX = '/api/v3';

/** The master lookup that resolves a workspace to its backend host; the token is a fixed path segment. */
export const MASTER_LOOKUP_PATH = `${API_PREFIX}/J3PKTtDvolDMBtTy6AFGA`;

/** Where the official 3.3.0 client logs in. */
export const LOGIN_PATH = `${API_PREFIX}/api/login`;

/** Where the seed docs say API keys are authenticated; a server may accept it as a login alias. */
export const AUTH_PATH = `${API_PREFIX}/api/auth`;

/** Every other operation: the envelope's `uri` and the HTTP method choose what happens. */
export const EVENT_PATH = `${API_PREFIX}/event`;

/** The plain-HTTP port of the official client's dev mode (`AS_DEV=1`). */
export const DEV_PORT = 8181;

/** Header naming the workspace code, as given (not lowercased). */
export const WORKSPACE_HEADER = 'X-Accsyn-Workspace';

/** Header describing the calling program and machine. */
export const DEVICE_HEADER = 'X-Accsyn-Device';
