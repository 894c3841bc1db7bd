// The promise end to end, with real processes: while the storage node is down, Spillway
// keeps acknowledging into its spool; a kill -9 mid-load and another mid-replay lose nothing
// acknowledged; when the node appears, the backlog replays and every acknowledged sample is
// stored exactly once (VictoriaMetrics folds at-least-once re-sends).

import t from 'tap';
import { freePort } from './helpers/ports.js';
import { httpRequest, sleep } from './helpers/procs.js';
import { postRemoteWrite, writeRequestBody, type TestSeries } from './helpers/prw.js';
import { startSpillway } from './helpers/spillway.js';
import { exportSeries, sampleCount, seriesKey, startVictoriaMetrics } from './helpers/victoria-metrics.js';

const SERIES_PER_REQUEST = 40;
const base = Date.now() - 60 * 60 * 1000;

/** Request i: SERIES_PER_REQUEST series, one sample each at a timestamp unique to i. */
function request(i: number): TestSeries[] {
  return Array.from({ length: SERIES_PER_REQUEST }, (_, s) => ({
    labels: [
      ['__name__', 'crash_test_value'],
      ['instance', `db-${s % 5}:9100`],
      ['job', 'crash'],
      ['series', String(s)],
    ] as [string, string][],
    samples: [{ value: i * 1000 + s, timestamp: base + i * 1000 }],
  }));
}

async function status(url: string) {
  const res = await httpRequest(`${url}/api/v1/status`, { method: 'GET' });
  return JSON.parse(res.body.toString('utf8')) as { nodes: { pendingRecords: number; pendingSamples: number; state: string }[] };
}

t.test('outage, kill -9 under load and during replay: every acknowledged sample arrives', async (t) => {
  const vmPort = await freePort();
  // The node is not running yet: Spillway must accept into its spool anyway.
  const sw = await startSpillway(
    [`-remoteWrite.url=http://127.0.0.1:${vmPort}/api/v1/write`, '-remoteWrite.retryMinInterval=100ms', '-remoteWrite.retryMaxInterval=500ms'],
    { t },
  );

  const acked = new Set<number>();
  let next = 0;
  // Several concurrent clients, like many vmagents; each request is acknowledged or not.
  const client = async (stopAt: number) => {
    while (next < stopAt) {
      const i = next++;
      try {
        const res = await postRemoteWrite(sw.writeUrl, writeRequestBody(request(i)));
        if (res.status === 204) acked.add(i);
      } catch {
        // connection refused or reset by the kill: not acknowledged, the client would retry
      }
    }
  };

  // Phase 1: load while the node is down, then kill -9 mid-load.
  const load = Promise.all([client(60), client(60), client(60), client(60)]);
  while (acked.size < 25) await sleep(5);
  sw.kill('SIGKILL');
  await sw.proc.exited;
  await load;
  t.ok(acked.size >= 25, `${acked.size} requests acknowledged before and around the kill`);
  const firstRound = acked.size;

  // Phase 2: restart on the same spool; the backlog is recovered, more load is accepted.
  await sw.restart();
  const st = await status(sw.url);
  t.ok(st.nodes[0]!.pendingRecords >= firstRound, `recovered ${st.nodes[0]!.pendingRecords} pending records after kill -9`);
  await Promise.all([client(90), client(90)]);
  t.equal(acked.size, firstRound + 30, 'every request after the restart is acknowledged while the node is down');

  // Phase 3: the node appears; kill -9 again in the middle of the replay.
  const vm = await startVictoriaMetrics({ t, port: vmPort });
  const deadline = Date.now() + 20_000;
  while ((await exportSeries(vm.url, '{__name__="crash_test_value"}').then(sampleCount)) === 0 && Date.now() < deadline) {
    await vm.flush();
    await sleep(50);
  }
  sw.kill('SIGKILL');
  await sw.proc.exited;
  await sw.restart();

  // Phase 4: drain completely.
  const drainDeadline = Date.now() + 30_000;
  for (;;) {
    const s = await status(sw.url);
    if (s.nodes[0]!.pendingRecords === 0) break;
    if (Date.now() > drainDeadline) {
      t.fail(`spool did not drain: ${JSON.stringify(s.nodes[0])}`);
      break;
    }
    await sleep(100);
  }
  await vm.flush();
  await sleep(500);
  await vm.flush();

  const exported = await exportSeries(vm.url, '{__name__="crash_test_value"}');
  const stored = new Map<string, Map<number, number>>();
  for (const s of exported) {
    const m = new Map<number, number>();
    s.timestamps.forEach((ts, k) => m.set(ts, s.values[k]!));
    stored.set(seriesKey(s.metric), m);
  }
  let missing = 0;
  let wrong = 0;
  for (const i of acked) {
    for (const s of request(i)) {
      const labels = Object.fromEntries(s.labels) as Record<string, string>;
      const got = stored.get(seriesKey(labels))?.get(s.samples[0]!.timestamp);
      if (got === undefined) missing++;
      else if (got !== s.samples[0]!.value) wrong++;
    }
  }
  t.equal(missing, 0, `no acknowledged sample lost (${acked.size} requests, ${acked.size * SERIES_PER_REQUEST} samples)`);
  t.equal(wrong, 0, 'every stored value is the one sent');
  const total = sampleCount(exported);
  t.ok(total <= next * SERIES_PER_REQUEST, 'nothing stored that was never sent');
  t.ok(total >= acked.size * SERIES_PER_REQUEST, 'stored at least every acknowledged sample');
  t.comment(`acked ${acked.size}/${next} requests; stored ${total} samples; output on failure:\n${t.passing() ? '' : sw.output().slice(-4000)}`);
});
