// The HTTP front: write routes, body limits, content negotiation and the status code policy
// (DESIGN.md §6). vmagent drops a block on 400/409/415 and retries anything else, so a status
// here decides whether data is retried or given up: only what can never succeed gets a 4xx.

import { readFileSync } from 'node:fs';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import { SpillwayError, isSpillwayError } from '../errors.js';
import type { Lifecycle } from '../observe/lifecycle.js';
import type { Metrics } from '../observe/metrics.js';
import { zstdImplementation } from '../protocol/zstd.js';
import {
  DEFAULT_TENANT,
  PLAIN_IMPORT_PATHS,
  PLAIN_IMPORT_PROMETHEUS_PATHS,
  PLAIN_WRITE_PATHS,
  TENANT_IMPORT_PATHS,
  TENANT_IMPORT_PROMETHEUS_PATHS,
  TENANT_WRITE_PATHS,
  parseTenant,
  type Tenant,
} from './paths.js';
import type { Admission } from './admission.js';
import type { BodyRateGuard } from './body-rate.js';
import { registerBodyBudget } from './body-budget.js';
import { tenantOfPath, type Auth } from './auth.js';
import { protocolLabel, type MessageFormat, type WireEncoding, type WriteHandler, type WriteOutcome } from './write-handler.js';

export interface ServerDeps {
  /**
   * The write path, once the spools are recovered. The server listens before that (health
   * and readiness answer during a long recovery); writes get 503 until the lifecycle is ready.
   */
  writeHandler: () => WriteHandler | undefined;
  /** Bounds inserts processed at once (-maxConcurrentInserts). */
  admission: Admission;
  /** Bounds request body bytes being read or held (-insert.maxBufferedBytes). */
  bodyBudget?: Admission;
  /** Cuts write bodies that arrive slower than -insert.minBodyRate (408). */
  bodyRate?: BodyRateGuard;
  /** Credentials required on every endpoint but health and readiness. */
  auth?: Auth;
  /** Serve HTTPS with this certificate and key (-tls). */
  tls?: { cert: Buffer; key: Buffer } | undefined;
  lifecycle: Lifecycle;
  metrics: Metrics;
  logger: Logger;
  maxInsertRequestSize: number;
}

/** Probes of load balancers and orchestrators: never behind credentials. */
const OPEN_PATHS = new Set(['/health', '/-/healthy', '/-/ready', '/v1/readyz']);

/** The `proto=` parameter of a remote-write Content-Type, lower-cased, and what it names. */
const PRW1_MESSAGE = 'prometheus.writerequest';
const PRW2_MESSAGE = 'io.prometheus.write.v2.request';

/** Whether vmagent may switch to the VictoriaMetrics remote-write protocol (zstd). */
export const VM_PROTO_VERSION = zstdImplementation === undefined ? undefined : '1';

type RouteKind = 'write' | 'import-json' | 'import-prometheus';
interface RouteConfig {
  write: true;
  kind: RouteKind;
}

