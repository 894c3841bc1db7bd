// The one catalog of Spillway errors. Every error a client or operator can see has a
// stable code, the HTTP status ingest answers with, whether the client should retry,
// and a message that says what to do about it.

export interface ErrorSpec {
  readonly status: number;
  readonly retryable: boolean;
  /** What happened and what to do, for the operator reading the log or the client reading the body. */
  readonly hint: string;
}

export const ERRORS = {
  SPW_ERR_BODY_TOO_LARGE: {
    status: 413,
    retryable: false,
    hint: 'the request body exceeds -maxInsertRequestSize; lower the client batch size (vmagent -remoteWrite.maxBlockSize) or raise -maxInsertRequestSize',
  },
  SPW_ERR_DECOMPRESSED_TOO_LARGE: {
    status: 413,
    retryable: false,
    hint: 'the body declares an uncompressed size above -maxInsertRequestSize; lower the client batch size or raise -maxInsertRequestSize',
  },
  SPW_ERR_BAD_SNAPPY: {
    status: 400,
    retryable: false,
    hint: 'the body is not a valid snappy block; remote-write bodies must be snappy block format (not framed) with Content-Encoding: snappy',
  },
  SPW_ERR_BAD_PROTOBUF: {
    status: 400,
    retryable: false,
    hint: 'the body is not a valid Prometheus remote-write WriteRequest; check the client speaks remote-write 1.0',
  },
  SPW_ERR_UNSUPPORTED_ENCODING: {
    status: 415,
    retryable: false,
    hint: 'unsupported Content-Encoding; send snappy-compressed remote-write (vmagent falls back to it on 415)',
  },
  SPW_ERR_UNSUPPORTED_MEDIA_TYPE: {
    status: 415,
    retryable: false,
    hint: 'unsupported Content-Type or remote-write message type; send application/x-protobuf (remote-write 1.0)',
  },
  SPW_ERR_EMPTY_BODY: {
    status: 400,
    retryable: false,
    hint: 'the request has no body; POST a snappy-compressed remote-write WriteRequest',
  },
  SPW_ERR_BAD_TENANT: {
    status: 400,
    retryable: false,
    hint: 'the tenant in the path must be <accountID> or <accountID>:<projectID>, each a 32-bit unsigned integer',
  },
  SPW_ERR_SPOOL_FULL: {
    status: 503,
    retryable: true,
    hint: 'a node spool reached -spool.maxDiskUsagePerNode or -spool.maxAge; the client should retry; check the storage node and the spool disk',
  },
  SPW_ERR_SPOOL_IO: {
    status: 503,
    retryable: true,
    hint: 'writing the spool failed (disk full or I/O error); the client should retry; check free space and health of -spool.path',
  },
  SPW_ERR_SHUTTING_DOWN: {
    status: 503,
    retryable: true,
    hint: 'Spillway is shutting down; the client should retry against another replica',
  },
  SPW_ERR_NOT_READY: {
    status: 503,
    retryable: true,
    hint: 'Spillway is still recovering its spools; retry shortly',
  },
  SPW_ERR_CONFIG: {
    status: 500,
    retryable: false,
    hint: 'invalid configuration; run `spillway -help` for every flag and its accepted values',
  },
  SPW_ERR_SPOOL_LOCKED: {
    status: 500,
    retryable: false,
    hint: 'another Spillway process owns -spool.path; stop it, or point this instance at its own -spool.path',
  },
  SPW_ERR_SPOOL_CORRUPT: {
    status: 500,
    retryable: false,
    hint: 'a spool segment is damaged; the damaged part was moved aside (see the log) and the rest of the queue kept',
  },
  SPW_ERR_NODE_UNAVAILABLE: {
    status: 503,
    retryable: true,
    hint: 'the storage node did not accept the data; it stays in the node spool and is retried with backoff',
  },
  SPW_ERR_NODE_REJECTED: {
    status: 400,
    retryable: false,
    hint: 'the storage node refused a record permanently (4xx); it was set aside in the node dead-letter file, check the node log for why',
  },
  SPW_ERR_OVERLOADED: {
    status: 503,
    retryable: true,
    hint: 'too many concurrent inserts; the client retries after Retry-After; if this persists, add Spillway replicas or raise -maxConcurrentInserts',
  },
  SPW_ERR_BODY_TOO_SLOW: {
    status: 408,
    retryable: true,
    hint: 'the request body arrived slower than -insert.minBodyRate after it was admitted, while holding part of -insert.maxBufferedBytes; the client retries it. If a real client on a slow link gets this, lower -insert.minBodyRate or its batch size (vmagent -remoteWrite.maxBlockSize)',
  },
  SPW_ERR_BAD_PATH: {
    status: 400,
    retryable: false,
    hint: 'the request path is not a valid URL path (bad percent-encoding); check the client\'s -remoteWrite.url',
  },
  SPW_ERR_TOO_MANY_SERIES: {
    status: 400,
    retryable: false,
    hint: 'the request holds more series than any client sends in one batch; split it into smaller requests',
  },
  SPW_ERR_UNAUTHORIZED: {
    status: 401,
    retryable: false,
    hint: 'this Spillway requires credentials: basic auth (-httpAuth.username/-httpAuth.password) or a bearer token from -httpAuth.tokensFile; set them in the client (vmagent -remoteWrite.basicAuth.* or -remoteWrite.bearerToken)',
  },
  SPW_ERR_FORBIDDEN: {
    status: 403,
    retryable: false,
    hint: 'the token is bound to another tenant; write to the /insert/<tenant>/ path of its own tenant or use a token for this one',
  },
  SPW_ERR_INTERNAL: {
    status: 500,
    retryable: true,
    hint: 'unexpected internal error; the client retries and nothing already accepted is affected; please report it with the log line',
  },
  SPW_ERR_BAD_ZSTD: {
    status: 400,
    retryable: false,
    hint: 'the body is not valid zstd; VictoriaMetrics remote-write bodies (Content-Encoding: zstd) must be whole zstd frames of a remote-write WriteRequest',
  },
  SPW_ERR_BAD_GZIP: {
    status: 400,
    retryable: false,
    hint: 'the body is not valid gzip; send the import body uncompressed or as one gzip stream with Content-Encoding: gzip',
  },
  SPW_ERR_BAD_PRW2: {
    status: 400,
    retryable: false,
    hint: 'the body is not a valid Prometheus remote-write 2.0 Request (Content-Type: application/x-protobuf;proto=io.prometheus.write.v2.Request)',
  },
  SPW_ERR_BAD_IMPORT: {
    status: 400,
    retryable: false,
    hint: 'no line of the import body could be used; /api/v1/import takes JSON lines as VictoriaMetrics exports them, /api/v1/import/prometheus the Prometheus text exposition format',
  },
} as const satisfies Record<string, ErrorSpec>;

export type ErrorCode = keyof typeof ERRORS;

export class SpillwayError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  readonly retryable: boolean;
  /** Seconds the client should wait before retrying (Retry-After), when known. */
  readonly retryAfter?: number;
  /** What happened, without the hint: enough to rebuild the error elsewhere (a worker thread). */
  readonly detail: string | undefined;

  constructor(code: ErrorCode, detail?: string, opts: { cause?: unknown; retryAfter?: number } = {}) {
    const spec: ErrorSpec = ERRORS[code];
    super(detail ? `${detail}: ${spec.hint}` : spec.hint, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'SpillwayError';
    this.code = code;
    this.status = spec.status;
    this.retryable = spec.retryable;
    this.detail = detail;
    if (opts.retryAfter !== undefined) this.retryAfter = opts.retryAfter;
  }
}

export function isSpillwayError(err: unknown): err is SpillwayError {
  return err instanceof SpillwayError;
}
