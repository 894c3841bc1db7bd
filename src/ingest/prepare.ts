// The CPU half of a write: decompress, decode, drop series over the limits, split per node
// and encode each node's record, from the body bytes and a routing snapshot alone. It
// touches no spool, metric or socket, so it runs the same on the main thread or in a worker
// (prepare-pool.ts); the write handler does the rest (capacity, appends, counters).
//
// Every protocol becomes a remote-write 1.0 WriteRequest before decoding:
//   prw1               snappy (Prometheus) or zstd (VictoriaMetrics remote-write protocol)
//   prw2               remote-write 2.0, converted by copying symbol ranges (protocol/prw2)
//   import-json        /api/v1/import JSON lines (protocol/import)
//   import-prometheus  /api/v1/import/prometheus text exposition (protocol/import)
// Imports route with vminsert's import-path key rule (empty metric-name label, PROTOCOL.md
// §6.1), so a series lands on the nodes a vminsert would have picked for the same import.
//
// One preparer's reused buffers (decoder, converters, splitter arenas) serve one request at
// a time: prepare() is synchronous from start to end.

import { gunzipSync } from 'node:zlib';
import { SpillwayError } from '../errors.js';
import { snappyCompress, snappyUncompress } from '../protocol/snappy.js';
import { ZstdDecoder } from '../protocol/zstd.js';
import { PrwDecoder } from '../protocol/prw/decode.js';
import { Prw2Converter } from '../protocol/prw2/convert.js';
import { WriteRequestWriter } from '../protocol/import/writer.js';
import { parseJsonLines, type ImportResult } from '../protocol/import/json-lines.js';
import { parsePrometheusText } from '../protocol/import/prometheus-text.js';
import { MetricRowWriter } from '../protocol/vmstorage/metric-row.js';
import { SERIES_STRIDE, S_DROP, type SeriesLimits, type WriteRequestView } from '../protocol/prw/types.js';
import type { Ring } from '../route/ring.js';
import { Splitter } from '../route/split.js';
import { RecordKind, type AppendInput } from '../spool/types.js';
import type { Tenant } from './paths.js';

/** How the body is compressed (Content-Encoding). */
export type WireEncoding = 'snappy' | 'zstd' | 'gzip' | 'identity';
/** What the (decompressed) body is. */
export type MessageFormat = 'prw1' | 'prw2' | 'import-json' | 'import-prometheus';
export type NodeKind = 'remote-write' | 'vmstorage';

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

/** Where series go: the ring, how many copies, what each node takes, who is routed around. */
export interface Routing {
  ring: Ring;
  replicationFactor: number;
  /** What each node (in ring order) is sent, which decides what its records hold. */
  nodeKinds: readonly NodeKind[];
  /** Non-zero entries are unavailable for new data (-rerouteOnUnavailable). */
  exclude?: Uint8Array | undefined;
}

/**
 * Counter increments a preparation owes, applied by whoever holds the metrics (also when it
 * fails: an import with no usable line still counts its bad lines).
 */
export interface PrepareCounts {
  /** Dropped series by DropReason index. */
  droppedSeries: number[];
  droppedSamples: number;
  /** Parts of the request that cannot be forwarded: [what, count]. */
  unforwarded: [string, number][];
  importBadLines: number;
}

export function emptyCounts(): PrepareCounts {
  return { droppedSeries: [], droppedSamples: 0, unforwarded: [], importBadLines: 0 };
}

/** One node's record, ready to append. */
export interface PreparedRecord {
  node: number;
  rec: AppendInput;
}

export interface Prepared {
  records: PreparedRecord[];
  /** Float samples and histogram samples in the kept series. */
  sampleCount: number;
  histogramCount: number;
  keptSeries: number;
  droppedSeries: number;
  /** What the Written headers report (histograms/exemplars 0 when no node can take them). */
  written: { samples: number; histograms: number; exemplars: number | undefined };
  badLines: number;
  firstBadLine?: string;
  counts: PrepareCounts;
}

export class WritePreparer {
  private readonly decoder: PrwDecoder;
  private readonly splitter = new Splitter();
  /** Imports hash the metric name under an empty label name (PROTOCOL.md §6.1); made on first use. */
  private importSplitter: Splitter | undefined;
  private prw2: Prw2Converter | undefined;
  private readonly zstd = new ZstdDecoder();
  private importWriter: WriteRequestWriter | undefined;
  private readonly rows = new MetricRowWriter();
  private mask: { kinds: readonly NodeKind[]; bits: Uint8Array | undefined; onlyNative: boolean } | undefined;

  constructor(
    limits: SeriesLimits,
    private readonly maxInsertRequestSize: number,
  ) {
    this.decoder = new PrwDecoder(limits);
  }

