import { describe, expect, it } from 'vitest';
import {
  API_PREFIX,
  AUTH_PATH,
  DEV_PORT,
  DEVICE_HEADER,
  EVENT_PATH,
  LOGIN_PATH,
  MASTER_LOOKUP_PATH,
  WORKSPACE_HEADER,
} from '../src/index.js';

describe('the constants of §1.1 and §1.4', () => {
  it('name the routes, the dev port and the headers of the official client', () => {
    expect([API_PREFIX, MASTER_LOOKUP_PATH, LOGIN_PATH, AUTH_PATH, EVENT_PATH]).toEqual([
      '/api/v3',
      '/api/v3/J3PKTtDvolDMBtTy6AFGA',
      '/api/v3/api/login',
      '/api/v3/api/auth',
      '/api/v3/event',
    ]);
    expect(DEV_PORT).toBe(8181);
    expect([WORKSPACE_HEADER, DEVICE_HEADER]).toEqual(['X-Accsyn-Workspace', 'X-Accsyn-Device']);
  });
});
