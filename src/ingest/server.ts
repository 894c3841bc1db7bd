// The HTTP front: write routes, body limits, content negotiation and the status code policy
// (DESIGN.md §6). vmagent drops a block on 400/409/415 and retries anything else, so a status
// here decides whether data is retried or given up: only what can never succeed gets a 4xx.

import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import { SpillwayError, isSpillwayError } from '../errors.js';
import type { Lifecycle } from '../observe/lifecycle.js';
import type { Metrics } from '../observe/metrics.js';
import { DEFAULT_TENANT, PLAIN_WRITE_PATHS, TENANT_WRITE_PATHS, parseTenant, type Tenant } from './paths.js';
import type { WriteHandler } from './write-handler.js';

export interface ServerDeps {
  writeHandler: WriteHandler;
  lifecycle: Lifecycle;
  metrics: Metrics;
  logger: Logger;
  maxInsertRequestSize: number;
}

const PRW2_MESSAGE = 'io.prometheus.write.v2.request';

export function buildServer(deps: ServerDeps): FastifyInstance {
  const { metrics, lifecycle } = deps;
  const app = Fastify({
    loggerInstance: deps.logger as unknown as FastifyBaseLogger,
    // No per-request log lines: at thousands of requests per second they would be the load.
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: deps.maxInsertRequestSize,
    // Remote-write clients keep connections open for minutes; keep them, but bound idle ones.
    keepAliveTimeout: 65_000,
    requestTimeout: 120_000,
    return503OnClosing: true,
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

  const write = async (req: FastifyRequest, reply: FastifyReply, tenant: Tenant) => {
    const started = process.hrtime.bigint();
    const query = req.query as Record<string, string | undefined>;
    if (query.get_vm_proto_version !== undefined) {
      // vmagent's protocol handshake: answering anything but "1" keeps it on snappy
      // Prometheus remote-write, the one protocol this build decodes.
      return reply.code(204).send();
    }
    if (!lifecycle.acceptingWrites()) {
      throw new SpillwayError(lifecycle.draining ? 'SPW_ERR_SHUTTING_DOWN' : 'SPW_ERR_NOT_READY', undefined, { retryAfter: 5 });
    }
    checkContentHeaders(req);
    const body = (req.body as Buffer | undefined) ?? Buffer.alloc(0);
    metrics.ingestBytes.inc({ protocol: 'prw1' }, body.length);
    await deps.writeHandler.writePrw(tenant, body);
    metrics.ingestDuration.observe(Number(process.hrtime.bigint() - started) / 1e9);
    return reply.code(204).send();
  };

  app.addHook('onResponse', async (req, reply) => {
    if (req.method === 'POST' && req.routeOptions.config && (req.routeOptions.config as { write?: boolean }).write) {
      metrics.ingestRequests.inc({ protocol: 'prw1', code: String(reply.statusCode) });
    }
  });

  for (const url of PLAIN_WRITE_PATHS) {
    app.post(url, { config: { write: true } }, (req, reply) => write(req, reply, DEFAULT_TENANT));
  }
  for (const url of TENANT_WRITE_PATHS) {
    app.post(url, { config: { write: true } }, (req, reply) => write(req, reply, parseTenant((req.params as { tenant: string }).tenant)));
  }
  return app;
}

function checkContentHeaders(req: FastifyRequest): void {
  const enc = (req.headers['content-encoding'] ?? '').toString().trim().toLowerCase();
  // Prometheus remote-write is snappy by definition; some clients omit the header.
  if (enc !== '' && enc !== 'snappy') {
    throw new SpillwayError('SPW_ERR_UNSUPPORTED_ENCODING', `Content-Encoding "${enc.slice(0, 40)}" is not supported`);
  }
  const type = (req.headers['content-type'] ?? '').toString().toLowerCase();
  if (type.includes(PRW2_MESSAGE)) {
    throw new SpillwayError('SPW_ERR_UNSUPPORTED_MEDIA_TYPE', 'remote-write 2.0 messages are not accepted yet');
  }
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
  if (err.retryable) reply.header('Retry-After', String(err.retryAfter ?? 5));
  reply.code(err.status).type('text/plain; charset=utf-8').send(`${err.code}: ${err.message}\n`);
}
