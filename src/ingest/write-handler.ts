// One write request from the wire to durable: decompress, decode, drop series over the
// limits, split per node, append to each node's spool, and answer only once every append
// is durable. Everything before the first append is synchronous, so the decoder's and
// splitter's reused buffers are never shared between requests.

import { SpillwayError } from '../errors.js';
import type { Metrics } from '../observe/metrics.js';
import { snappyCompress, snappyUncompress } from '../protocol/snappy.js';
import { PrwDecoder } from '../protocol/prw/decode.js';
import { MetricRowWriter } from '../protocol/vmstorage/metric-row.js';
import { DROP_REASON_NAMES, type SeriesLimits } from '../protocol/prw/types.js';
import type { Ring } from '../route/ring.js';
import { Splitter } from '../route/split.js';
import { RecordKind, type AppendInput, type NodeSpool } from '../spool/types.js';
import { tenantString, type Tenant } from './paths.js';

export type NodeKind = 'remote-write' | 'vmstorage';

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
}

export interface WriteOutcome {
  samples: number;
  series: number;
  droppedSeries: number;
}

export class WriteHandler {
  private readonly decoder: PrwDecoder;
  private readonly splitter = new Splitter();
  /** Re-reads a node's share (already validated) to build its MetricRows. */
  private readonly rowsDecoder = new PrwDecoder({ maxLabelsPerTimeseries: 1 << 30, maxLabelNameLen: 1 << 30, maxLabelValueLen: 1 << 30 });
  private readonly rows = new MetricRowWriter();

  constructor(private readonly deps: WriteHandlerDeps) {
    this.decoder = new PrwDecoder(deps.limits);
  }

  /** Resolves when every sample is durable on each of its nodes; throws a SpillwayError otherwise. */
  /** `reingest`: data already counted at its first ingest (a removed node's queue re-routed). */
  async writePrw(tenant: Tenant, body: Buffer, opts: { reingest?: boolean } = {}): Promise<WriteOutcome> {
    const { metrics, spools } = this.deps;
    if (body.length === 0) throw new SpillwayError('SPW_ERR_EMPTY_BODY');
    const raw = snappyUncompress(body, this.deps.maxInsertRequestSize);
    const view = this.decoder.decode(raw);

    let dropped = 0;
    for (let reason = 1; reason < view.droppedSeries.length; reason++) {
      const n = view.droppedSeries[reason]!;
      if (n === 0) continue;
      dropped += n;
      metrics.droppedSeries.inc({ reason: DROP_REASON_NAMES[reason] }, n);
    }
    if (view.droppedSamples > 0) metrics.droppedSamples.inc({ reason: 'limits' }, view.droppedSamples);

    const keptSeries = view.seriesCount - dropped;
    if (keptSeries === 0) return { samples: 0, series: 0, droppedSeries: dropped };

    const records: { spool: NodeSpool; rec: AppendInput }[] = [];
    const exclude = this.deps.exclusion?.();
    for (const batch of this.splitter.split(view, tenant, this.deps.ring, this.deps.replicationFactor, exclude)) {
      const native = this.deps.nodeKinds[batch.node] === 'vmstorage';
      records.push({
        spool: spools[batch.node]!,
        rec: {
          kind: native ? RecordKind.VmstorageRows : RecordKind.PrwSnappy,
          accountID: tenant.accountID,
          projectID: tenant.projectID,
          series: batch.series,
          samples: batch.samples,
          minTs: batch.minTs,
          maxTs: batch.maxTs,
          // Encoded here, once, so the spool holds exactly what the sender puts on the wire.
          data: native ? this.metricRows(batch.data, tenant) : snappyCompress(batch.data),
        },
      });
    }
    if (this.splitter.unroutedSeries > 0) {
      // Only possible with -rerouteOnUnavailable when every node is unavailable.
      throw new SpillwayError('SPW_ERR_NODE_UNAVAILABLE', 'every storage node is unavailable and -rerouteOnUnavailable is set', { retryAfter: 10 });
    }
    // Check every node before appending to any, so a refused request leaves nothing behind
    // that the client's retry would duplicate.
    for (const { spool, rec } of records) spool.checkCapacity(rec.data.length);

    const settled = await Promise.allSettled(records.map(({ spool, rec }) => spool.append(rec)));
    for (const s of settled) {
      if (s.status === 'rejected') {
        throw s.reason instanceof SpillwayError ? s.reason : new SpillwayError('SPW_ERR_SPOOL_IO', String(s.reason), { cause: s.reason });
      }
    }
    if (!opts.reingest) {
      metrics.ingestSamples.inc({ protocol: 'prw1', tenant: tenantString(tenant) }, view.sampleCount + view.histogramCount);
      metrics.ingestSeries.inc({ protocol: 'prw1' }, keptSeries);
    }
    return { samples: view.sampleCount + view.histogramCount, series: keptSeries, droppedSeries: dropped };
  }

  private metricRows(prw: Buffer, tenant: Tenant): Buffer {
    const view = this.rowsDecoder.decode(prw);
    const w = this.rows;
    w.reset();
    for (let i = 0; i < view.seriesCount; i++) w.appendSeries(view, i, tenant.accountID, tenant.projectID);
    return w.finish();
  }
}
