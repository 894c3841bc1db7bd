// What the nodes received, compared with what Spillway acknowledged.
//
// Per node, walking the accepted bodies in arrival order, every sample of every series is
// one of: new (first time seen); a duplicate (seen before: an at-least-once re-send); or
// out of order (first time seen, but older than the newest sample already delivered for
// that series: a record was delivered after a later one). Then every acknowledged sample
// must be on each node of its series' replica set (lost otherwise), and no sample may be on
// a node outside that set (misrouted).

import { PrwDecoder, forEachSample } from '../../../src/protocol/prw/decode.js';
import { encodeWriteRequest } from '../../../src/protocol/prw/encode.js';
import { LABEL_STRIDE, L_NAME_END, L_NAME_START, L_VALUE_END, L_VALUE_START, SERIES_STRIDE, S_LABEL_COUNT, S_LABEL_FIRST } from '../../../src/protocol/prw/types.js';
import { snappyUncompress } from '../../../src/protocol/snappy.js';
import { Ring } from '../../../src/route/ring.js';
import { Splitter } from '../../../src/route/split.js';

export type Labels = [string, string][];

/** The key a series is known by here: its labels in wire order. */
export function seriesKey(labels: Labels): string {
  return labels.map(([n, v]) => `${n}=${v}`).join(',');
}

const noLimits = { maxLabelsPerTimeseries: 0, maxLabelNameLen: 0, maxLabelValueLen: 0 };

/** The nodes (indices in `nodeIds`) Spillway sends a series to, computed with its own router. */
export function replicaNodes(nodeIds: string[], rf: number, labels: Labels, tenant = { accountID: 0, projectID: 0 }): number[] {
  const ring = new Ring(nodeIds);
  const dec = new PrwDecoder(noLimits);
  const view = dec.decode(encodeWriteRequest([{ labels, samples: [[1, 1]] }]));
  return new Splitter()
    .split(view, tenant, ring, Math.min(rf, nodeIds.length))
    .map((p) => p.node)
    .sort((a, b) => a - b);
}

export interface DecodedSample {
  series: string;
  ts: number;
  value: number;
}

/** Every float sample of a snappy remote-write body, in wire order. */
export function decodeBody(body: Buffer, decoder = new PrwDecoder(noLimits)): DecodedSample[] {
  const view = decoder.decode(snappyUncompress(body, 256 << 20));
  const out: DecodedSample[] = [];
  const buf = view.buf;
  for (let i = 0; i < view.seriesCount; i++) {
    const si = i * SERIES_STRIDE;
    const first = view.series[si + S_LABEL_FIRST]!;
    const count = view.series[si + S_LABEL_COUNT]!;
    const parts: string[] = [];
    for (let l = first; l < first + count; l++) {
      const li = l * LABEL_STRIDE;
      const L = view.labels;
      parts.push(`${buf.toString('utf8', L[li + L_NAME_START]!, L[li + L_NAME_END]!)}=${buf.toString('utf8', L[li + L_VALUE_START]!, L[li + L_VALUE_END]!)}`);
    }
    const series = parts.join(',');
    forEachSample(view, i, (value, ts) => out.push({ series, ts, value }));
  }
  return out;
}

export interface NodeDeliveries {
  /** series → timestamp → times delivered. */
  samples: Map<string, Map<number, number>>;
  /** series → arrival time (ms) of each timestamp's first delivery. */
  firstAt: Map<string, Map<number, number>>;
  deliveredSamples: number;
  duplicates: number;
  outOfOrder: number;
  /** A few out-of-order cases, for the report. */
  examples: string[];
  undecodable: number;
}

