// One write request from the wire to durable: decompress, decode, drop series over the
// limits, split per node, append to each node's spool, and answer only once every append
// is durable. Everything before the first append is synchronous, so the decoder's,
// converters' and splitter's reused buffers are never shared between requests.
//
// Every protocol becomes a remote-write 1.0 WriteRequest before decoding:
//   prw1               snappy (Prometheus) or zstd (VictoriaMetrics remote-write protocol)
//   prw2               remote-write 2.0, converted by copying symbol ranges (protocol/prw2)
//   import-json        /api/v1/import JSON lines (protocol/import)
//   import-prometheus  /api/v1/import/prometheus text exposition (protocol/import)
// Imports route with vminsert's import-path key rule (empty metric-name label, PROTOCOL.md
// §6.1), so a series lands on the nodes a vminsert would have picked for the same import.

import { gunzipSync } from 'node:zlib';
import { SpillwayError } from '../errors.js';
import type { Metrics } from '../observe/metrics.js';
import { ProtocolMetrics } from '../observe/protocol-metrics.js';
import { snappyCompress, snappyUncompress } from '../protocol/snappy.js';
import { ZstdDecoder } from '../protocol/zstd.js';
import { PrwDecoder } from '../protocol/prw/decode.js';
import { Prw2Converter } from '../protocol/prw2/convert.js';
import { WriteRequestWriter } from '../protocol/import/writer.js';
import { parseJsonLines, type ImportResult } from '../protocol/import/json-lines.js';
import { parsePrometheusText } from '../protocol/import/prometheus-text.js';
import { MetricRowWriter } from '../protocol/vmstorage/metric-row.js';
import { DROP_REASON_NAMES, SERIES_STRIDE, S_DROP, type SeriesLimits, type WriteRequestView } from '../protocol/prw/types.js';
import type { Ring } from '../route/ring.js';
import { Splitter } from '../route/split.js';
import { RecordKind, type AppendInput, type NodeSpool } from '../spool/types.js';
import { tenantString, type Tenant } from './paths.js';

/** How the body is compressed (Content-Encoding). */
export type WireEncoding = 'snappy' | 'zstd' | 'gzip' | 'identity';
/** What the (decompressed) body is. */
export type MessageFormat = 'prw1' | 'prw2' | 'import-json' | 'import-prometheus';

export interface WriteInput {
  body: Buffer;
  encoding: WireEncoding;
  format: MessageFormat;
  /** Timestamp (ms) for text-format samples without one; default now. */
  receivedAtMs?: number;
}

/** The `protocol` label of the ingest metrics for a format and encoding. */
export function protocolLabel(format: MessageFormat, encoding: WireEncoding): string {
  switch (format) {
    case 'prw1':
      return encoding === 'zstd' ? 'prw1-zstd' : 'prw1';
    case 'prw2':
      return 'prw2';
    case 'import-json':
      return 'import';
    case 'import-prometheus':
      return 'import-prometheus';
  }
}

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

const NOTHING = { samples: 0, histograms: 0, exemplars: 0 };

export class WriteHandler {
  private readonly decoder: PrwDecoder;
  private readonly splitter = new Splitter();
  /** Imports hash the metric name under an empty label name (PROTOCOL.md §6.1); made on first use. */
  private importSplitter: Splitter | undefined;
  private prw2: Prw2Converter | undefined;
  private readonly zstd = new ZstdDecoder();
  private importWriter: WriteRequestWriter | undefined;
  private readonly rows = new MetricRowWriter();
  private mask: { kinds: readonly NodeKind[]; bits: Uint8Array | undefined } | undefined;
  private readonly protocolMetrics: ProtocolMetrics;
  /** No node takes remote-write: histograms and exemplars cannot reach any node. */
  private readonly onlyNative: boolean;

  constructor(private readonly deps: WriteHandlerDeps) {
    this.decoder = new PrwDecoder(deps.limits);
    this.protocolMetrics = ProtocolMetrics.of(deps.metrics.registry);
    this.onlyNative = deps.nodeKinds.length > 0 && deps.nodeKinds.every((k) => k === 'vmstorage');
  }

