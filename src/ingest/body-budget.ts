// The write-body budget on the HTTP front (-insert.maxBufferedBytes, -insert.minBodyRate).
// A write reserves its declared Content-Length before a body byte is read, so a reconnect
// storm of thousands of vmagents waits with its bodies in the sockets instead of in memory.
// Once admitted, a body must keep up with -insert.minBodyRate (body-rate.ts), or it gets
// 408 and its reservation goes to the next request.

import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { SpillwayError } from '../errors.js';
import type { Metrics } from '../observe/metrics.js';
import type { Admission } from './admission.js';
import type { BodyRateGuard } from './body-rate.js';

export interface BodyBudgetDeps {
  budget: Admission;
  rate: BodyRateGuard | undefined;
  metrics: Metrics;
  maxInsertRequestSize: number;
  /** Whether a request is a write (only writes reserve). */
  isWrite: (req: FastifyRequest) => boolean;
  /** The server's error answer (status, Retry-After, SPW_ERR_ body). */
  sendError: (reply: FastifyReply, err: SpillwayError) => void;
}

/** At most one log line per this many ms for bodies cut as too slow. */
const SLOW_LOG_EVERY_MS = 10_000;

export function registerBodyBudget(app: FastifyInstance, deps: BodyBudgetDeps): void {
  const { budget, rate, metrics } = deps;
  const held = new WeakMap<FastifyRequest, () => void>();
  const waiting = new WeakMap<FastifyRequest, AbortController>();
  const watching = new WeakMap<FastifyRequest, () => void>();
  const slowLogged = { at: 0, since: 0 };

  const unwatch = (req: FastifyRequest) => {
    watching.get(req)?.();
    watching.delete(req);
  };
  const releaseHeld = (req: FastifyRequest) => {
    unwatch(req);
    held.get(req)?.();
    held.delete(req);
  };

  const cutTooSlow = (req: FastifyRequest, reply: FastifyReply, declared: number, received: number, ms: number) => {
    // The reservation goes to the next request now; this one's answer closes the
    // connection, as the rest of its body will not be read.
    releaseHeld(req);
    const err = new SpillwayError(
      'SPW_ERR_BODY_TOO_SLOW',
      `${received} of ${Number.isFinite(declared) ? declared : 'an undeclared number of'} body bytes arrived in ${(ms / 1000).toFixed(1)} s, below -insert.minBodyRate=${rate!.bytesPerSecond} bytes/s`,
      { retryAfter: 1 },
    );
    metrics.ingestRejected.inc({ reason: 'body_too_slow' });
    // A slowloris attack must not turn into a log flood.
    const now = Date.now();
    if (now - slowLogged.at >= SLOW_LOG_EVERY_MS) {
      req.log.warn({ code: err.code, path: req.url, cutSinceLastLine: slowLogged.since }, err.message);
      slowLogged.at = now;
      slowLogged.since = 0;
    } else slowLogged.since++;
    if (reply.sent || reply.raw.headersSent) {
      req.raw.socket.destroy();
      return;
    }
    reply.raw.once('finish', () => req.raw.socket.destroy());
    reply.header('Connection', 'close');
    deps.sendError(reply, err);
  };

  app.addHook('onRequest', async (req, reply) => {
    if (!deps.isWrite(req)) return;
    const declared = Number(req.headers['content-length']);
    // Over the limit it is refused (413) without being read; without a length, assume the limit.
    const size = Number.isFinite(declared) ? (declared > deps.maxInsertRequestSize ? 0 : declared) : deps.maxInsertRequestSize;
    const gone = new AbortController();
    waiting.set(req, gone);
    held.set(req, await budget.acquire(size, gone.signal));
    if (rate && size > 0) watching.set(req, rate.watch(req.raw.socket, (received, ms) => cutTooSlow(req, reply, declared, received, ms)));
  });
  // The body is in: from here on its rate no longer matters.
  app.addHook('preValidation', async (req) => unwatch(req));
  app.addHook('onResponse', async (req) => releaseHeld(req));
  // A client that leaves while still queued must take its place in the queue with it.
  app.addHook('onRequestAbort', async (req) => {
    waiting.get(req)?.abort();
    releaseHeld(req);
  });
}
