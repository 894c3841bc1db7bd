// Remote-write bodies from a PmmFleet, batched the way vmagent batches them, with each
// sample's value encoding (series id, seq) (value.ts).
//
// The load is split into lanes (one per connection of the driver). A lane owns a fixed set of
// hosts, so every series travels on one lane only; with one request in flight per lane, a
// series' samples reach the proxy in order, and a sink can hold the proxy to that order.
//
// Batching: "host" puts one host's scrape in a body (a PMM client's vmagent flushing each
// second after a scrape), split at `samplesPerRequest`; "full" fills every body to
// `samplesPerRequest` (vmagent's -remoteWrite.maxRowsPerBlock, 10,000) across the lane's
// hosts, as a busy central vmagent does.
//
// Compression is the expensive part of generating load (snappy runs at under 1 GB/s), so
// bodies are made from templates: the fixed sequence of series of a body is compressed once
// with random placeholder bytes where each sample's value and timestamp go, the placeholders
// are located inside literal elements of the snappy stream, and each new body is a copy of
// the template with its values and timestamps written over the placeholders. The stream stays
// valid snappy (a literal may hold any bytes); it is somewhat larger than what a compressor
// would make of the same data, since values and timestamps never become back-references
// (the report gives the compressed bytes per sample). The last timestamp byte (ms / 2^35,
// constant for a year) is written for real, since the compressor may fold it into a
// back-reference. A template whose placeholders do not all land in literals, or a timestamp
// that does not take 6 varint bytes, falls back to compressing each body.
import { snappyCompress, snappyUncompress } from '../../src/protocol/snappy.js';
import type { LabelInput } from '../../src/protocol/prw/encode.js';
import { prng } from '../lib/fleet.js';
import { PmmFleet, type FleetSpec } from './pmm.js';
import { encodeValue, ID_LIMIT, SEQ_LIMIT } from './value.js';

export type BatchMode = 'host' | 'full';

export interface GeneratorOptions {
  fleet: FleetSpec;
  lanes: number;
  batch: BatchMode;
  samplesPerRequest: number;
}

export interface GeneratedBody {
  lane: number;
  /** Snappy-compressed WriteRequest. */
  body: Buffer;
  rawBytes: number;
  samples: number;
  /** (series id, seq) of every sample, in body order. */
  pairs: Int32Array;
  /** Series ids handed out so far (ids are 0 ... maxId-1). */
  maxId: number;
}

function varintLen(n: number): number {
  let len = 1;
  while (n >= 128) {
    n = Math.floor(n / 128);
    len++;
  }
  return len;
}

/** Write a non-negative integer below 2^53 as a protobuf varint; returns the new position. */
function putVarint(buf: Buffer, pos: number, n: number): number {
  while (n >= 128) {
    buf[pos++] = (n % 128) | 0x80;
    n = Math.floor(n / 128);
  }
  buf[pos++] = n;
  return pos;
}

/** Label fields of a TimeSeries (field 1, repeated), as bytes. */
export function encodeLabels(labels: readonly LabelInput[]): Buffer {
  const parts: Buffer[] = [];
  for (const [n, v] of labels) {
    const nb = Buffer.from(n as string, 'utf8');
    const vb = Buffer.from(v as string, 'utf8');
    const inner = 1 + varintLen(nb.length) + nb.length + 1 + varintLen(vb.length) + vb.length;
    const b = Buffer.allocUnsafe(1 + varintLen(inner) + inner);
    let p = 0;
    b[p++] = 0x0a;
    p = putVarint(b, p, inner);
    b[p++] = 0x0a;
    p = putVarint(b, p, nb.length);
    p += nb.copy(b, p);
    b[p++] = 0x12;
    p = putVarint(b, p, vb.length);
    p += vb.copy(b, p);
    parts.push(b);
  }
  return Buffer.concat(parts);
}

/**
 * Rewrite the snappy block `comp` of `raw` so that every region [start, start + len) of raw
 * (starts ascending, non-overlapping) is produced by literal bytes, and no back-reference
 * reads from a region; returns the new block and the compressed offset of each region, or
 * null if the result does not decompress to raw. Bytes of a region can then be overwritten
 * in the block, and the block still decompresses to raw with those bytes changed.
 */
