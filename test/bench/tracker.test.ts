// The sink's per-series bookkeeping: order, duplicates, late arrivals and the loss check
// against what the driver saw acknowledged.
import t from 'tap';
import { Arrival, SeriesTracker } from '../../bench/sink/tracker.js';
import { encodeValue, valueId, valueSeq } from '../../bench/fleet/value.js';

t.test('value encodes series id and seq exactly', async (t) => {
  for (const [id, seq] of [[0, 0], [1, 2], [123_456, 16_777_215], [536_870_911, 7]] as const) {
    const v = encodeValue(id, seq);
    t.equal(valueId(v), id);
    t.equal(valueSeq(v), seq);
  }
  t.equal(valueId(-1), -1);
  t.equal(valueId(0.5), -1);
  t.equal(valueId(NaN), -1);
});

t.test('arrivals are classified per series', async (t) => {
  const tr = new SeriesTracker();
  t.equal(tr.record(7, 0, 100), Arrival.InOrder);
  t.equal(tr.record(7, 1, 100), Arrival.InOrder);
  t.equal(tr.record(7, 1, 100), Arrival.Duplicate);
  t.equal(tr.record(7, 4, 100), Arrival.Ahead, 'seqs 2 and 3 skipped');
  t.equal(tr.record(7, 3, 100), Arrival.Late);
  t.equal(tr.record(7, 3, 100), Arrival.Duplicate, 'a late seq seen twice is a duplicate');
  t.equal(tr.record(8, 0, 90, 1), Arrival.InOrder);
  t.equal(tr.record(8, 1, 91, 2), Arrival.InOrder);
  t.equal(tr.record(-1, -1, 0), Arrival.Unknown);
  t.match(tr.totals, { samples: 9, unique: 6, duplicates: 2, outOfOrder: 1, unknown: 1, labelMismatch: 1, series: 2, moved: 1 });
});

t.test('verify counts acknowledged samples that never arrived', async (t) => {
  const tr = new SeriesTracker();
  for (let s = 0; s <= 9; s++) tr.record(0, s, 10);
  for (const s of [0, 1, 2, 5]) tr.record(1, s, 10); // 3 and 4 missing
  tr.record(3, 0, 10); // series 3 never acknowledged: received unacked
  const acked = Int32Array.from([9, 6, -1, -1]);
  let r = tr.verify(acked);
  t.equal(r.lost, 3, 'series 1: seqs 3, 4 and 6');
  t.equal(r.lostSeries, 1);
  t.same(r.lostExamples, [[1, 6], [1, 3], [1, 4]]);
  t.equal(r.receivedUnacked, 1);
  t.equal(r.acked, 17);
  // seq 4 of series 1 was refused for good (4xx): not a loss, not acknowledged.
  r = tr.verify(acked, Int32Array.from([1, 4]));
  t.equal(r.lost, 2);
  t.equal(r.acked, 16);
  tr.record(1, 3, 10);
  tr.record(1, 4, 10);
  tr.record(1, 6, 10);
  t.equal(tr.verify(acked).lost, 0, 'late arrivals fill the gaps');
});