  /** A snappy remote-write 1.0 body. Resolves when every sample is durable on each of its nodes; throws a SpillwayError otherwise. */
  /** `reingest`: data already counted at its first ingest (a removed node's queue re-routed). */
  async writePrw(tenant: Tenant, body: Buffer, opts: { reingest?: boolean } = {}): Promise<WriteOutcome> {
    return this.write(tenant, { body, encoding: 'snappy', format: 'prw1' }, opts);
  }

  /** Any supported protocol; see the file comment. */
  async write(tenant: Tenant, input: WriteInput, opts: { reingest?: boolean } = {}): Promise<WriteOutcome> {
    const { body, encoding, format } = input;
    const importing = format === 'import-json' || format === 'import-prometheus';
    if (body.length === 0) {
      // vminsert answers an empty import with 204; an empty remote-write body is a broken client.
      if (importing) return { samples: 0, series: 0, droppedSeries: 0, written: NOTHING, badLines: 0 };
      throw new SpillwayError('SPW_ERR_EMPTY_BODY');
    }
    const max = this.deps.maxInsertRequestSize;
    const raw = this.decompress(body, encoding, max);
    const protocol = protocolLabel(format, encoding);

    switch (format) {
      case 'prw1':
        return this.ingest(tenant, raw, this.splitter, protocol, opts);
      case 'prw2': {
        const conv = (this.prw2 ??= new Prw2Converter({ maxOutputBytes: max }));
        const v1 = conv.convert(raw);
        const st = conv.stats;
        if (!opts.reingest) {
          if (st.metadataDropped > 0) this.protocolMetrics.unforwarded.inc({ protocol, what: 'metadata' }, st.metadataDropped);
          if (st.createdTimestampsDropped > 0) this.protocolMetrics.unforwarded.inc({ protocol, what: 'created_timestamp' }, st.createdTimestampsDropped);
        }
        return this.ingest(tenant, v1, this.splitter, protocol, opts, conv);
      }
      case 'import-json':
      case 'import-prometheus': {
        const w = (this.importWriter ??= new WriteRequestWriter(max));
        w.begin(raw);
        const res: ImportResult =
          format === 'import-json' ? parseJsonLines(raw, w) : parsePrometheusText(raw, w, input.receivedAtMs ?? Date.now());
        if (res.badLines > 0) {
          this.protocolMetrics.importBadLines.inc({ format: format === 'import-json' ? 'json' : 'prometheus' }, res.badLines);
          if (w.seriesCount === 0) throw new SpillwayError('SPW_ERR_BAD_IMPORT', `${res.badLines} bad lines, none usable; first: ${res.firstError}`);
        }
        const v1 = w.finish();
        const splitter = (this.importSplitter ??= new Splitter({ rule: 'import' }));
        const out = await this.ingest(tenant, v1, splitter, protocol, opts);
        out.badLines = res.badLines;
        if (res.firstError !== undefined) out.firstBadLine = res.firstError;
        return out;
      }
    }
  }

  private decompress(body: Buffer, encoding: WireEncoding, max: number): Buffer {
    switch (encoding) {
      case 'snappy':
        return snappyUncompress(body, max);
      case 'zstd':
        return this.zstd.decompress(body, max);
      case 'gzip':
        try {
          return gunzipSync(body, { maxOutputLength: Math.max(1, max) });
        } catch (err) {
          if ((err as { code?: string }).code === 'ERR_BUFFER_TOO_LARGE') {
            throw new SpillwayError('SPW_ERR_DECOMPRESSED_TOO_LARGE', `gzip body decompresses to more than the limit of ${max} bytes at offset 0`);
          }
          throw new SpillwayError('SPW_ERR_BAD_GZIP', `corrupt gzip body (${(err as Error).message}) at offset 0`, { cause: err });
        }
      case 'identity':
        if (body.length > max) throw new SpillwayError('SPW_ERR_BODY_TOO_LARGE');
        return body;
    }
  }