export function literalRegions(raw: Buffer, comp: Buffer, starts: Int32Array, len: number): { block: Buffer; at: Int32Array } | null {
  const at = new Int32Array(starts.length);
  let out = Buffer.allocUnsafe(comp.length + starts.length * 4 + 64);
  let w = 0;
  const ensure = (n: number) => {
    if (w + n <= out.length) return;
    const grown = Buffer.allocUnsafe(Math.max(out.length * 2, w + n));
    out.copy(grown, 0, 0, w);
    out = grown;
  };
  ensure(10);
  w = putVarint(out, w, raw.length);

  // Region containing x, or the first region after it: index into starts.
  const regionAt = (x: number) => {
    let lo = 0;
    let hi = starts.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (starts[mid]! <= x) lo = mid + 1;
      else hi = mid - 1;
    }
    return hi >= 0 && x < starts[hi]! + len ? hi : hi + 1;
  };

  let litFrom = -1; // pending literal: raw[litFrom, litTo)
  let litTo = -1;
  let litRegions: number[] = [];
  const flush = () => {
    if (litFrom < 0) return;
    const n = litTo - litFrom;
    ensure(n + 5);
    const m = n - 1;
    if (m < 60) out[w++] = m << 2;
    else {
      const bytes = m < 0x100 ? 1 : m < 0x10000 ? 2 : m < 0x1000000 ? 3 : 4;
      out[w++] = (59 + bytes) << 2;
      for (let i = 0; i < bytes; i++) out[w++] = (m >>> (8 * i)) & 0xff;
    }
    for (const r of litRegions) at[r] = w + (starts[r]! - litFrom);
    raw.copy(out, w, litFrom, litTo);
    w += n;
    litFrom = litTo = -1;
    litRegions = [];
  };
  const literal = (from: number, to: number) => {
    if (litFrom < 0) litFrom = from;
    litTo = to;
  };
  const copy = (offset: number, n: number) => {
    flush();
    while (n > 0) {
      const k = Math.min(64, n);
      ensure(5);
      if (offset < 0x10000) {
        out[w++] = ((k - 1) << 2) | 2;
        out.writeUInt16LE(offset, w);
        w += 2;
      } else {
        out[w++] = ((k - 1) << 2) | 3;
        out.writeUInt32LE(offset, w);
        w += 4;
      }
      n -= k;
    }
  };

  // Walk the original elements; o is the uncompressed position.
  let p = 0;
  while (comp[p++]! >= 0x80);
  let o = 0;
  let r = 0; // next region whose start we have not passed
  while (p < comp.length) {
    const tag = comp[p++]!;
    const type = tag & 3;
    let n: number;
    let offset = 0;
    if (type === 0) {
      n = tag >>> 2;
      if (n >= 60) {
        const bytes = n - 59;
        n = 0;
        for (let i = 0; i < bytes; i++) n += comp[p + i]! * 2 ** (8 * i);
        p += bytes;
      }
      n += 1;
      p += n;
    } else if (type === 1) {
      n = 4 + ((tag >>> 2) & 7);
      offset = ((tag >>> 5) << 8) | comp[p]!;
      p += 1;
    } else if (type === 2) {
      n = (tag >>> 2) + 1;
      offset = comp.readUInt16LE(p);
      p += 2;
    } else {
      n = (tag >>> 2) + 1;
      offset = comp.readUInt32LE(p);
      p += 4;
    }
    const end = o + n;
    let t = o;
    while (t < end) {
      while (r < starts.length && starts[r]! + len <= t) r++;
      if (r < starts.length && starts[r]! <= t) {
        // Inside a region: literal up to its end (or this element's end).
        const stop = Math.min(end, starts[r]! + len);
        if (t === starts[r]! || litFrom < 0 || !litRegions.includes(r)) {
          if (!litRegions.includes(r)) {
            // The whole region must sit in one literal: start a fresh one at its start if needed.
            if (litFrom >= 0 && litTo !== t) flush();
            if (t !== starts[r]!) return null; // region entered mid-way: cannot happen when walking in order
            literal(t, t);
            litRegions.push(r);
          }
        }
        literal(litFrom, stop);
        t = stop;
        continue;
      }
      const nextRegion = r < starts.length ? starts[r]! : Infinity;
      const stop = Math.min(end, nextRegion);
      if (type === 0) {
        literal(litFrom >= 0 ? litFrom : t, stop);
        t = stop;
        continue;
      }
      // A back-reference piece [t, stop): split where its source runs through a region.
      while (t < stop) {
        const src = t - offset;
        const sr = regionAt(src);
        if (sr < starts.length && starts[sr]! <= src) {
          const k = Math.min(stop, t + (starts[sr]! + len - src));
          literal(litFrom >= 0 ? litFrom : t, k);
          t = k;
        } else {
          const k = Math.min(stop, sr < starts.length ? t + (starts[sr]! - src) : stop);
          copy(offset, k - t);
          t = k;
        }
      }
    }
    o = end;
  }
  flush();
  if (o !== raw.length) return null;
  const block = out.subarray(0, w);
  return { block, at };
}

