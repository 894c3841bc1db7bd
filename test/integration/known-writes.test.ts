// Known remote-write requests straight into Spillway, read back from victoria-metrics:
// every series and sample must arrive, changed only the way storage itself changes them
// (helpers/known-writes.ts lists how), with label bytes exactly as sent.
import t from 'tap';
import { compareRawNames, compareStorage, expectedSampleCount, expectedStorage, KNOWN_MATCH, knownRequests } from './helpers/known-writes.js';
import { postRemoteWrite, writeRequestBody } from './helpers/prw.js';
import { startSpillway } from './helpers/spillway.js';
import { exportRawNames, exportWhenStable, sampleCount, startVictoriaMetrics } from './helpers/victoria-metrics.js';

t.test('known writes through Spillway arrive in victoria-metrics exactly', { timeout: 60_000 }, async (t) => {
  const vm = await startVictoriaMetrics({ t });
  const spillway = await startSpillway([`-remoteWrite.url=${vm.writeUrl}`], { t });

  // Recent, whole-second timestamps: inside retention, clear of "now + 2 days".
  const base = Math.floor(Date.now() / 1000) * 1000 - 10 * 60_000;
  const requests = knownRequests(base);
  for (const req of requests) {
    const res = await postRemoteWrite(spillway.url + req.path, writeRequestBody(req.series));
    t.equal(res.status, 204, `POST ${req.path} (${req.what}) → 204`, { body: res.body.toString('utf8').slice(0, 500) });
  }

  const expected = expectedStorage(requests);
  const want = expectedSampleCount(expected);
  const got = await exportWhenStable(vm.url, KNOWN_MATCH, {
    stableMs: 1_000,
    timeoutMs: 20_000,
    ready: (series) => sampleCount(series) >= want,
  });
  const problems = compareStorage(expected, got);
  t.same(problems, [], 'every series and sample is stored as sent (up to storage rounding)', {
    spillwayOutput: problems.length ? spillway.output().slice(-4000) : undefined,
  });

  const rawProblems = compareRawNames(expected, await exportRawNames(vm.url, KNOWN_MATCH));
  t.same(rawProblems, [], 'label bytes are stored exactly as sent (native export)');
});

t.test('a request is not acknowledged before it is spooled: SIGKILL right after the 204 loses nothing', { timeout: 60_000 }, async (t) => {
  const vm = await startVictoriaMetrics({ t });
  // Nothing listens at this node URL yet: Spillway can only keep what it acknowledged on disk.
  const spillway = await startSpillway([`-remoteWrite.url=${vm.writeUrl}`, '-remoteWrite.retryMaxInterval=2s'], { t });
  await vm.stop();

  const base = Math.floor(Date.now() / 1000) * 1000 - 5 * 60_000;
  const requests = knownRequests(base);
  for (const req of requests) {
    const res = await postRemoteWrite(spillway.url + req.path, writeRequestBody(req.series));
    t.equal(res.status, 204, `POST ${req.path} (${req.what}) → 204 while the node is down`, { body: res.body.toString('utf8').slice(0, 500) });
  }
  spillway.kill('SIGKILL');
  await spillway.proc.exited;

  const vm2 = await startVictoriaMetrics({ t, port: vm.port });
  await spillway.restart();
  const expected = expectedStorage(requests);
  const want = expectedSampleCount(expected);
  const got = await exportWhenStable(vm2.url, KNOWN_MATCH, {
    stableMs: 1_000,
    timeoutMs: 30_000,
    ready: (series) => sampleCount(series) >= want,
  });
  t.same(compareStorage(expected, got), [], 'everything acknowledged before the SIGKILL reaches the node after restart', {
  });
});
