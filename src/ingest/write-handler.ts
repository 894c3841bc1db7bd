// One write request from the wire to durable: prepare it (decompress, decode, drop series
// over the limits, split per node and encode each node's record; prepare.ts), append each
// record to its node's spool, and answer only once every append is durable. Preparation
// runs on the main thread, or in a pool of worker threads (-insert.workers) so that more
// than one core decodes; appends and counters stay here, with the single owner of the
// spools.

import { SpillwayError } from '../errors.js';
import type { Metrics } from '../observe/metrics.js';
import { ProtocolMetrics } from '../observe/protocol-metrics.js';
import { DROP_REASON_NAMES, type SeriesLimits } from '../protocol/prw/types.js';
import type { Ring } from '../route/ring.js';
import type { NodeSpool } from '../spool/types.js';
import { tenantString, type Tenant } from './paths.js';
import { WritePreparer, emptyCounts, protocolLabel, type NodeKind, type PrepareCounts, type Prepared, type Routing, type WriteInput } from './prepare.js';

export { protocolLabel, type MessageFormat, type NodeKind, type WireEncoding, type WriteInput } from './prepare.js';

/** Runs preparations somewhere else (a worker pool); the handler prepares in-thread without one. */
export interface PrepareRunner {
  /**
   * Rejects with a PrepareFailure for a request that can never be accepted. Undefined when
   * no worker can take it now (starting, restarting): the caller prepares it itself.
   */
  prepare(tenant: Tenant, input: WriteInput, routing: Routing): Promise<Prepared> | undefined;
}

/** A preparation that failed, with what it counted before failing. */
export class PrepareFailure extends Error {
  constructor(
    readonly error: SpillwayError,
    readonly counts: PrepareCounts,
  ) {
    super(error.message);
  }
}

export interface WriteHandlerDeps {
  ring: Ring;
  replicationFactor: number;
  /** Spools in ring order. */
  spools: readonly NodeSpool[];
  /** What each node (in ring order) is sent, which decides what its spool records hold. */
  nodeKinds: readonly NodeKind[];
  /**
   * Nodes to route around for new data (-rerouteOnUnavailable): non-zero entries are
   * unavailable. Undefined means route every series to its own nodes (hinted handoff).
   */
  exclusion?: () => Uint8Array | undefined;
  limits: SeriesLimits;
  maxInsertRequestSize: number;
  metrics: Metrics;
  /** Where requests are prepared; in this thread when absent. */
  runner?: PrepareRunner;
}

export interface WriteOutcome {
  /** Float and histogram samples accepted. */
  samples: number;
  series: number;
  droppedSeries: number;
  /** What the answer's X-Prometheus-Remote-Write-*-Written headers report: accepted and forwardable. */
  written: { samples: number; histograms: number; exemplars: number | undefined };
  /** Import lines skipped as unparseable (0 for other formats), and the first one's error. */
  badLines: number;
  firstBadLine?: string;
}

export class WriteHandler {
  /** In-thread preparation: always used for re-routed records, and for everything without a runner. */
  private readonly local: WritePreparer;
  private readonly protocolMetrics: ProtocolMetrics;

  constructor(private readonly deps: WriteHandlerDeps) {
    this.local = new WritePreparer(deps.limits, deps.maxInsertRequestSize);
    this.protocolMetrics = ProtocolMetrics.of(deps.metrics.registry);
  }

  /** A snappy remote-write 1.0 body. Resolves when every sample is durable on each of its nodes; throws a SpillwayError otherwise. */
  /** `reingest`: data already counted at its first ingest (a removed node's queue re-routed). */
  async writePrw(tenant: Tenant, body: Buffer, opts: { reingest?: boolean } = {}): Promise<WriteOutcome> {
    return this.write(tenant, { body, encoding: 'snappy', format: 'prw1' }, opts);
  }

  /** Any supported protocol; see prepare.ts. */
  async write(tenant: Tenant, input: WriteInput, opts: { reingest?: boolean } = {}): Promise<WriteOutcome> {
    const { spools } = this.deps;
    const protocol = protocolLabel(input.format, input.encoding);
    // The routing snapshot this request is split by; the spools must be of the same snapshot.
    const routing: Routing = { ring: this.deps.ring, replicationFactor: this.deps.replicationFactor, nodeKinds: this.deps.nodeKinds, exclude: this.deps.exclusion?.() };
    let prepared: Prepared;
    try {
      prepared = await this.prepare(tenant, input, routing, opts);
    } catch (err) {
      if (!(err instanceof PrepareFailure)) throw err;
      this.applyCounts(err.counts, input, protocol, opts);
      throw err.error;
    }
    this.applyCounts(prepared.counts, input, protocol, opts);
    const outcome: WriteOutcome = {
      samples: prepared.sampleCount + prepared.histogramCount,
      series: prepared.keptSeries,
      droppedSeries: prepared.droppedSeries,
      written: prepared.written,
      badLines: prepared.badLines,
    };
    if (prepared.firstBadLine !== undefined) outcome.firstBadLine = prepared.firstBadLine;
    if (prepared.keptSeries === 0) return outcome;

    // Check every node before appending to any, so a refused request leaves nothing behind
    // that the client's retry would duplicate.
    for (const { node, rec } of prepared.records) spools[node]!.checkCapacity(rec.data.length);
    const settled = await Promise.allSettled(prepared.records.map(({ node, rec }) => spools[node]!.append(rec)));
    for (const s of settled) {
      if (s.status === 'rejected') {
        throw s.reason instanceof SpillwayError ? s.reason : new SpillwayError('SPW_ERR_SPOOL_IO', String(s.reason), { cause: s.reason });
      }
    }
    if (!opts.reingest) {
      const { metrics } = this.deps;
      metrics.ingestSamples.inc({ protocol, tenant: tenantString(tenant) }, outcome.samples);
      metrics.ingestSeries.inc({ protocol }, prepared.keptSeries);
    }
    return outcome;
  }

  /** In a worker when one can take it (never for re-routed records), else in this thread. */
  private prepare(tenant: Tenant, input: WriteInput, routing: Routing, opts: { reingest?: boolean }): Promise<Prepared> {
    const elsewhere = opts.reingest ? undefined : this.deps.runner?.prepare(tenant, input, routing);
    if (elsewhere) return elsewhere;
    const counts = emptyCounts();
    try {
      return Promise.resolve(this.local.prepare(tenant, input, routing, counts));
    } catch (err) {
      return Promise.reject(err instanceof SpillwayError ? new PrepareFailure(err, counts) : err);
    }
  }

  private applyCounts(c: PrepareCounts, input: WriteInput, protocol: string, opts: { reingest?: boolean }): void {
    const { metrics } = this.deps;
    for (let reason = 1; reason < c.droppedSeries.length; reason++) {
      const n = c.droppedSeries[reason];
      if (n) metrics.droppedSeries.inc({ reason: DROP_REASON_NAMES[reason] }, n);
    }
    if (c.droppedSamples > 0) metrics.droppedSamples.inc({ reason: 'limits' }, c.droppedSamples);
    if (c.importBadLines > 0) this.protocolMetrics.importBadLines.inc({ format: input.format === 'import-json' ? 'json' : 'prometheus' }, c.importBadLines);
    if (!opts.reingest) for (const [what, n] of c.unforwarded) this.protocolMetrics.unforwarded.inc({ protocol, what }, n);
  }
}