const TS_MIN = 2 ** 35; // timestamps in [2^35, 2^42) ms take exactly 6 varint bytes
const TS_MAX = 2 ** 42;
const SAMPLE_FIELD = 1 + 1 + 1 + 8 + 1 + 6; // 0x12 len 0x09 value 0x10 ts
const SAMPLE_LEN = SAMPLE_FIELD - 2;

/** The first 5 bytes of a 6-byte timestamp varint (the template holds the 6th). */
function putTs5(buf: Buffer, pos: number, ts: number): void {
  for (let i = 0; i < 5; i++) {
    buf[pos + i] = (ts % 128) | 0x80;
    ts = Math.floor(ts / 128);
  }
}

/** A body's worth of series: consecutive slots of one or more hosts, and its template. */
interface Chunk {
  segments: { host: number; from: number; to: number }[];
  samples: number;
  template: Buffer | null;
  rawBytes: number;
  /** Compressed offsets of each sample's value (8 bytes) and timestamp (first 5 bytes); null: compress every body. */
  valueAt: Int32Array | null;
  tsAt: Int32Array | null;
  /** The last timestamp varint byte the template was built with. */
  tsTop: number;
}

interface Lane {
  chunks: Chunk[];
  next: number;
}

export class FleetGenerator {
  readonly fleet: PmmFleet;
  readonly opts: GeneratorOptions;
  #nextId = 0;
  #seq = new Int32Array(1 << 16);
  readonly #slotIds: Int32Array[] = [];
  readonly #slotLabels: Buffer[][] = [];
  readonly #lastTs: Float64Array;
  readonly #roundTs: Float64Array;
  readonly #churnDebt: Float64Array;
  readonly #lanes: Lane[] = [];
  /** Chunks that hold series of each host (rebuilt when the host churns). */
  readonly #hostChunks: Chunk[][] = [];
  readonly #rnd: () => number;
  #arena = Buffer.allocUnsafe(1 << 20);
  churned = 0;
  templatesBuilt = 0;
  fallbackBodies = 0;

  constructor(opts: GeneratorOptions) {
    this.opts = opts;
    this.fleet = new PmmFleet(opts.fleet);
    this.#rnd = prng(opts.fleet.seed ^ 0x51ab);
    const hosts = this.fleet.hosts.length;
    this.#lastTs = new Float64Array(hosts);
    this.#roundTs = new Float64Array(hosts);
    this.#churnDebt = new Float64Array(hosts);
    for (let h = 0; h < hosts; h++) {
      const n = this.fleet.hosts[h]!.slots.length;
      const ids = new Int32Array(n);
      const labels: Buffer[] = [];
      for (let s = 0; s < n; s++) {
        ids[s] = this.#newId();
        labels.push(encodeLabels(this.fleet.labelsOf(h, s)));
      }
      this.#slotIds.push(ids);
      this.#slotLabels.push(labels);
      this.#hostChunks.push([]);
    }
    const cap = opts.samplesPerRequest;
    const laneCount = Math.max(1, Math.min(opts.lanes, hosts));
    for (let l = 0; l < laneCount; l++) {
      const lane: Lane = { chunks: [], next: 0 };
      const mine: number[] = [];
      for (let h = l; h < hosts; h += laneCount) mine.push(h);
      const add = (segments: Chunk['segments']) => {
        const c: Chunk = { segments, samples: segments.reduce((n, s) => n + s.to - s.from, 0), template: null, rawBytes: 0, valueAt: null, tsAt: null, tsTop: -1 };
        lane.chunks.push(c);
        for (const s of segments) this.#hostChunks[s.host]!.push(c);
      };
      if (opts.batch === 'host') {
        // One host's scrape per body, split evenly when it exceeds the cap.
        for (const h of mine) {
          const n = this.#slotIds[h]!.length;
          const parts = Math.ceil(n / cap);
          for (let i = 0; i < parts; i++) add([{ host: h, from: Math.floor((i * n) / parts), to: Math.floor(((i + 1) * n) / parts) }]);
        }
      } else {
        // Full bodies across the lane's hosts; the last body of a lane round may be short.
        let segs: Chunk['segments'] = [];
        let room = cap;
        for (const h of mine) {
          const n = this.#slotIds[h]!.length;
          let from = 0;
          while (from < n) {
            const to = Math.min(n, from + room);
            segs.push({ host: h, from, to });
            room -= to - from;
            from = to;
            if (room === 0) {
              add(segs);
              segs = [];
              room = cap;
            }
          }
        }
        if (segs.length > 0) add(segs);
      }
      this.#lanes.push(lane);
    }
  }

