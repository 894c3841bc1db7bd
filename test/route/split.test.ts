import fc from 'fast-check';
import t, { type Test } from 'tap';
import { PrwDecoder } from '../../src/protocol/prw/decode.js';
import { SERIES_STRIDE, S_DROP, S_END, S_SAMPLE_COUNT, S_START, type WriteRequestView } from '../../src/protocol/prw/types.js';
import { SeriesKeyHasher, T_HI, T_LO } from '../../src/route/key.js';
import { Ring } from '../../src/route/ring.js';
import { Splitter } from '../../src/route/split.js';
import { encodeTimeSeries, encodeWriteRequest, pmmSeries, scanWriteRequest, type TestSeries } from './fixtures.js';

const limits = { maxLabelsPerTimeseries: 30, maxLabelNameLen: 256, maxLabelValueLen: 16 * 1024 };
const tenant = { accountID: 7, projectID: 9 };
const ring3 = new Ring(['vmstorage-1:8400', 'vmstorage-2:8400', 'vmstorage-3:8400']);

/** Series bytes (TimeSeries field ranges) of a view, as hex, in order. */
function seriesBytes(view: WriteRequestView): string[] {
  const out: string[] = [];
  for (let i = 0; i < view.seriesCount; i++) {
    out.push(view.buf.subarray(view.series[i * SERIES_STRIDE + S_START], view.series[i * SERIES_STRIDE + S_END]).toString('hex'));
  }
  return out;
}

/** Checks one split of `view`: each kept series on exactly its replica nodes, in order. */
function checkSplit(t: Test, view: WriteRequestView, splitter: Splitter, ring: Ring, rf: number): void {
  const all = seriesBytes(view);
  const hashes = Int32Array.from(new SeriesKeyHasher('remote-write', { backend: 'ts' }).hashAll(view, tenant.accountID, tenant.projectID).subarray(0, 2 * view.seriesCount));
  const kept = all.map((_, i) => view.series[i * SERIES_STRIDE + S_DROP] === 0);
  const expectedPerNode: string[][] = Array.from({ length: ring.size }, () => []);
  const targets = new Int32Array(ring.size);
  let samples = 0;
  all.forEach((hex, i) => {
    if (!kept[i]) return;
    const k = ring.replicas(hashes[2 * i + T_HI], hashes[2 * i + T_LO], rf, targets);
    t.equal(k, Math.min(rf, ring.size));
    for (let j = 0; j < k; j++) expectedPerNode[targets[j]].push(hex);
  });
  const parts = splitter.split(view, tenant, ring, rf);
  const decoder = new PrwDecoder(limits);
  const seenNodes: number[] = [];
  for (const p of parts) {
    seenNodes.push(p.node);
    // the colleague's decoder accepts the payload as a WriteRequest...
    const dv = decoder.decode(Buffer.from(p.data));
    const got = seriesBytes(dv);
    // ...holding exactly this node's series, byte-identical and in request order
    t.same(got, expectedPerNode[p.node], `node ${p.node}`);
    t.equal(p.series, got.length);
    t.same(Array.from(p.indexes, (i) => all[i]), got, `node ${p.node}: its indexes name the same series, in order`);
    t.equal(p.samples, dv.sampleCount);
    t.equal(p.minTs, view.minTimestamp);
    t.equal(p.maxTs, view.maxTimestamp);
    samples += p.samples;
  }
  t.same(seenNodes, expectedPerNode.flatMap((e, n) => (e.length ? [n] : [])), 'one payload per node that got data, in node order');
  let keptSamples = 0;
  all.forEach((_, i) => kept[i] && (keptSamples += view.series[i * SERIES_STRIDE + S_SAMPLE_COUNT]));
  t.equal(samples, keptSamples * Math.min(rf, ring.size));
}

t.test('PMM-like request, rf 1..4 over 3 nodes, both backends, decoded by PrwDecoder', async (t) => {
  const body = encodeWriteRequest(pmmSeries(600, 3));
  for (const backend of ['wasm', 'ts'] as const) {
    const splitter = new Splitter({ backend, initialArenaBytes: 64 });
    for (const rf of [1, 2, 3, 4]) {
      const view = new PrwDecoder(limits).decode(body);
      checkSplit(t, view, splitter, ring3, rf);
    }
  }
});

t.test('dropped series are skipped; the rest still route', async (t) => {
  const decoder = new PrwDecoder({ ...limits, maxLabelsPerTimeseries: 12 });
  const series = pmmSeries(200, 5); // 13 labels each
  series.forEach((s, i) => i % 3 === 0 && s.labels.splice(5, 1)); // every third one fits
  const view = decoder.decode(encodeWriteRequest(series));
  let dropped = 0;
  for (let i = 0; i < view.seriesCount; i++) if (view.series[i * SERIES_STRIDE + S_DROP] !== 0) dropped++;
  t.ok(dropped > 100 && dropped < 200, `${dropped} dropped by the decoder`);
  checkSplit(t, view, new Splitter(), ring3, 2);
  const parts = new Splitter().split(view, tenant, ring3, 1);
  t.equal(parts.reduce((a, p) => a + p.series, 0), 200 - dropped);
});

