// Splits a decoded remote-write request into one payload per storage node.
//
// Each kept series' TimeSeries field bytes [S_START, S_END) are copied unchanged into the
// arena of every node it goes to. A WriteRequest is only repeated fields, so the
// concatenation of TimeSeries fields is itself a valid WriteRequest: no re-encoding.
// Consecutive series bound for the same node are contiguous in the request too, so runs
// are coalesced into one Buffer#copy (that call costs ~75 ns; most of a small copy).

import {
  SERIES_STRIDE,
  S_DROP,
  S_END,
  S_HISTOGRAM_COUNT,
  S_SAMPLE_COUNT,
  S_START,
  type WriteRequestView,
} from '../protocol/prw/types.js';
import { SeriesKeyHasher, T_HI, T_LO, type KeyRule, type SeriesKeyHasherOptions } from './key.js';
import type { NodeExclusion, Ring } from './ring.js';

export interface Tenant {
  accountID: number;
  projectID: number;
}

export interface NodePayload {
  /** Index of the node in the Ring. */
  node: number;
  /**
   * A WriteRequest protobuf holding this node's series, in request order. A view into the
   * Splitter's arena for this node: valid only until the next split() call, so compress
   * or copy it right away.
   */
  data: Buffer;
  /**
   * Indexes (in the view) of this node's series, in request order: a view into an arena the
   * next split() overwrites. Lets a vmstorage node's rows be built from the decoded request
   * itself, without decoding `data` again.
   */
  indexes: Int32Array;
  /** Series sent to this node (`indexes.length`; also the series in `data` unless index-only). */
  series: number;
  /** Float samples in `data` (from the decoder's per-series counts). */
  samples: number;
  /** Native histogram samples in `data`. */
  histograms: number;
  /**
   * Timestamp bounds (ms). These are the request-level bounds of the view, not per node:
   * per-sample parsing would cost more than the whole split, and the bounds are only used
   * for coarse spool bookkeeping. Every sample in `data` lies within them.
   */
  minTs: number;
  maxTs: number;
}

export interface SplitterOptions extends SeriesKeyHasherOptions {
  /** How the metric name enters the routing key; 'remote-write' (default) or 'import'. */
  rule?: KeyRule;
  /** First size of each node's arena; arenas double as needed and are kept. */
  initialArenaBytes?: number;
}

export class Splitter {
  /** The key hasher (exposes which backend runs). */
  readonly hasher: SeriesKeyHasher;
  /** Kept series that no node could take in the last split() (every node excluded). */
  unroutedSeries = 0;
  private readonly initialArenaBytes: number;
  private arenas: Buffer[] = [];
  private indexes: Int32Array[] = [];
  private pos = new Int32Array(0);
  private runStart = new Int32Array(0);
  private runEnd = new Int32Array(0);
  private seriesCount = new Int32Array(0);
  private samples = new Float64Array(0);
  private histograms = new Float64Array(0);
  private targets = new Int32Array(0);

  constructor(options: SplitterOptions = {}) {
    this.hasher = new SeriesKeyHasher(options.rule ?? 'remote-write', options);
    this.initialArenaBytes = options.initialArenaBytes ?? 64 * 1024;
  }