  /**
   * Throws a SpillwayError for a body that can never be accepted; `counts` is filled as it
   * goes, so a caller can apply what was counted before the failure.
   */
  prepare(tenant: Tenant, input: WriteInput, routing: Routing, counts: PrepareCounts = emptyCounts()): Prepared {
    const { body, encoding, format } = input;
    const importing = format === 'import-json' || format === 'import-prometheus';
    if (body.length === 0) {
      // vminsert answers an empty import with 204; an empty remote-write body is a broken client.
      if (importing) return nothingKept(0, counts, 0);
      throw new SpillwayError('SPW_ERR_EMPTY_BODY');
    }
    const max = this.maxInsertRequestSize;
    const raw = this.decompress(body, encoding, max);

    switch (format) {
      case 'prw1':
        return this.route(tenant, raw, this.splitter, routing, counts, false);
      case 'prw2': {
        const conv = (this.prw2 ??= new Prw2Converter({ maxOutputBytes: max }));
        const v1 = conv.convert(raw);
        const st = conv.stats;
        if (st.metadataDropped > 0) counts.unforwarded.push(['metadata', st.metadataDropped]);
        if (st.createdTimestampsDropped > 0) counts.unforwarded.push(['created_timestamp', st.createdTimestampsDropped]);
        return this.route(tenant, v1, this.splitter, routing, counts, false, conv);
      }
      case 'import-json':
      case 'import-prometheus': {
        const w = (this.importWriter ??= new WriteRequestWriter(max));
        w.begin(raw);
        const res: ImportResult =
          format === 'import-json' ? parseJsonLines(raw, w) : parsePrometheusText(raw, w, input.receivedAtMs ?? Date.now());
        if (res.badLines > 0) {
          counts.importBadLines += res.badLines;
          if (w.seriesCount === 0) throw new SpillwayError('SPW_ERR_BAD_IMPORT', `${res.badLines} bad lines, none usable; first: ${res.firstError}`);
        }
        const v1 = w.finish();
        const splitter = (this.importSplitter ??= new Splitter({ rule: 'import' }));
        const out = this.route(tenant, v1, splitter, routing, counts, true);
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

  /** Decode a 1.0 WriteRequest, split it and encode each node's record. */
  private route(tenant: Tenant, raw: Buffer, splitter: Splitter, routing: Routing, counts: PrepareCounts, imported: boolean, converted?: Prw2Converter): Prepared {
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
      counts.droppedSeries[reason] = (counts.droppedSeries[reason] ?? 0) + n;
    }
    counts.droppedSamples += view.droppedSamples;

    const keptSeries = view.seriesCount - dropped;
    let exemplars: number | undefined;
    if (converted) {
      exemplars = 0;
      for (let i = 0; i < view.seriesCount; i++) if (view.series[i * SERIES_STRIDE + S_DROP] === 0) exemplars += converted.exemplarsOf(i);
    } else if (imported) exemplars = 0;
    if (keptSeries === 0) return nothingKept(dropped, counts, exemplars);

    const mask = this.nativeMask(routing.nodeKinds);
    const records: PreparedRecord[] = [];
    for (const batch of splitter.split(view, tenant, routing.ring, routing.replicationFactor, routing.exclude, mask.bits)) {
      const native = routing.nodeKinds[batch.node] === 'vmstorage';
      records.push({
        node: batch.node,
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

    let histograms = view.histogramCount;
    if (mask.onlyNative) {
      // MetricRows carry float samples only.
      if (histograms > 0) counts.unforwarded.push(['histograms', histograms]);
      if (exemplars) counts.unforwarded.push(['exemplars', exemplars]);
      histograms = 0;
      if (exemplars !== undefined) exemplars = 0;
    }
    return {
      records,
      sampleCount: view.sampleCount,
      histogramCount: view.histogramCount,
      keptSeries,
      droppedSeries: dropped,
      written: { samples: view.sampleCount, histograms, exemplars },
      badLines: 0,
      counts,
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
  private nativeMask(kinds: readonly NodeKind[]): { bits: Uint8Array | undefined; onlyNative: boolean } {
    if (this.mask === undefined || this.mask.kinds !== kinds) {
      // The node list changes only on a reload, which replaces nodeKinds.
      const bits = Uint8Array.from(kinds, (k) => (k === 'vmstorage' ? 1 : 0));
      this.mask = { kinds, bits: bits.includes(1) ? bits : undefined, onlyNative: kinds.length > 0 && bits.every((b) => b === 1) };
    }
    return this.mask;
  }
}

function nothingKept(dropped: number, counts: PrepareCounts, exemplars: number | undefined): Prepared {
  return {
    records: [],
    sampleCount: 0,
    histogramCount: 0,
    keptSeries: 0,
    droppedSeries: dropped,
    written: { samples: 0, histograms: 0, exemplars },
    badLines: 0,
    counts,
  };
}
