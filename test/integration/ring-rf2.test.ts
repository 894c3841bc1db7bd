// Three real VictoriaMetrics nodes, -replicationFactor=2: each node holds exactly the series
// the ring assigns to it. One node is stopped under load and started again: its share waits
// in its spool (hinted handoff), nothing is re-routed to the others, and afterwards all three
// exports are complete.

import t from 'tap';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PrwDecoder } from '../../src/protocol/prw/decode.js';
import { encodeWriteRequest } from '../../src/protocol/prw/encode.js';
import { SeriesKeyHasher } from '../../src/route/key.js';
import { Ring } from '../../src/route/ring.js';
import { freePorts } from './helpers/ports.js';
import { httpRequest, sleep } from './helpers/procs.js';
import { postRemoteWrite, writeRequestBody, type TestSeries } from './helpers/prw.js';
import { startSpillway } from './helpers/spillway.js';
import { exportSeries, startVictoriaMetrics, type VictoriaMetrics } from './helpers/victoria-metrics.js';

const SERIES = 240;
const OUTAGE_MS = Number(process.env.SPILLWAY_RING_OUTAGE_MS ?? 30_000);
const start = Date.now() - 10 * 60_000;

const labels = (i: number): [string, string][] => [
  ['__name__', 'ring_test'],
  ['instance', `db-${i % 12}:9104`],
  ['job', 'mysql'],
  ['series', String(i)],
];

function batch(round: number): TestSeries[] {
  return Array.from({ length: SERIES }, (_, i) => ({ labels: labels(i), samples: [{ value: round, timestamp: start + round * 1000 }] }));
}

/** Where the ring puts each series: the two node indexes, computed from the same key bytes. */
function expectedPlacement(urls: string[]): Set<number>[] {
  const view = new PrwDecoder({ maxLabelsPerTimeseries: 100, maxLabelNameLen: 1000, maxLabelValueLen: 10000 }).decode(
    encodeWriteRequest(Array.from({ length: SERIES }, (_, i) => ({ labels: labels(i), samples: [[0, start]] }))),
  );
  const hasher = new SeriesKeyHasher('remote-write');
  const ring = new Ring(urls);
  const out = new Int32Array(2);
  return Array.from({ length: SERIES }, (_, i) => {
    hasher.hash(view, i, 0, 0);
    const n = ring.replicas(hasher.hi, hasher.lo, 2, out);
    return new Set(Array.from(out.subarray(0, n)));
  });
}

async function pending(url: string): Promise<number[]> {
  const res = await httpRequest(`${url}/api/v1/status`, { method: 'GET' });
  return (JSON.parse(res.body.toString()) as { nodes: { pendingRecords: number }[] }).nodes.map((n) => n.pendingRecords);
}

async function stored(vm: VictoriaMetrics): Promise<Map<number, number>> {
  await vm.flush();
  const bySeries = new Map<number, number>();
  for (const s of await exportSeries(vm.url, '{__name__="ring_test"}')) bySeries.set(Number(s.metric.series), s.values.length);
  return bySeries;
}

t.test('rf=2 over three VictoriaMetrics: exact placement, hinted handoff through a node outage', { timeout: 120_000 }, async (t) => {
  const ports = await freePorts(3);
  const dirs = ports.map(() => mkdtempSync(path.join(os.tmpdir(), 'spw-ring-vm-')));
  t.teardown(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));
  const vms = await Promise.all(ports.map((port, i) => startVictoriaMetrics({ t, port, dataDir: dirs[i]! })));
  const urls = vms.map((vm) => vm.writeUrl);
  const sw = await startSpillway([...urls.map((u) => `-remoteWrite.url=${u}`), '-replicationFactor=2', '-remoteWrite.retryMinInterval=200ms', '-remoteWrite.retryMaxInterval=1s'], { t });
  const placement = expectedPlacement(urls);

  let round = 0;
  const send = async () => t.equal((await postRemoteWrite(sw.writeUrl, writeRequestBody(batch(round++)))).status, 204, `round ${round}`);
  const drained = async (what: string) => {
    const end = Date.now() + 30_000;
    while ((await pending(sw.url)).some((p) => p > 0)) {
      if (Date.now() > end) throw new Error(`not drained: ${what}`);
      await sleep(100);
    }
  };

  for (let i = 0; i < 3; i++) await send();
  await drained('before the outage');

  // Node 1 away under load.
  await vms[1]!.stop();
  const outageEnd = Date.now() + OUTAGE_MS;
  while (Date.now() < outageEnd) {
    await send();
    await sleep(1000);
  }
  const during = await pending(sw.url);
  t.ok(during[1]! > 0, `node 1 holds its share in its spool (${during[1]} records)`);
  vms[1] = await startVictoriaMetrics({ t, port: ports[1]!, dataDir: dirs[1]! });
  await send();
  await drained('after the node returned');

  for (let n = 0; n < 3; n++) {
    const got = await stored(vms[n]!);
    const mine = placement.map((p, i) => (p.has(n) ? i : -1)).filter((i) => i >= 0);
    const extra = [...got.keys()].filter((i) => !placement[i]!.has(n));
    const incomplete = mine.filter((i) => got.get(i) !== round);
    t.equal(extra.length, 0, `node ${n} holds only its series (nothing re-routed to it): ${extra.slice(0, 5)}`);
    t.equal(incomplete.length, 0, `node ${n} has all ${round} samples of each of its ${mine.length} series: missing in ${incomplete.slice(0, 5)}`);
  }
});