  get laneCount(): number {
    return this.#lanes.length;
  }

  get maxId(): number {
    return this.#nextId;
  }

  /** Mean bytes of a series with its one sample in a WriteRequest. */
  get meanSeriesBytes(): number {
    let n = 0;
    let bytes = 0;
    for (const host of this.#slotLabels) for (const b of host) (n++, (bytes += b.length + SAMPLE_FIELD + 3));
    return bytes / n;
  }

  /** Samples a body holds on average, for pacing an open loop. */
  get meanBodySamples(): number {
    let n = 0;
    let samples = 0;
    for (const l of this.#lanes) for (const c of l.chunks) (n++, (samples += c.samples));
    return samples / n;
  }

  #newId(): number {
    const id = this.#nextId++;
    if (id >= ID_LIMIT) throw new Error('generator: series id space exhausted');
    if (id >= this.#seq.length) {
      const grown = new Int32Array(this.#seq.length * 2);
      grown.set(this.#seq);
      this.#seq = grown;
    }
    return id;
  }

  /** Start a host's scrape: its timestamp, and churn (new series replacing some slots). */
  #beginRound(h: number): void {
    const ts = Math.max(Date.now(), this.#lastTs[h]! + 1);
    this.#lastTs[h] = ts;
    this.#roundTs[h] = ts;
    const churn = this.fleet.spec.churn;
    const host = this.fleet.hosts[h]!;
    if (churn <= 0 || host.churnable.length === 0) return;
    // Applied in steps of 2 % of the host's series, so a body template is rebuilt at most
    // every few scrapes rather than at each one; the churn rate over time is the same.
    this.#churnDebt[h]! += churn * host.slots.length;
    if (this.#churnDebt[h]! < Math.max(1, 0.02 * host.slots.length)) return;
    let changed = false;
    while (this.#churnDebt[h]! >= 1) {
      this.#churnDebt[h]! -= 1;
      const slot = host.churnable[Math.floor(this.#rnd() * host.churnable.length)]!;
      this.fleet.churnSlot(h, slot);
      this.#slotIds[h]![slot] = this.#newId();
      this.#slotLabels[h]![slot] = encodeLabels(this.fleet.labelsOf(h, slot));
      this.churned++;
      changed = true;
    }
    if (changed) for (const c of this.#hostChunks[h]!) c.template = null;
  }

  /** Uncompressed body of a chunk with placeholder (or given) values; records where they are. */
  #buildRaw(c: Chunk, valueAt: Int32Array, tsAt: Int32Array, tsTop: number): number {
    let pos = 0;
    let k = 0;
    for (const seg of c.segments) {
      const labels = this.#slotLabels[seg.host]!;
      for (let slot = seg.from; slot < seg.to; slot++) {
        const lb = labels[slot]!;
        const seriesLen = lb.length + SAMPLE_FIELD;
        const need = 1 + varintLen(seriesLen) + seriesLen;
        if (pos + need > this.#arena.length) {
          const grown = Buffer.allocUnsafe(Math.max(this.#arena.length * 2, pos + need));
          this.#arena.copy(grown, 0, 0, pos);
          this.#arena = grown;
        }
        const a = this.#arena;
        a[pos++] = 0x0a;
        pos = putVarint(a, pos, seriesLen);
        a.set(lb, pos);
        pos += lb.length;
        a[pos++] = 0x12;
        a[pos++] = SAMPLE_LEN;
        a[pos++] = 0x09;
        valueAt[k] = pos;
        for (let i = 0; i < 8; i++) a[pos++] = (this.#rnd() * 256) | 0;
        a[pos++] = 0x10;
        tsAt[k] = pos;
        for (let i = 0; i < 5; i++) a[pos++] = (this.#rnd() * 256) | 0;
        a[pos++] = tsTop;
        k++;
      }
    }
    return pos;
  }

  #buildTemplate(c: Chunk, tsTop: number): void {
    this.templatesBuilt++;
    c.tsTop = tsTop;
    const valueRaw = new Int32Array(c.samples);
    const tsRaw = new Int32Array(c.samples);
    const rawBytes = this.#buildRaw(c, valueRaw, tsRaw, tsTop);
    c.rawBytes = rawBytes;
    const raw = this.#arena.subarray(0, rawBytes);
    // One region per sample: value (8 bytes), the timestamp tag, the first 5 timestamp bytes.
    const lit = literalRegions(raw, snappyCompress(raw), valueRaw, 14);
    if (lit && snappyUncompress(lit.block, rawBytes + 1).equals(raw)) {
      c.template = Buffer.from(lit.block);
      c.valueAt = lit.at;
      c.tsAt = lit.at.map((v) => v + 9);
      return;
    }
    // Should not happen; stay correct anyway: compress each body of this chunk.
    c.template = Buffer.alloc(0);
    c.valueAt = null;
    c.tsAt = null;
  }

  /** The next body of a lane. */
  next(laneIndex: number): GeneratedBody {
    const lane = this.#lanes[laneIndex]!;
    const c = lane.chunks[lane.next]!;
    lane.next = (lane.next + 1) % lane.chunks.length;
    for (const seg of c.segments) if (seg.from === 0) this.#beginRound(seg.host);
    let tsOk = true;
    const tsTop = Math.floor(this.#roundTs[c.segments[0]!.host]! / TS_MIN);
    for (const seg of c.segments) {
      const ts = this.#roundTs[seg.host]!;
      if (!(ts >= TS_MIN && ts < TS_MAX) || Math.floor(ts / TS_MIN) !== tsTop) tsOk = false;
    }
    if (c.template === null || (tsOk && c.tsTop !== tsTop)) this.#buildTemplate(c, tsTop);
    const pairs = new Int32Array(c.samples * 2);
    const patch = c.valueAt !== null && tsOk;
    const out = patch ? Buffer.allocUnsafe(c.template!.length) : this.#arena;
    if (patch) c.template!.copy(out);
    else this.#buildRaw(c, new Int32Array(c.samples), new Int32Array(c.samples), 0);
    // Raw offsets of the values when compressing: walk the same layout again.
    let rawPos = 0;
    let k = 0;
    for (const seg of c.segments) {
      const ids = this.#slotIds[seg.host]!;
      const labels = this.#slotLabels[seg.host]!;
      const ts = this.#roundTs[seg.host]!;
      for (let slot = seg.from; slot < seg.to; slot++) {
        const id = ids[slot]!;
        const seq = this.#seq[id]!;
        if (seq >= SEQ_LIMIT) throw new Error('generator: sequence space of a series exhausted');
        this.#seq[id] = seq + 1;
        const v = encodeValue(id, seq);
        if (patch) {
          out.writeDoubleLE(v, c.valueAt![k]!);
          putTs5(out, c.tsAt![k]!, ts);
        } else {
          const seriesLen = labels[slot]!.length + SAMPLE_FIELD;
          rawPos += 1 + varintLen(seriesLen) + labels[slot]!.length + 3;
          out.writeDoubleLE(v, rawPos);
          rawPos += 9;
          putVarint(out, rawPos, ts);
          rawPos += 6;
        }
        pairs[2 * k] = id;
        pairs[2 * k + 1] = seq;
        k++;
      }
    }
    let body: Buffer;
    if (patch) body = out;
    else {
      if (!tsOk) throw new Error('generator: the clock is outside 1971–2109; timestamps would not take 6 varint bytes');
      this.fallbackBodies++;
      body = snappyCompress(this.#arena.subarray(0, c.rawBytes));
    }
    return { lane: laneIndex, body, rawBytes: c.rawBytes, samples: c.samples, pairs, maxId: this.#nextId };
  }
}
