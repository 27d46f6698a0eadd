import type { Envelope } from '../../src/index.js';

/** The decoded `find` of reference §1.6, field for field; tests vary its data and add what they need. */
export const REFERENCE_ENVELOPE = {
  audience: 'api',
  workspace: 'acme',
  eid: '0cca6f6e-8a38-4b0e-9d39-5b5c8ba1d3b7',
  session: 'sess-1',
  uri: 'transfer/find',
  ident: 'john@user.com',
  created: '2026-11-27T18:23:39',
  hostname: 'vm',
  data: { finished: true, limit: 5, skip: 2, attributes: ['source'] },
  query: "name='my file' and status=done",
} as const satisfies Envelope;
