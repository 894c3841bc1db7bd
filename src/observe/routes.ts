// Health, readiness, metrics and status endpoints. Readiness is about Spillway itself: a
// storage node being down does not make it unready, since that node's spool holds the data.

import type { FastifyInstance } from 'fastify';
import type { Lifecycle } from './lifecycle.js';
import type { Metrics } from './metrics.js';
import { renderStatusPage } from './status-page.js';

export interface NodeStatus {
  node: string;
  state: 'up' | 'down' | 'replaying' | 'idle' | 'read-only';
  lastError: string;
  pendingBytes: number;
  pendingRecords: number;
  pendingSamples: number;
  oldestUnsentAgeSeconds: number;
  diskBytes: number;
  sentSamples: number;
  sentRecords: number;
  /** Delivery rate over the last 30 s: the replay rate while a backlog drains. */
  sentSamplesPerSecond: number;
  /** pendingSamples / sentSamplesPerSecond; null when nothing is pending or nothing moves. */
  drainEtaSeconds: number | null;
  failedAttempts: number;
  /** Failed send attempts by HTTP status, "timeout", "network", "read_only" or "protocol". */
  failuresByReason: Record<string, number>;
  rejectedRecords: number;
  droppedSamples: number;
  replicationDebtSamples: number;
}

export interface StatusDoc {
  version: string;
  phase: string;
  uptimeSeconds: number;
  replicationFactor: number;
  ingest: {
    acceptedSamples: number;
    acceptedSamplesPerSecond: number;
    rejectedRequests: Record<string, number>;
    droppedSeries: Record<string, number>;
  };
  nodes: NodeStatus[];
}

export interface ObserveDeps {
  lifecycle: Lifecycle;
  metrics: Metrics;
  status: () => Promise<StatusDoc>;
}

export function registerObserveRoutes(app: FastifyInstance, deps: ObserveDeps): void {
  const { lifecycle, metrics } = deps;
  const alive = async () => 'OK';
  app.get('/health', alive);
  app.get('/-/healthy', alive);

  const ready = async (_req: unknown, reply: import('fastify').FastifyReply) => {
    if (lifecycle.ready()) return 'OK';
    reply.code(503).header('Retry-After', '5');
    return `${lifecycle.notReadyReason()}\n`;
  };
  app.get('/-/ready', ready);
  app.get('/v1/readyz', ready);

  app.get('/metrics', async (_req, reply) => {
    reply.type(metrics.registry.contentType);
    return metrics.registry.metrics();
  });

  app.get('/api/v1/status', async () => deps.status());

  app.get('/', async (_req, reply) => {
    reply.type('text/html; charset=utf-8');
    return renderStatusPage(await deps.status());
  });
}
