// Every metric Spillway exports, created once at start. Hot paths hold the handles (or
// label-bound children) and only increment; queue gauges are computed when scraped.

import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** What the scrape reads of one node: its spool counters and whether its sender is up. */
export interface NodeObservation {
  node: string;
  pendingBytes: number;
  pendingRecords: number;
  pendingSamples: number;
  oldestAppendedAt: number;
  diskBytes: number;
  droppedRecords: number;
  droppedSamples: number;
  appends?: number;
  appendBatches?: number;
  fsyncs?: number;
  ioErrors?: number;
  corruptRecords?: number;
  up: boolean;
  /** Samples this node is behind the replica furthest ahead (0 with one copy). */
  replicationDebtSamples: number;
}

export interface NodeGaugeSource {
  /** One entry per node, read at scrape time. */
  nodes(): Iterable<NodeObservation>;
}

export class Metrics {
  readonly registry = new Registry();

  readonly ingestRequests = new Counter({
    name: 'spillway_ingest_requests_total',
    help: 'Write requests by protocol and answer status code.',
    labelNames: ['protocol', 'code'] as const,
    registers: [this.registry],
  });
  readonly ingestSamples = new Counter({
    name: 'spillway_ingest_samples_total',
    help: 'Samples accepted (durable in every target spool) by protocol and tenant.',
    labelNames: ['protocol', 'tenant'] as const,
    registers: [this.registry],
  });
  readonly ingestSeries = new Counter({
    name: 'spillway_ingest_series_total',
    help: 'Series accepted by protocol.',
    labelNames: ['protocol'] as const,
    registers: [this.registry],
  });
  readonly ingestBytes = new Counter({
    name: 'spillway_ingest_bytes_total',
    help: 'Request body bytes received (as sent, compressed) by protocol.',
    labelNames: ['protocol'] as const,
    registers: [this.registry],
  });
  readonly ingestRejected = new Counter({
    name: 'spillway_ingest_rejected_requests_total',
    help: 'Whole requests refused, by reason (the SPW_ERR_* code in lower case).',
    labelNames: ['reason'] as const,
    registers: [this.registry],
  });
  readonly decodeWorkerRestarts = new Counter({
    name: 'spillway_decode_worker_restarts_total',
    help: 'Decode worker threads (-insert.workers) that died and were replaced; the requests they held got 500 and were retried by the clients.',
    registers: [this.registry],
  });
  readonly droppedSeries = new Counter({
    name: 'spillway_ingest_dropped_series_total',
    help: 'Series dropped by per-series limits while the rest of the request was accepted, by reason.',
    labelNames: ['reason'] as const,
    registers: [this.registry],
  });
  readonly droppedSamples = new Counter({
    name: 'spillway_ingest_dropped_samples_total',
    help: 'Samples in series dropped by per-series limits, by reason.',
    labelNames: ['reason'] as const,
    registers: [this.registry],
  });
  readonly ingestDuration = new Histogram({
    name: 'spillway_ingest_request_duration_seconds',
    help: 'Time from request start to answer, including the spool fsync.',
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [this.registry],
  });

