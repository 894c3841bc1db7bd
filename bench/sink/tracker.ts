// What a sink knows about each series: the highest seq received, which lower seqs are still
// missing, and the label bytes length first seen. From that it classifies every sample as
// in order, ahead (seqs skipped: they are missing until they come), late (a missing seq
// arriving after a higher one: an order violation), or a duplicate; and, given what the load
// driver saw acknowledged, how many acknowledged samples never arrived.

export const enum Arrival {
  InOrder = 0,
  Ahead = 1,
  Late = 2,
  Duplicate = 3,
  Unknown = 4,
}

export interface TrackerTotals {
  /** Samples received, duplicates included. */
  samples: number;
  /** Distinct (series, seq) received. */
  unique: number;
  duplicates: number;
  /** Samples that arrived after a later sample of the same series. */
  outOfOrder: number;
  /** Samples whose value no generator could have produced. */
  unknown: number;
  /** Samples of a series whose label bytes length changed. */
  labelMismatch: number;
  /** Series seen. */
  series: number;
  /** Times a series' newest sample arrived on another listener (storage node) than the one before. */
  moved: number;
}

export interface VerifyResult {
  /** Acknowledged samples never received. */
  lost: number;
  lostSeries: number;
  /** Some of them, for the report: [series id, seq]. */
  lostExamples: [number, number][];
  /** Received samples the driver never saw acknowledged (at-least-once, or sent when the run ended). */
  receivedUnacked: number;
  /** Acknowledged samples (the sum the loss is out of). */
  acked: number;
}

const MAX_GAP = 1 << 20;

export class SeriesTracker {
  #hi = new Int32Array(1 << 16).fill(-1);
  #labelLen = new Int32Array(1 << 16);
  /** Listener index + 1 that brought each series' newest sample (0: none yet). */
  #port = new Uint8Array(1 << 16);
  /** Seqs below hi not received yet, for series that skipped ahead. */
  readonly #missing = new Map<number, Set<number>>();
  #size = 0;
  readonly totals: TrackerTotals = { samples: 0, unique: 0, duplicates: 0, outOfOrder: 0, unknown: 0, labelMismatch: 0, series: 0, moved: 0 };

  #grow(id: number): void {
    let n = this.#hi.length;
    while (n <= id) n *= 2;
    const hi = new Int32Array(n).fill(-1);
    hi.set(this.#hi);
    const ll = new Int32Array(n);
    ll.set(this.#labelLen);
    const port = new Uint8Array(n);
    port.set(this.#port);
    this.#hi = hi;
    this.#labelLen = ll;
    this.#port = port;
  }

  record(id: number, seq: number, labelLen: number, port = 0): Arrival {
    const t = this.totals;
    t.samples++;
    if (id < 0 || seq < 0 || id >= 1 << 29) {
      t.unknown++;
      return Arrival.Unknown;
    }
    if (id >= this.#hi.length) this.#grow(id);
    if (id >= this.#size) this.#size = id + 1;
    const known = this.#labelLen[id]!;
    if (known === 0) {
      this.#labelLen[id] = labelLen;
      t.series++;
    } else if (known !== labelLen) t.labelMismatch++;
    const hi = this.#hi[id]!;
    if (seq > hi) {
      // Ownership follows the newest data; late arrivals of older samples do not move it.
      const p = (port % 255) + 1;
      const prev = this.#port[id]!;
      if (prev !== p) {
        if (prev !== 0) t.moved++;
        this.#port[id] = p;
      }
    }
    if (seq === hi + 1) {
      this.#hi[id] = seq;
      t.unique++;
      return Arrival.InOrder;
    }
    if (seq > hi) {
      if (seq - hi - 1 > MAX_GAP) {
        t.unknown++;
        return Arrival.Unknown;
      }
      let m = this.#missing.get(id);
      if (!m) this.#missing.set(id, (m = new Set()));
      for (let s = hi + 1; s < seq; s++) m.add(s);
      this.#hi[id] = seq;
      t.unique++;
      return Arrival.Ahead;
    }
    const m = this.#missing.get(id);
    if (m?.delete(seq)) {
      if (m.size === 0) this.#missing.delete(id);
      t.unique++;
      t.outOfOrder++;
      return Arrival.Late;
    }
    t.duplicates++;
    return Arrival.Duplicate;
  }

  /**
   * Compare with what was acknowledged: ackedHi[id] is the highest seq of series id the driver
   * saw acknowledged, and every lower seq was acknowledged too except the `excluded` pairs
   * (samples the proxy refused for good, which vmagent would drop).
   */
  verify(ackedHi: Int32Array, excluded: Int32Array = new Int32Array(0)): VerifyResult {
    const excl = new Map<number, Set<number>>();
    for (let i = 0; i + 1 < excluded.length; i += 2) {
      let s = excl.get(excluded[i]!);
      if (!s) excl.set(excluded[i]!, (s = new Set()));
      s.add(excluded[i + 1]!);
    }
    const r: VerifyResult = { lost: 0, lostSeries: 0, lostExamples: [], receivedUnacked: 0, acked: 0 };
    for (let id = 0; id < ackedHi.length; id++) {
      const a = ackedHi[id]!;
      const hi = id < this.#size ? this.#hi[id]! : -1;
      const m = this.#missing.get(id);
      const ex = excl.get(id);
      let lost = 0;
      if (a >= 0) {
        let excludedHere = 0;
        if (ex) for (const s of ex) if (s <= a) excludedHere++;
        r.acked += a + 1 - excludedHere;
        for (let s = Math.max(hi + 1, 0); s <= a; s++) {
          if (ex?.has(s)) continue;
          lost++;
          if (r.lostExamples.length < 10) r.lostExamples.push([id, s]);
        }
        if (m) {
          for (const s of m) {
            if (s > a || ex?.has(s)) continue;
            lost++;
            if (r.lostExamples.length < 10) r.lostExamples.push([id, s]);
          }
        }
      }
      if (hi > a) {
        let unacked = hi - a;
        if (m) for (const s of m) if (s > a) unacked--;
        r.receivedUnacked += unacked;
      }
      if (lost > 0) {
        r.lost += lost;
        r.lostSeries++;
      }
    }
    return r;
  }
}