export function buildServer(deps: ServerDeps): FastifyInstance {
  const { metrics, lifecycle } = deps;
  const app = Fastify({
    ...(deps.tls ? { https: { cert: deps.tls.cert, key: deps.tls.key } } : {}),
    loggerInstance: deps.logger as unknown as FastifyBaseLogger,
    // No per-request log lines: at thousands of requests per second they would be the load.
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: deps.maxInsertRequestSize,
    // Remote-write clients keep connections open for minutes; keep them, but bound idle ones.
    keepAliveTimeout: 65_000,
    requestTimeout: 120_000,
    return503OnClosing: true,
    // Errors fastify raises before routing (a path it cannot decode) get the same treatment
    // as ours: a SPW_ERR_ body and a count by reason.
    frameworkErrors: (err, _req, reply) => {
      const spw = err.code === 'FST_ERR_BAD_URL' ? new SpillwayError('SPW_ERR_BAD_PATH') : toSpillwayError(err);
      metrics.ingestRejected.inc({ reason: spw.code.slice('SPW_ERR_'.length).toLowerCase() });
      sendError(reply, spw);
    },
  });

  // Bodies are opaque bytes here; decoding is the protocol layer's job.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (_req, body, done) => done(null, body));

  app.setErrorHandler((err: unknown, req, reply) => {
    const spw = toSpillwayError(err);
    metrics.ingestRejected.inc({ reason: spw.code.slice('SPW_ERR_'.length).toLowerCase() });
    if (spw.status >= 500) req.log.warn({ code: spw.code, path: req.url }, spw.message);
    else req.log.debug({ code: spw.code, path: req.url }, spw.message);
    sendError(reply, spw);
  });

  // Credentials are checked on the request line and headers, before any body byte is read.
  const auth = deps.auth;
  if (auth?.enabled) {
    app.addHook('onRequest', async (req) => {
      const path = req.url.split('?', 1)[0]!;
      if (OPEN_PATHS.has(path)) return;
      const write = (req.routeOptions.config as Partial<RouteConfig> | undefined)?.write === true;
      auth.check(req.headers.authorization, write ? tenantOfPath(path) : undefined);
    });
  }

  // Reserve a write's declared body size before reading it: past the budget the request
  // waits with its body unread in the socket, then gets 503 (body-budget.ts).
  if (deps.bodyBudget) {
    registerBodyBudget(app, {
      budget: deps.bodyBudget,
      rate: deps.bodyRate,
      metrics,
      maxInsertRequestSize: deps.maxInsertRequestSize,
      isWrite: (req) => (req.routeOptions.config as Partial<RouteConfig> | undefined)?.write === true,
      sendError,
    });
  }

  // The protocol label of a write request, once its headers are read (the route's default otherwise).
  const protocolOf = new WeakMap<FastifyRequest, string>();

  const write = async (req: FastifyRequest, reply: FastifyReply, tenant: Tenant) => {
    const started = process.hrtime.bigint();
    const query = req.query as Record<string, string | undefined>;
    if (query.get_vm_proto_version !== undefined) {
      // vmagent's protocol handshake: "1" switches it to zstd bodies (VictoriaMetrics
      // remote-write protocol); anything else keeps it on snappy Prometheus remote-write.
      if (VM_PROTO_VERSION === undefined) return reply.code(204).send();
      return reply.code(200).type('text/plain; charset=utf-8').send(VM_PROTO_VERSION);
    }
    const handler = checkAccepting();
    const encoding = remoteWriteEncoding(req);
    const format = remoteWriteFormat(req);
    const out = await admitted(req, handler, tenant, { encoding, format });
    metrics.ingestDuration.observe(Number(process.hrtime.bigint() - started) / 1e9);
    return sendWritten(reply, out);
  };

  /** Counts the body, waits for an insert slot, and writes. */
  const admitted = async (req: FastifyRequest, handler: WriteHandler, tenant: Tenant, what: { encoding: WireEncoding; format: MessageFormat; receivedAtMs?: number }) => {
    const protocol = protocolLabel(what.format, what.encoding);
    protocolOf.set(req, protocol);
    const body = (req.body as Buffer | undefined) ?? Buffer.alloc(0);
    metrics.ingestBytes.inc({ protocol }, body.length);
    const release = await deps.admission.acquire();
    try {
      return await handler.write(tenant, { body, ...what });
    } finally {
      release();
    }
  };

  const importBody = async (req: FastifyRequest, reply: FastifyReply, tenant: Tenant, format: MessageFormat) => {
    const started = process.hrtime.bigint();
    const handler = checkAccepting();
    const out = await admitted(req, handler, tenant, { encoding: importEncoding(req), format, receivedAtMs: Date.now() });
    if (out.badLines > 0) {
      // As vminsert does: the usable lines are kept, the others logged and counted.
      req.log.warn({ path: req.url, badLines: out.badLines, first: out.firstBadLine }, 'import: skipped lines that could not be parsed');
    }
    metrics.ingestDuration.observe(Number(process.hrtime.bigint() - started) / 1e9);
    return sendWritten(reply, out);
  };

  const checkAccepting = (): WriteHandler => {
    const handler = deps.writeHandler();
    if (!lifecycle.acceptingWrites() || handler === undefined) {
      throw new SpillwayError(lifecycle.draining ? 'SPW_ERR_SHUTTING_DOWN' : 'SPW_ERR_NOT_READY', undefined, { retryAfter: 5 });
    }
    return handler;
  };

  app.addHook('onResponse', async (req, reply) => {
    const config = req.routeOptions.config as Partial<RouteConfig> | undefined;
    if (req.method === 'POST' && config?.write) {
      const fallback = config.kind === 'import-json' ? 'import' : config.kind === 'import-prometheus' ? 'import-prometheus' : 'prw1';
      metrics.ingestRequests.inc({ protocol: protocolOf.get(req) ?? fallback, code: String(reply.statusCode) });
    }
  });

  const route = (kind: RouteKind): { config: RouteConfig } => ({ config: { write: true, kind } });
  const tenantOf = (req: FastifyRequest) => parseTenant((req.params as { tenant: string }).tenant);
  for (const url of PLAIN_WRITE_PATHS) app.post(url, route('write'), (req, reply) => write(req, reply, DEFAULT_TENANT));
  for (const url of TENANT_WRITE_PATHS) app.post(url, route('write'), (req, reply) => write(req, reply, tenantOf(req)));
  for (const url of PLAIN_IMPORT_PATHS) app.post(url, route('import-json'), (req, reply) => importBody(req, reply, DEFAULT_TENANT, 'import-json'));
  for (const url of TENANT_IMPORT_PATHS) app.post(url, route('import-json'), (req, reply) => importBody(req, reply, tenantOf(req), 'import-json'));
  for (const url of PLAIN_IMPORT_PROMETHEUS_PATHS) {
    app.post(url, route('import-prometheus'), (req, reply) => importBody(req, reply, DEFAULT_TENANT, 'import-prometheus'));
  }
  for (const url of TENANT_IMPORT_PROMETHEUS_PATHS) {
    app.post(url, route('import-prometheus'), (req, reply) => importBody(req, reply, tenantOf(req), 'import-prometheus'));
  }
  return app;
}