  readonly nodeSentSamples = new Counter({
    name: 'spillway_node_sent_samples_total',
    help: 'Samples a node acknowledged.',
    labelNames: ['node'] as const,
    registers: [this.registry],
  });
  readonly nodeSentRecords = new Counter({
    name: 'spillway_node_sent_records_total',
    help: 'Spool records a node acknowledged.',
    labelNames: ['node'] as const,
    registers: [this.registry],
  });
  readonly nodeSentBytes = new Counter({
    name: 'spillway_node_sent_bytes_total',
    help: 'Bytes (as sent on the wire) a node acknowledged.',
    labelNames: ['node'] as const,
    registers: [this.registry],
  });
  readonly nodeSendFailures = new Counter({
    name: 'spillway_node_send_failures_total',
    help: 'Failed send attempts by node and reason (HTTP status, "timeout" or "network").',
    labelNames: ['node', 'reason'] as const,
    registers: [this.registry],
  });
  readonly nodeRetries = new Counter({
    name: 'spillway_node_retries_total',
    help: 'Records sent again after a failed attempt.',
    labelNames: ['node'] as const,
    registers: [this.registry],
  });
  readonly nodeRejectedRecords = new Counter({
    name: 'spillway_node_rejected_records_total',
    help: 'Records a node refused permanently (4xx other than 429), set aside in its dead-letter file.',
    labelNames: ['node'] as const,
    registers: [this.registry],
  });
  readonly nodeRejectedSamples = new Counter({
    name: 'spillway_node_rejected_samples_total',
    help: 'Samples in records a node refused permanently.',
    labelNames: ['node'] as const,
    registers: [this.registry],
  });
  readonly nodeSendDuration = new Histogram({
    name: 'spillway_node_send_duration_seconds',
    help: 'Duration of successful sends to a node.',
    labelNames: ['node'] as const,
    buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [this.registry],
  });
  readonly spoolFsyncDuration = new Histogram({
    name: 'spillway_spool_fsync_duration_seconds',
    help: 'Duration of spool fsyncs (one covers every request waiting for it).',
    buckets: [0.0001, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
    registers: [this.registry],
  });

  private source: NodeGaugeSource | undefined;
  private phase: (() => string) | undefined;

  constructor() {
    collectDefaultMetrics({ register: this.registry });
    const self = this;
    const perNode = (name: string, help: string, pick: (n: NodeObservation) => number) =>
      new Gauge({
        name,
        help,
        labelNames: ['node'] as const,
        registers: [this.registry],
        collect() {
          this.reset();
          if (!self.source) return;
          for (const n of self.source.nodes()) this.set({ node: n.node }, pick(n));
        },
      });
    perNode('spillway_spool_pending_bytes', 'Bytes in a node spool not yet acknowledged by the node.', (n) => n.pendingBytes);
    perNode('spillway_spool_pending_records', 'Records in a node spool not yet acknowledged by the node.', (n) => n.pendingRecords);
    perNode('spillway_spool_pending_samples', 'Samples in a node spool not yet acknowledged by the node.', (n) => n.pendingSamples);
    perNode('spillway_spool_disk_bytes', 'Bytes of segment files of a node spool on disk.', (n) => n.diskBytes);
    perNode('spillway_spool_oldest_age_seconds', 'Age of the oldest unsent record of a node (its lag); 0 when empty.', (n) =>
      n.oldestAppendedAt > 0 ? Math.max(0, (Date.now() - n.oldestAppendedAt) / 1000) : 0,
    );
    perNode('spillway_spool_dropped_records', 'Records of a node dropped by -spool.onFull=drop-oldest or -spool.maxAge since start.', (n) => n.droppedRecords);
    perNode('spillway_spool_dropped_samples', 'Samples in records dropped by -spool.onFull=drop-oldest or -spool.maxAge since start.', (n) => n.droppedSamples);
    perNode('spillway_spool_appends', 'Records appended to a node spool since start.', (n) => n.appends ?? 0);
    perNode('spillway_spool_append_batches', 'Write batches of a node spool since start; appends / batches is the group-commit factor.', (n) => n.appendBatches ?? 0);
    perNode('spillway_spool_fsyncs', 'Data fsyncs of a node spool since start.', (n) => n.fsyncs ?? 0);
    perNode('spillway_spool_io_errors', 'Failed spool writes or fsyncs since start (disk full or I/O errors).', (n) => n.ioErrors ?? 0);
    perNode('spillway_spool_corrupt_records', 'Damaged records found when read back, set aside and skipped, since start.', (n) => n.corruptRecords ?? 0);
    perNode('spillway_node_replication_debt_samples', 'Samples this node still has to receive that the replica furthest ahead already has (0 with one copy).', (n) => n.replicationDebtSamples);
    new Gauge({
      name: 'spillway_ready',
      help: '1 when Spillway is ready for traffic (spools recovered, listening, not draining), as /-/ready answers.',
      registers: [this.registry],
      collect() {
        this.set(self.phase?.() === 'ready' ? 1 : 0);
      },
    });
    new Gauge({
      name: 'spillway_phase',
      help: 'The lifecycle phase: 1 for the current one (starting, ready, draining, stopped).',
      labelNames: ['phase'] as const,
      registers: [this.registry],
      collect() {
        this.reset();
        const p = self.phase?.();
        if (p) this.set({ phase: p }, 1);
      },
    });
    perNode('spillway_node_up', '1 when the last send to the node succeeded (or nothing failed yet), 0 while it fails.', (n) => (n.up ? 1 : 0));
  }

  /** The lifecycle phase, exported as spillway_phase{phase} and spillway_ready. */
  setPhaseSource(phase: () => string): void {
    this.phase = phase;
  }

  setNodeSource(source: NodeGaugeSource): void {
    this.source = source;
  }
}