export function analyzeArrivals(arrivals: { body: Buffer; at: number }[]): NodeDeliveries {
  const d: NodeDeliveries = { samples: new Map(), firstAt: new Map(), deliveredSamples: 0, duplicates: 0, outOfOrder: 0, examples: [], undecodable: 0 };
  const newest = new Map<string, number>();
  const decoder = new PrwDecoder(noLimits);
  for (const a of arrivals) {
    let samples: DecodedSample[];
    try {
      samples = decodeBody(a.body, decoder);
    } catch {
      d.undecodable++;
      continue;
    }
    for (const s of samples) {
      let m = d.samples.get(s.series);
      if (!m) {
        m = new Map();
        d.samples.set(s.series, m);
        d.firstAt.set(s.series, new Map());
      }
      const seen = m.get(s.ts);
      if (seen !== undefined) {
        m.set(s.ts, seen + 1);
        d.duplicates++;
        continue;
      }
      m.set(s.ts, 1);
      d.firstAt.get(s.series)!.set(s.ts, a.at);
      d.deliveredSamples++;
      const max = newest.get(s.series);
      if (max !== undefined && s.ts < max) {
        d.outOfOrder++;
        if (d.examples.length < 5) d.examples.push(`${s.series} @${s.ts} after @${max}`);
      } else {
        newest.set(s.series, s.ts);
      }
    }
  }
  return d;
}

export interface AckedSample {
  series: string;
  ts: number;
  /** When the 204 arrived (ms). */
  ackedAt: number;
}

export interface NodeVerdict {
  node: string;
  /** Acknowledged samples this node should have. */
  acked: number;
  /** Distinct samples it received (acknowledged or not). */
  delivered: number;
  duplicates: number;
  lost: number;
  outOfOrder: number;
  misrouted: number;
  /** Distinct samples received that were never acknowledged (spooled, answer lost in a crash). */
  unacked: number;
  /** Delay from the 204 to the first arrival, over acknowledged samples (ms). */
  delayP50: number;
  delayMax: number;
  lostExamples: string[];
}

/**
 * Per node: the acknowledged samples expected there (by replica set) against what arrived.
 * `excused(node, series, ts)` marks samples legitimately not delivered (set aside as dead letters).
 */
export function verdicts(
  nodeNames: string[],
  replicas: Map<string, number[]>,
  acked: AckedSample[],
  deliveries: NodeDeliveries[],
  excused: (node: number, series: string, ts: number) => boolean = () => false,
): NodeVerdict[] {
  const out: NodeVerdict[] = nodeNames.map((node, i) => ({
    node,
    acked: 0,
    delivered: deliveries[i]!.deliveredSamples,
    duplicates: deliveries[i]!.duplicates,
    lost: 0,
    outOfOrder: deliveries[i]!.outOfOrder,
    misrouted: 0,
    unacked: 0,
    delayP50: 0,
    delayMax: 0,
    lostExamples: [],
  }));
  const delays: number[][] = nodeNames.map(() => []);
  const ackedKeys = new Set<string>();
  for (const a of acked) {
    ackedKeys.add(`${a.series}@${a.ts}`);
    const nodes = replicas.get(a.series);
    if (!nodes) throw new Error(`no replica set known for series ${a.series}`);
    for (const n of nodes) {
      const v = out[n]!;
      v.acked++;
      const at = deliveries[n]!.firstAt.get(a.series)?.get(a.ts);
      if (at === undefined) {
        if (excused(n, a.series, a.ts)) continue;
        v.lost++;
        if (v.lostExamples.length < 5) v.lostExamples.push(`${a.series} @${a.ts}`);
      } else {
        delays[n]!.push(Math.max(0, at - a.ackedAt));
      }
    }
  }
  deliveries.forEach((d, n) => {
    for (const [series, m] of d.samples) {
      const nodes = replicas.get(series);
      for (const ts of m.keys()) {
        if (nodes && !nodes.includes(n)) out[n]!.misrouted++;
        if (!ackedKeys.has(`${series}@${ts}`)) out[n]!.unacked++;
      }
    }
    const ds = delays[n]!.sort((a, b) => a - b);
    out[n]!.delayP50 = ds.length ? ds[Math.floor(ds.length / 2)]! : 0;
    out[n]!.delayMax = ds.length ? ds[ds.length - 1]! : 0;
  });
  return out;
}

export const VERDICT_COLUMNS = ['node', 'acked', 'delivered', 'duplicates', 'lost', 'out-of-order', 'misrouted', 'unacked delivered', 'delay p50', 'delay max'];

export function verdictRow(v: NodeVerdict): (string | number)[] {
  return [v.node, v.acked, v.delivered, v.duplicates, v.lost, v.outOfOrder, v.misrouted, v.unacked, `${v.delayP50} ms`, `${v.delayMax} ms`];
}
