// Routing against real vminsert v1.93.7 captures (shared/vmstorage/vectors, PROTOCOL.md
// §6 and vectors/README.md). Each *-c2s.bin is what vminsert sent to one node; every row
// in it is turned back into a remote-write series and must route to that same node.

import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { LABEL_STRIDE, SERIES_STRIDE, S_LABEL_COUNT, S_LABEL_FIRST } from '../../src/protocol/prw/types.js';
import { SeriesKeyHasher, T_HI, T_LO } from '../../src/route/key.js';
import { Ring } from '../../src/route/ring.js';
import { Splitter } from '../../src/route/split.js';
import { encodeWriteRequest, readC2sPackets, remoteWriteLabels, scanWriteRequest, sharedDir, xxh64Ref, big64, type CapturedRow, type TestSeries } from './fixtures.js';

const vectors = path.join(sharedDir, 'vmstorage', 'vectors');
const packetsOf = (name: string): CapturedRow[][] => readC2sPackets(readFileSync(path.join(vectors, `${name}-c2s.bin`)));
const asSeries = (rows: CapturedRow[]): TestSeries[] => rows.map((r) => ({ labels: remoteWriteLabels(r), samples: [[1700000000000, 0]] }));

if (!existsSync(vectors)) {
  t.fail(`vectors not found at ${vectors} (set SPILLWAY_SHARED_DIR)`);
} else {
  for (const backend of ['wasm', 'ts'] as const) {
    t.test(`${backend}: 03-route2, remote write (__name__ rule): 24/24 series on the node whose stream holds them`, async (t) => {
      const ring = new Ring(['127.0.0.1:18422', '127.0.0.1:18432']);
      const hasher = new SeriesKeyHasher('remote-write', { backend });
      let total = 0;
      for (const node of [0, 1]) {
        const rows = packetsOf(`03-route2-node${node}`)[0];
        const view = scanWriteRequest(encodeWriteRequest(asSeries(rows)));
        const tab = hasher.hashAll(view, rows[0].accountID, rows[0].projectID);
        for (let i = 0; i < rows.length; i++) {
          t.equal(ring.primary(tab[2 * i + T_HI], tab[2 * i + T_LO]), node, `row ${i} of node ${node}`);
          total++;
        }
      }
      t.equal(total, 24);
    });

    t.test(`${backend}: 03-route2, import path (empty-name rule): 24/24`, async (t) => {
      const ring = new Ring(['127.0.0.1:18422', '127.0.0.1:18432']);
      const hasher = new SeriesKeyHasher('import', { backend });
      let total = 0;
      for (const node of [0, 1]) {
        const rows = packetsOf(`03-route2-node${node}`)[1];
        const view = scanWriteRequest(encodeWriteRequest(asSeries(rows)));
        const tab = hasher.hashAll(view, 0, 0);
        for (let i = 0; i < rows.length; i++) {
          // with the import rule the key is exactly the MetricNameRaw on the wire
          t.equal(big64(tab[2 * i + T_HI], tab[2 * i + T_LO]), xxh64Ref(rows[i].metricNameRaw));
          t.equal(ring.primary(tab[2 * i + T_HI], tab[2 * i + T_LO]), node);
          total++;
        }
      }
      t.equal(total, 24);
    });

    t.test(`${backend}: 04-route3-rf1 (unsorted node list): 60/60 via Splitter`, async (t) => {
      const ids = ['127.0.0.1:18435', '127.0.0.1:18425', '127.0.0.1:18445'];
      const ring = new Ring(ids);
      // all 60 series in one request (in index order, like the original request)
      const perNode = [0, 1, 2].map((n) => packetsOf(`04-route3-rf1-node${n}`)[0]);
      t.same(perNode.map((r) => r.length), [20, 25, 15]);
      const where = new Map<string, number>();
      const all: CapturedRow[] = [];
      perNode.forEach((rows, n) => rows.forEach((r) => (where.set(r.metricNameRaw.toString('hex'), n), all.push(r))));
      const instance = (r: CapturedRow): number => Number(/host(\d+):/.exec(r.labels[2][1].toString())![1]);
      all.sort((a, b) => instance(a) - instance(b));
      const view = scanWriteRequest(encodeWriteRequest(asSeries(all)));
      const parts = new Splitter({ backend }).split(view, { accountID: 0, projectID: 0 }, ring, 1);
      t.same(parts.map((p) => [p.node, p.series]), [[0, 20], [1, 25], [2, 15]]);
      for (const p of parts) {
        const got = scanWriteRequest(p.data);
        for (let i = 0; i < got.seriesCount; i++) {
          const mnr = mnrOf(got, i);
          t.equal(where.get(mnr), p.node);
        }
      }
    });

    t.test(`${backend}: 05-route3-rf2: own packet rows go to [node, node+1 mod 3]`, async (t) => {
      const ring = new Ring(['127.0.0.1:18436', '127.0.0.1:18426', '127.0.0.1:18446']);
      const hasher = new SeriesKeyHasher('remote-write', { backend });
      const out = new Int32Array(3);
      let total = 0;
      for (const node of [0, 1, 2]) {
        const [own, copy] = packetsOf(`05-route3-rf2-node${node}`);
        const view = scanWriteRequest(encodeWriteRequest(asSeries(own)));
        const tab = hasher.hashAll(view, 0, 0);
        for (let i = 0; i < own.length; i++) {
          t.equal(ring.replicas(tab[2 * i + T_HI], tab[2 * i + T_LO], 2, out), 2);
          t.same(Array.from(out.subarray(0, 2)), [node, (node + 1) % 3]);
          total++;
        }
        // the second packet is the predecessor's buffer, byte for byte
        const prev = packetsOf(`05-route3-rf2-node${(node + 2) % 3}`)[0];
        t.same(copy.map((r) => r.metricNameRaw.toString('hex')), prev.map((r) => r.metricNameRaw.toString('hex')));
      }
      t.equal(total, 60);
    });
  }
}

/** MetricNameRaw hex (tenant 0:0, empty metric name) of series i, to look a row up. */
function mnrOf(view: ReturnType<typeof scanWriteRequest>, i: number): string {
  const parts: Buffer[] = [Buffer.alloc(8)];
  const first = view.series[i * SERIES_STRIDE + S_LABEL_FIRST];
  const count = view.series[i * SERIES_STRIDE + S_LABEL_COUNT];
  for (let j = first; j < first + count; j++) {
    const [ns, ne, vs, ve] = view.labels.subarray(j * LABEL_STRIDE, j * LABEL_STRIDE + 4);
    let name = view.buf.subarray(ns, ne);
    if (name.toString() === '__name__') name = Buffer.alloc(0);
    const value = view.buf.subarray(vs, ve);
    const l = Buffer.alloc(2);
    l.writeUInt16BE(name.length);
    const v = Buffer.alloc(2);
    v.writeUInt16BE(value.length);
    parts.push(l, name, v, value);
  }
  return Buffer.concat(parts).toString('hex');
}