t.test('index-only nodes get their series indexes and no bytes; the others are unchanged', async (t) => {
  const view = new PrwDecoder(limits).decode(encodeWriteRequest(pmmSeries(400, 4)));
  const full = new Splitter().split(view, tenant, ring3, 2).map((p) => ({ node: p.node, data: Buffer.from(p.data), indexes: Array.from(p.indexes), series: p.series, samples: p.samples }));
  const parts = new Splitter().split(view, tenant, ring3, 2, undefined, Uint8Array.of(0, 1, 0));
  t.same(parts.map((p) => p.node), full.map((p) => p.node), 'the same nodes get data');
  for (const p of parts) {
    const f = full.find((x) => x.node === p.node)!;
    t.same(Array.from(p.indexes), f.indexes, `node ${p.node}: same series`);
    t.equal(p.series, f.series);
    t.equal(p.samples, f.samples);
    if (p.node === 1) t.equal(p.data.length, 0, 'index-only node: no bytes copied');
    else t.same(Buffer.from(p.data), f.data, `node ${p.node}: same bytes`);
  }
});

t.test('coalescing: series routed to one node come out as one contiguous copy', async (t) => {
  const view = scanWriteRequest(encodeWriteRequest(pmmSeries(300, 11)));
  const parts = new Splitter().split(view, tenant, new Ring(['only:8400']), 1);
  t.equal(parts.length, 1);
  t.same(parts[0].data, view.buf, 'single node: the payload is the request');
});

t.test('arenas are reused and grow; earlier results are overwritten (documented)', async (t) => {
  const splitter = new Splitter({ initialArenaBytes: 16 });
  const small = scanWriteRequest(encodeWriteRequest(pmmSeries(10, 1)));
  const big = scanWriteRequest(encodeWriteRequest(pmmSeries(2000, 2)));
  checkSplit(t, small, splitter, ring3, 1);
  checkSplit(t, big, splitter, ring3, 3);
  checkSplit(t, small, splitter, ring3, 2);
  // a larger ring later on
  checkSplit(t, big, splitter, new Ring(['a', 'b', 'c', 'd', 'e']), 2);
});

t.test('exclude and rf validation', async (t) => {
  const view = scanWriteRequest(encodeWriteRequest(pmmSeries(100, 4)));
  const splitter = new Splitter();
  const ex = new Uint8Array(3);
  ex[1] = 1;
  const parts = splitter.split(view, tenant, ring3, 1, ex);
  t.notOk(parts.some((p) => p.node === 1));
  t.equal(parts.reduce((a, p) => a + p.series, 0), 100);
  ex.fill(1);
  t.same(splitter.split(view, tenant, ring3, 1, ex), []);
  t.equal(splitter.unroutedSeries, 100);
  t.throws(() => splitter.split(view, tenant, ring3, 0), RangeError);
  t.same(splitter.split(scanWriteRequest(Buffer.alloc(0)), tenant, ring3, 1), [], 'empty request');
});

t.test('property: random series, histograms-free, any rf, payloads partition the kept series', async (t) => {
  const splitter = new Splitter({ initialArenaBytes: 8 });
  const label = fc.tuple(fc.constantFrom('__name__', 'job', 'instance', 'a', 'zone'), fc.string({ maxLength: 20 }));
  const seriesArb = fc.record({
    labels: fc.array(label, { minLength: 1, maxLength: 6 }),
    samples: fc.array(fc.tuple(fc.integer({ min: 1, max: 2 ** 42 }), fc.double({ noNaN: true })), { maxLength: 3 }),
  });
  fc.assert(
    fc.property(fc.array(seriesArb, { maxLength: 40 }), fc.integer({ min: 1, max: 4 }), (series, rf) => {
      const ts = series as TestSeries[];
      const view = scanWriteRequest(encodeWriteRequest(ts));
      const parts = splitter.split(view, tenant, ring3, rf);
      const counts = new Map<string, number>();
      for (const p of parts) for (const hex of seriesBytes(scanWriteRequest(Buffer.from(p.data)))) counts.set(hex, (counts.get(hex) ?? 0) + 1);
      const want = new Map<string, number>();
      for (const s of ts) {
        const hex = Buffer.concat([Buffer.from([0x0a]), varintOf(encodeTimeSeries(s).length), encodeTimeSeries(s)]).toString('hex');
        want.set(hex, (want.get(hex) ?? 0) + Math.min(rf, 3));
      }
      return JSON.stringify([...counts].sort()) === JSON.stringify([...want].sort());
    }),
    { numRuns: 300 },
  );
  t.pass();
});

function varintOf(n: number): Buffer {
  const b: number[] = [];
  while (n > 0x7f) {
    b.push((n & 0x7f) | 0x80);
    n >>>= 7;
  }
  b.push(n);
  return Buffer.from(b);
}