  /**
   * One payload per node that received at least one series, in node order. Series with
   * S_DROP != 0 are skipped. Each kept series goes to min(rf, nodes) distinct nodes
   * (Ring.replicas); with `exclude`, only to nodes not excluded. The returned buffers are
   * views into arenas that the next call overwrites. A node with indexOnly[node] !== 0 gets
   * its series indexes only (`data` empty): its payload is built from the view by the caller.
   */
  split(view: WriteRequestView, tenant: Tenant, ring: Ring, rf: number, exclude?: NodeExclusion, indexOnly?: Uint8Array): NodePayload[] {
    if (!(rf >= 1)) throw new RangeError(`replication factor must be >= 1, got ${rf}`);
    const nodes = ring.size;
    this.ensureNodes(nodes);
    const hashes = this.hasher.hashAll(view, tenant.accountID >>> 0, tenant.projectID >>> 0);
    const series = view.series;
    const buf = view.buf;
    const n = view.seriesCount;
    const runStart = this.runStart;
    const runEnd = this.runEnd;
    const count = this.seriesCount;
    const samples = this.samples;
    const histograms = this.histograms;
    const targets = this.targets;
    for (let j = 0; j < nodes; j++) {
      this.pos[j] = 0;
      runStart[j] = -1;
      runEnd[j] = -1;
      count[j] = 0;
      samples[j] = 0;
      histograms[j] = 0;
    }
    let unrouted = 0;

    for (let i = 0, b = 0; i < n; i++, b += SERIES_STRIDE) {
      if (series[b + S_DROP] !== 0) continue;
      const k = ring.replicas(hashes[2 * i + T_HI], hashes[2 * i + T_LO], rf, targets, exclude);
      if (k === 0) {
        unrouted++;
        continue;
      }
      const st = series[b + S_START];
      const en = series[b + S_END];
      const sc = series[b + S_SAMPLE_COUNT];
      const hc = series[b + S_HISTOGRAM_COUNT];
      for (let t = 0; t < k; t++) {
        const node = targets[t];
        this.pushIndex(node, i);
        count[node]++;
        samples[node] += sc;
        histograms[node] += hc;
        if (indexOnly !== undefined && indexOnly[node] !== 0) continue; // no bytes for this node
        if (runEnd[node] === st) {
          runEnd[node] = en; // continues this node's run: one copy later
        } else {
          if (runStart[node] >= 0) this.append(node, buf, runStart[node], runEnd[node]);
          runStart[node] = st;
          runEnd[node] = en;
        }
      }
    }
    this.unroutedSeries = unrouted;

    const result: NodePayload[] = [];
    for (let j = 0; j < nodes; j++) {
      if (count[j] === 0) continue;
      if (runStart[j] >= 0) this.append(j, buf, runStart[j], runEnd[j]);
      result.push({
        node: j,
        data: this.arenas[j].subarray(0, this.pos[j]),
        indexes: this.indexes[j]!.subarray(0, count[j]),
        series: count[j],
        samples: samples[j],
        histograms: histograms[j],
        minTs: view.minTimestamp,
        maxTs: view.maxTimestamp,
      });
    }
    return result;
  }

  /** Records series i for node; count[node] is its position (incremented by the caller). */
  private pushIndex(node: number, i: number): void {
    const at = this.seriesCount[node]!;
    let idx = this.indexes[node]!;
    if (at === idx.length) {
      const grown = new Int32Array(idx.length * 2);
      grown.set(idx);
      idx = this.indexes[node] = grown;
    }
    idx[at] = i;
  }

  /** Copies buf[start, end) to the end of node's arena, growing it if needed. */
  private append(node: number, buf: Buffer, start: number, end: number): void {
    const len = end - start;
    const at = this.pos[node];
    let arena = this.arenas[node];
    if (at + len > arena.length) {
      // Doubling keeps growth rare; the arena is then kept for later requests.
      const grown = Buffer.allocUnsafeSlow(Math.max(at + len, arena.length * 2));
      arena.copy(grown, 0, 0, at);
      arena = this.arenas[node] = grown;
    }
    buf.copy(arena, at, start, end);
    this.pos[node] = at + len;
  }

  private ensureNodes(nodes: number): void {
    if (this.arenas.length >= nodes) return;
    while (this.arenas.length < nodes) this.arenas.push(Buffer.allocUnsafeSlow(this.initialArenaBytes));
    while (this.indexes.length < nodes) this.indexes.push(new Int32Array(256));
    this.pos = new Int32Array(nodes);
    this.runStart = new Int32Array(nodes);
    this.runEnd = new Int32Array(nodes);
    this.seriesCount = new Int32Array(nodes);
    this.samples = new Float64Array(nodes);
    this.histograms = new Float64Array(nodes);
    this.targets = new Int32Array(nodes);
  }
}
