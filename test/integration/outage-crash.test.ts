// The promise end to end, with real processes: while the storage node is down, Spillway
// keeps acknowledging into its spool; kill -9 at random moments, under load and during the
// replay, loses nothing acknowledged; when the node appears, the backlog replays and every
// acknowledged sample is stored (VictoriaMetrics folds at-least-once re-sends).

import t from 'tap';
import { freePort } from './helpers/ports.js';
import { httpRequest, sleep } from './helpers/procs.js';
import { postRemoteWrite, writeRequestBody, type TestSeries } from './helpers/prw.js';
import { startSpillway } from './helpers/spillway.js';
import { exportSeries, sampleCount, seriesKey, startVictoriaMetrics } from './helpers/victoria-metrics.js';

const SERIES_PER_REQUEST = 40;
const base = Date.now() - 60 * 60 * 1000;

/** Request i: SERIES_PER_REQUEST series, one sample each at a timestamp unique to i (all in the past, which export needs). */
function request(i: number): TestSeries[] {
  return Array.from({ length: SERIES_PER_REQUEST }, (_, s) => ({
    labels: [
      ['__name__', 'crash_test_value'],
      ['instance', `db-${s % 5}:9100`],
      ['job', 'crash'],
      ['series', String(s)],
    ] as [string, string][],
    samples: [{ value: i * 1000 + s, timestamp: base + i * 10 }],
  }));
}

async function status(url: string) {
  const res = await httpRequest(`${url}/api/v1/status`, { method: 'GET' });
  return JSON.parse(res.body.toString('utf8')) as { nodes: { pendingRecords: number; pendingSamples: number; state: string }[] };
}

const KILLS = Number(process.env.SPILLWAY_CRASH_KILLS ?? 20);

t.test(`outage and ${KILLS} kill -9s at random moments under load: every acknowledged sample arrives`, { timeout: 180_000 }, async (t) => {
  const vmPort = await freePort();
  // The node is not running yet: Spillway must accept into its spool anyway.
  const sw = await startSpillway(
    [`-remoteWrite.url=http://127.0.0.1:${vmPort}/api/v1/write`, '-remoteWrite.retryMinInterval=100ms', '-remoteWrite.retryMaxInterval=500ms'],
    { t },
  );

  const acked = new Set<number>();
  let next = 0;
  let sending = true;
  // Several concurrent clients, like many vmagents; a request counts only once answered 204.
  const client = async () => {
    while (sending) {
      const i = next++;
      try {
        const res = await postRemoteWrite(sw.writeUrl, writeRequestBody(request(i)));
        if (res.status === 204) acked.add(i);
      } catch {
        // refused or reset by a kill: not acknowledged; a real client would retry it
        await sleep(20);
      }
    }
  };
  const clients = Promise.all([client(), client(), client(), client()]);

  let vm: Awaited<ReturnType<typeof startVictoriaMetrics>> | undefined;
  let recoveredAfterKill = 0;
  for (let k = 0; k < KILLS; k++) {
    // The storage node is away for the first half of the run, then returns.
    if (k === Math.floor(KILLS / 2)) vm = await startVictoriaMetrics({ t, port: vmPort });
    await sleep(150 + Math.floor(Math.random() * 450));
    const before = acked.size;
    sw.kill('SIGKILL');
    await sw.proc.exited;
    await sw.restart();
    if (k === 0) {
      const st = await status(sw.url);
      recoveredAfterKill = st.nodes[0]!.pendingRecords;
      t.ok(recoveredAfterKill >= before, `after the first kill -9, ${recoveredAfterKill} records recovered for ${before} acknowledged requests`);
    }
  }
  sending = false;
  await clients;
  vm ??= await startVictoriaMetrics({ t, port: vmPort });
  t.ok(acked.size > KILLS, `${acked.size} requests acknowledged across ${KILLS} kills`);

  // Drain completely.
  const drainDeadline = Date.now() + 60_000;
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
  const total = sampleCount(exported);
  t.comment(`kills ${KILLS}; requests sent ${next}, acknowledged ${acked.size}; samples acknowledged ${acked.size * SERIES_PER_REQUEST}, stored ${total}, lost ${missing}`);
  t.equal(missing, 0, `no acknowledged sample lost (${acked.size} requests, ${acked.size * SERIES_PER_REQUEST} samples)`);
  t.equal(wrong, 0, 'every stored value is the one sent');
  t.ok(total <= next * SERIES_PER_REQUEST, 'nothing stored that was never sent');
  if (!t.passing()) t.comment(sw.output().slice(-4000));
});