/** Node's own listen backlog, kept where the kernel's limit cannot be read. */
const NODE_DEFAULT_BACKLOG = 511;

/**
 * The listen backlog: the kernel's net.core.somaxconn (what the kernel would cap a larger
 * value to anyway), as Go servers such as vminsert use. Linux only; elsewhere Node's default.
 */
export function listenBacklog(procFile = '/proc/sys/net/core/somaxconn'): number {
  try {
    const n = Number.parseInt(readFileSync(procFile, 'utf8').trim(), 10);
    return Number.isFinite(n) && n > NODE_DEFAULT_BACKLOG ? n : NODE_DEFAULT_BACKLOG;
  } catch {
    return NODE_DEFAULT_BACKLOG;
  }
}

function header(req: FastifyRequest, name: string): string {
  const v = req.headers[name];
  return (Array.isArray(v) ? v.join(',') : (v ?? '')).trim().toLowerCase();
}

/** Remote write: snappy by definition (some clients omit the header), or zstd (VictoriaMetrics protocol). */
function remoteWriteEncoding(req: FastifyRequest): WireEncoding {
  const enc = header(req, 'content-encoding');
  if (enc === '' || enc === 'snappy') return 'snappy';
  if (enc === 'zstd' && zstdImplementation !== undefined) return 'zstd';
  throw new SpillwayError('SPW_ERR_UNSUPPORTED_ENCODING', `Content-Encoding "${enc.slice(0, 40)}" is not supported on remote write (snappy${zstdImplementation ? ', zstd' : ''})`);
}

/** Imports: plain, gzip (as vminsert takes them) or zstd. */
function importEncoding(req: FastifyRequest): WireEncoding {
  const enc = header(req, 'content-encoding');
  if (enc === '' || enc === 'identity') return 'identity';
  if (enc === 'gzip' || enc === 'x-gzip') return 'gzip';
  if (enc === 'zstd' && zstdImplementation !== undefined) return 'zstd';
  throw new SpillwayError('SPW_ERR_UNSUPPORTED_ENCODING', `Content-Encoding "${enc.slice(0, 40)}" is not supported on import (gzip${zstdImplementation ? ', zstd' : ''})`);
}

/**
 * The remote-write message type from Content-Type's `proto=` parameter: 1.0 when absent
 * (every 1.0 client), 2.0 for io.prometheus.write.v2.Request, 415 for anything else.
 */
function remoteWriteFormat(req: FastifyRequest): 'prw1' | 'prw2' {
  const type = header(req, 'content-type');
  const params = type.split(';');
  for (let i = 1; i < params.length; i++) {
    const eq = params[i]!.indexOf('=');
    if (eq < 0 || params[i]!.slice(0, eq).trim() !== 'proto') continue;
    const proto = params[i]!.slice(eq + 1).trim().replace(/^"(.*)"$/, '$1');
    if (proto === PRW1_MESSAGE) return 'prw1';
    if (proto === PRW2_MESSAGE) return 'prw2';
    throw new SpillwayError(
      'SPW_ERR_UNSUPPORTED_MEDIA_TYPE',
      `remote-write message type "proto=${proto.slice(0, 60)}" is not accepted (prometheus.WriteRequest or io.prometheus.write.v2.Request)`,
    );
  }
  return 'prw1';
}

/** 204, with what remote-write 2.0 senders read back: how much of the request was written. */
function sendWritten(reply: FastifyReply, out: WriteOutcome): FastifyReply {
  reply.header('X-Prometheus-Remote-Write-Samples-Written', String(out.written.samples));
  reply.header('X-Prometheus-Remote-Write-Histograms-Written', String(out.written.histograms));
  if (out.written.exemplars !== undefined) reply.header('X-Prometheus-Remote-Write-Exemplars-Written', String(out.written.exemplars));
  return reply.code(204).send();
}

function toSpillwayError(err: unknown): SpillwayError {
  if (isSpillwayError(err)) return err;
  const e = err as { code?: string; statusCode?: number; message?: string };
  switch (e.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new SpillwayError('SPW_ERR_BODY_TOO_LARGE');
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
    case 'FST_ERR_CTP_EMPTY_TYPE':
      return new SpillwayError('SPW_ERR_EMPTY_BODY');
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return new SpillwayError('SPW_ERR_UNSUPPORTED_MEDIA_TYPE', e.message);
    default:
      return new SpillwayError('SPW_ERR_INTERNAL', `unexpected error: ${e.message ?? String(err)}`, { cause: err });
  }
}

function sendError(reply: FastifyReply, err: SpillwayError): void {
  if (err.status === 401) reply.header('WWW-Authenticate', 'Basic realm="spillway", Bearer');
  if (err.retryable) reply.header('Retry-After', String(err.retryAfter ?? 5));
  reply.code(err.status).type('text/plain; charset=utf-8').send(`${err.code}: ${err.message}\n`);
}
