import t from 'tap';
import Fastify from 'fastify';
import { Lifecycle } from '../../src/observe/lifecycle.js';
import { Metrics } from '../../src/observe/metrics.js';
import { registerObserveRoutes, type StatusDoc } from '../../src/observe/routes.js';

const doc: StatusDoc = {
  version: '0.0.0',
  phase: 'ready',
  uptimeSeconds: 1,
  replicationFactor: 1,
  ingest: { acceptedSamples: 42, acceptedSamplesPerSecond: 1.5, rejectedRequests: { bad_snappy: 2 }, droppedSeries: {} },
  nodes: [
    {
      node: 'http://a:8428/api/v1/write?x=<b>',
      state: 'down',
      lastError: 'HTTP 503',
      pendingBytes: 2048,
      pendingRecords: 3,
      pendingSamples: 30,
      oldestUnsentAgeSeconds: 12.5,
      diskBytes: 4096,
      sentSamples: 7,
      sentRecords: 1,
      sentSamplesPerSecond: 0,
      drainEtaSeconds: null,
      failedAttempts: 4,
      failuresByReason: { '503': 4 },
      rejectedRecords: 0,
      droppedSamples: 0,
      replicationDebtSamples: 25,
    },
  ],
};

t.test('liveness, readiness through the lifecycle, metrics, status', async (t) => {
  const app = Fastify();
  const lifecycle = new Lifecycle();
  const metrics = new Metrics();
  metrics.setNodeSource({
    nodes: () => [
      { node: 'n0', pendingBytes: 11, pendingRecords: 1, pendingSamples: 5, oldestAppendedAt: Date.now() - 3000, diskBytes: 20, droppedRecords: 0, droppedSamples: 0, fsyncs: 9, up: false, replicationDebtSamples: 4 },
    ],
  });
  registerObserveRoutes(app, { lifecycle, metrics, status: async () => doc });
  t.teardown(() => app.close());
  const get = (url: string) => app.inject({ method: 'GET', url });

  t.equal((await get('/health')).statusCode, 200);
  t.equal((await get('/-/healthy')).statusCode, 200);
  t.equal((await get('/-/ready')).statusCode, 503, 'not ready while starting');
  t.match((await get('/v1/readyz')).body, /starting/);
  lifecycle.markReady();
  t.equal((await get('/-/ready')).statusCode, 200);
  t.equal((await get('/v1/readyz')).statusCode, 200);
  lifecycle.markDraining();
  const draining = await get('/-/ready');
  t.equal(draining.statusCode, 503);
  t.match(draining.body, /draining/);
  t.equal((await get('/health')).statusCode, 200, 'alive while draining');

  const m = (await get('/metrics')).body;
  t.match(m, /spillway_spool_pending_bytes\{node="n0"\} 11/);
  t.match(m, /spillway_node_up\{node="n0"\} 0/);
  t.match(m, /spillway_spool_oldest_age_seconds\{node="n0"\} [3-9](\.\d+)?\n/);
  t.match(m, /process_cpu_seconds_total/);
  t.match(m, /spillway_spool_fsyncs\{node="n0"\} 9/);
  t.match(m, /spillway_node_replication_debt_samples\{node="n0"\} 4/);

  t.same((await get('/api/v1/status')).json(), doc);
  const page = await get('/');
  t.match(page.headers['content-type'], /text\/html/);
  t.match(page.body, /&#60;b&#62;/, 'node names are escaped');
  t.notMatch(page.body, /<b>"/);
  t.match(page.body, /data-k="pendingRecords">3</);
  t.match(page.body, /data-k="replicationDebtSamples">25</);
  t.match(page.body, /503: 4/);
  t.notMatch(page.body, /src="http|href="http/, 'no external assets');
});
