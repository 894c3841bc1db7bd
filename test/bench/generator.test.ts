// Load generation: bodies made from snappy templates decode to exactly the series and
// (id, seq) values the generator says it sent.
import t from 'tap';
import { FleetGenerator, literalRegions } from '../../bench/fleet/generator.js';
import { valueId, valueSeq } from '../../bench/fleet/value.js';
import { PmmFleet } from '../../bench/fleet/pmm.js';
import { PrwDecoder, seriesToObject } from '../../src/protocol/prw/decode.js';
import { snappyCompress, snappyUncompress } from '../../src/protocol/snappy.js';

t.test('literalRegions keeps patched bytes out of back-references', async (t) => {
  // Repetitive data with regions that get overwritten afterwards.
  const raw = Buffer.alloc(40_000);
  for (let i = 0; i < raw.length; i++) raw[i] = (i * 7) % 61;
  const starts = Int32Array.from({ length: 300 }, (_, k) => 37 + k * 131);
  const comp = snappyCompress(raw);
  const lit = literalRegions(raw, comp, starts, 14);
  t.ok(lit, 'rewritten');
  t.ok(snappyUncompress(lit!.block, raw.length).equals(raw), 'decompresses to the template');
  const patched = Buffer.from(lit!.block);
  const want = Buffer.from(raw);
  for (let k = 0; k < starts.length; k++) {
    for (let i = 0; i < 14; i++) {
      const b = (k * 31 + i * 17) & 0xff;
      patched[lit!.at[k]! + i] = b;
      want[starts[k]! + i] = b;
    }
  }
  t.ok(snappyUncompress(patched, raw.length).equals(want), 'patching the regions changes exactly those bytes');
});

t.test('PMM-like fleet: 11-15 sorted labels per series', async (t) => {
  const f = new PmmFleet({ hosts: 5, seriesPerHost: 700, intervalSec: 5, churn: 0, seed: 3 });
  for (let h = 0; h < 5; h++) {
    for (let s = 0; s < 700; s += 37) {
      const labels = f.labelsOf(h, s);
      t.ok(labels.length >= 11 && labels.length <= 15, `${labels.length} labels`);
      const names = labels.map((l) => l[0] as string);
      t.same(names, [...names].sort(), 'sorted');
    }
  }
});

for (const batch of ['host', 'full'] as const) {
  t.test(`bodies (${batch} batches, with churn) carry what the generator reports`, async (t) => {
    const g = new FleetGenerator({ fleet: { hosts: 6, seriesPerHost: 400, intervalSec: 5, churn: 0.05, seed: 2 }, lanes: 3, batch, samplesPerRequest: 1000 });
    const dec = new PrwDecoder({ maxLabelsPerTimeseries: 40, maxLabelNameLen: 256, maxLabelValueLen: 4096 });
    const lastSeq = new Map<number, number>();
    const labelsOf = new Map<number, string>();
    let bad = 0;
    for (let i = 0; i < 60; i++) {
      const b = g.next(i % 3);
      const v = dec.decode(snappyUncompress(b.body, 1 << 26));
      t.equal(v.seriesCount, b.samples);
      for (let s = 0; s < v.seriesCount; s++) {
        const o = seriesToObject(v, s);
        const [value, ts] = o.samples[0]!;
        const id = valueId(value);
        const seq = valueSeq(value);
        if (id !== b.pairs[2 * s] || seq !== b.pairs[2 * s + 1]) bad++;
        if (seq !== (lastSeq.get(id) ?? -1) + 1) bad++;
        lastSeq.set(id, seq);
        const key = JSON.stringify(o.labels);
        if ((labelsOf.get(id) ?? key) !== key) bad++;
        labelsOf.set(id, key);
        if (Math.abs(ts - Date.now()) > 60_000) bad++;
      }
    }
    t.equal(bad, 0, 'values, seqs, labels and timestamps as expected');
    t.ok(g.churned > 0, 'some series churned');
    t.equal(g.fallbackBodies, 0, 'every body came from a template');
  });
}