  /** Decode a 1.0 WriteRequest, split it and append it to the spools. */
  private async ingest(
    tenant: Tenant,
    raw: Buffer,
    splitter: Splitter,
    protocol: string,
    opts: { reingest?: boolean },
    converted?: Prw2Converter,
  ): Promise<WriteOutcome> {
    const { metrics, spools } = this.deps;
    let view: WriteRequestView;
    try {
      view = this.decoder.decode(raw);
    } catch (err) {
      // A 2.0 request's samples, histograms and exemplars are only validated here, in their
      // 1.0 form: say so, since the offset is in that form.
      if (converted && err instanceof SpillwayError && err.code === 'SPW_ERR_BAD_PROTOBUF') {
        const at = /at offset (\d+)/.exec(err.message);
        const series = at ? converted.sourceSeriesAt(Number(at[1])) : -1;
        throw new SpillwayError('SPW_ERR_BAD_PRW2', `timeseries ${series} (checked in its 1.0 form: ${err.message.split(': ')[0]})`, { cause: err });
      }
      throw err;
    }

    let dropped = 0;
    for (let reason = 1; reason < view.droppedSeries.length; reason++) {
      const n = view.droppedSeries[reason]!;
      if (n === 0) continue;
      dropped += n;
      metrics.droppedSeries.inc({ reason: DROP_REASON_NAMES[reason] }, n);
    }
    if (view.droppedSamples > 0) metrics.droppedSamples.inc({ reason: 'limits' }, view.droppedSamples);

    const keptSeries = view.seriesCount - dropped;
    let exemplars: number | undefined;
    if (converted) {
      exemplars = 0;
      for (let i = 0; i < view.seriesCount; i++) if (view.series[i * SERIES_STRIDE + S_DROP] === 0) exemplars += converted.exemplarsOf(i);
    } else if (protocol.startsWith('import')) exemplars = 0;
    if (keptSeries === 0) return { samples: 0, series: 0, droppedSeries: dropped, written: { ...NOTHING, exemplars }, badLines: 0 };

    const records: { spool: NodeSpool; rec: AppendInput }[] = [];
    const exclude = this.deps.exclusion?.();
    for (const batch of splitter.split(view, tenant, this.deps.ring, this.deps.replicationFactor, exclude, this.nativeMask())) {
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
          data: native ? this.metricRows(view, batch.indexes, tenant) : snappyCompress(batch.data),
        },
      });
    }
    if (splitter.unroutedSeries > 0) {
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
    let histograms = view.histogramCount;
    if (this.onlyNative) {
      // MetricRows carry float samples only.
      if (!opts.reingest) {
        if (histograms > 0) this.protocolMetrics.unforwarded.inc({ protocol, what: 'histograms' }, histograms);
        if (exemplars) this.protocolMetrics.unforwarded.inc({ protocol, what: 'exemplars' }, exemplars);
      }
      histograms = 0;
      if (exemplars !== undefined) exemplars = 0;
    }
    if (!opts.reingest) {
      metrics.ingestSamples.inc({ protocol, tenant: tenantString(tenant) }, view.sampleCount + view.histogramCount);
      metrics.ingestSeries.inc({ protocol }, keptSeries);
    }
    return {
      samples: view.sampleCount + view.histogramCount,
      series: keptSeries,
      droppedSeries: dropped,
      written: { samples: view.sampleCount, histograms, exemplars },
      badLines: 0,
    };
  }

  /** A vmstorage node's share as MetricRows, built from the decoded request itself. */
  private metricRows(view: WriteRequestView, indexes: Int32Array, tenant: Tenant): Buffer {
    const w = this.rows;
    w.reset();
    for (let k = 0; k < indexes.length; k++) w.appendSeries(view, indexes[k]!, tenant.accountID, tenant.projectID);
    return w.finish();
  }

  /** 1 for each vmstorage node: the splitter gives those series indexes, not copied bytes. */
  private nativeMask(): Uint8Array | undefined {
    const kinds = this.deps.nodeKinds;
    if (this.mask === undefined || this.mask.kinds !== kinds) {
      // The node list changes only on a reload, which replaces nodeKinds.
      const bits = Uint8Array.from(kinds, (k) => (k === 'vmstorage' ? 1 : 0));
      this.mask = { kinds, bits: bits.includes(1) ? bits : undefined };
    }
    return this.mask.bits;
  }
}
