export { authorizationHeader, type Credentials, parseAuthorization } from './auth.js';
export { formatDate, formatIsoDate, parseWireDate, reviveDates } from './dates.js';
export {
  type AttributeSpec,
  attributeOf,
  CLIENT_TYPES,
  ENTITY_TYPE_NAMES,
  ENTITY_TYPES,
  type EntityTypeSpec,
  entityType,
  type Family,
  FINISHED_JOB_STATUSES,
  JOB_STATUSES,
  JOB_TYPES,
  ROLES,
  type Role,
  TASK_STATUSES,
  type ValueType,
} from './entities.js';
export {
  type DecodeOptions,
  decodeEnvelope,
  decodePayload,
  type Envelope,
  encodeEnvelope,
  encodeRequest,
  type Method,
  type WireRequest,
} from './envelope.js';
export { ProtocolError } from './errors.js';
export { encodeGzData, estimateSize, GZ_THRESHOLD, MAX_DECOMPRESSED_BYTES, packData } from './gz.js';
export { encodeJson, Float } from './json.js';
export {
  API_PREFIX,
  AUTH_PATH,
  DEV_PORT,
  DEVICE_HEADER,
  EVENT_PATH,
  LOGIN_PATH,
  MASTER_LOOKUP_PATH,
  WORKSPACE_HEADER,
} from './paths.js';
export { queryStringOf } from './percent.js';
