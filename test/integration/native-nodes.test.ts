// Spillway as vminsert: -storageNode over vmstorage's native protocol (to test-only fake
// vmstorage nodes written from the spec). Each node gets exactly the series the ring assigns
// it with -replicationFactor=2; a node that is down keeps its share in its spool and gets it
// all when it returns, nothing re-routed.

import t from 'tap';
import { PrwDecoder } from '../../src/protocol/prw/decode.js';
import { encodeWriteRequest } from '../../src/protocol/prw/encode.js';
import { SeriesKeyHasher } from '../../src/route/key.js';
import { Ring } from '../../src/route/ring.js';
import { FakeVmstorage } from '../helpers/fake-vmstorage.js';
import { httpRequest, sleep } from './helpers/procs.js';
import { postRemoteWrite, writeRequestBody, type TestSeries } from './helpers/prw.js';
import { startSpillway } from './helpers/spillway.js';

const SERIES = 90;
const labels = (i: number): [string, string][] => [['__name__', 'native_test'], ['instance', `db-${i % 9}:9100`], ['series', String(i)]];
const batch = (round: number): TestSeries[] =>
  Array.from({ length: SERIES }, (_, i) => ({ labels: labels(i), samples: [{ value: round, timestamp: Date.now() - 60_000 + round }] }));

t.test('-storageNode with rf=2: exact placement, hinted handoff through an outage', async (t) => {
  const fakes = await Promise.all([0, 1, 2].map(() => new FakeVmstorage().start()));
  t.teardown(() => Promise.all(fakes.map((f) => f.stop())));
  const ids = fakes.map((f) => f.addr);
  const sw = await startSpillway([...ids.map((a) => `-storageNode=${a}`), '-replicationFactor=2', '-remoteWrite.retryMinInterval=100ms', '-remoteWrite.retryMaxInterval=300ms'], { t });

  // The expected placement, from the same key bytes and ring.
  const view = new PrwDecoder({ maxLabelsPerTimeseries: 40, maxLabelNameLen: 256, maxLabelValueLen: 4096 }).decode(
    encodeWriteRequest(Array.from({ length: SERIES }, (_, i) => ({ labels: labels(i), samples: [[0, 0]] }))),
  );
  const hasher = new SeriesKeyHasher('remote-write');
  const ring = new Ring(ids);
  const out = new Int32Array(2);
  const placement = Array.from({ length: SERIES }, (_, i) => {
    hasher.hash(view, i, 0, 0);
    return new Set(Array.from(out.subarray(0, ring.replicas(hasher.hi, hasher.lo, 2, out))));
  });

  let rounds = 0;
  const send = async () => t.equal((await postRemoteWrite(sw.writeUrl, writeRequestBody(batch(rounds++)))).status, 204);
  await send();
  await fakes[2]!.down();
  for (let i = 0; i < 3; i++) await send();
  await sleep(300);
  const st = JSON.parse((await httpRequest(`${sw.url}/api/v1/status`, { method: 'GET' })).body.toString());
  t.ok(st.nodes[2].pendingRecords > 0, `the down node's share waits in its spool (${st.nodes[2].pendingRecords} records, state ${st.nodes[2].state})`);
  await fakes[2]!.up();
  await send();

  const rowsOf = (f: FakeVmstorage) => {
    const m = new Map<number, number>();
    for (const r of f.stored) {
      const s = Number(r.labels.find((l) => l.name.toString() === 'series')!.value.toString());
      m.set(s, (m.get(s) ?? 0) + 1);
    }
    return m;
  };
  const expectedRows = (n: number) => placement.filter((p) => p.has(n)).length * rounds;
  for (let n = 0; n < 3; n++) await fakes[n]!.until(() => new Set(fakes[n]!.stored.map((r) => `${r.metricNameRaw.toString('hex')}/${r.timestamp}`)).size >= expectedRows(n), 15_000);
  for (let n = 0; n < 3; n++) {
    const got = rowsOf(fakes[n]!);
    const extra = [...got.keys()].filter((s) => !placement[s]!.has(n));
    t.equal(extra.length, 0, `node ${n}: only its own series (nothing re-routed)`);
    const short = placement.map((p, s) => (p.has(n) && (got.get(s) ?? 0) < rounds ? s : -1)).filter((s) => s >= 0);
    t.equal(short.length, 0, `node ${n}: every round of each of its series arrived`);
  }
  const name = fakes[0]!.stored[0]!.labels[0]!;
  t.equal(name.name.length, 0, 'the metric name travels under the empty label name, as vminsert sends it');
});
