import t from 'tap';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { pino } from 'pino';
import { Admission } from '../../src/ingest/admission.js';
import { Auth } from '../../src/ingest/auth.js';
import { buildServer } from '../../src/ingest/server.js';
import { WriteHandler } from '../../src/ingest/write-handler.js';
import { Lifecycle } from '../../src/observe/lifecycle.js';
import { Metrics } from '../../src/observe/metrics.js';
import { registerObserveRoutes } from '../../src/observe/routes.js';
import { encodeWriteRequest } from '../../src/protocol/prw/encode.js';
import { snappyCompress } from '../../src/protocol/snappy.js';
import { Ring } from '../../src/route/ring.js';
import { MemorySpool } from '../helpers/memory-spool.js';

const body = snappyCompress(encodeWriteRequest([{ labels: [['__name__', 'up']], samples: [[1, Date.now()]] }]));
const basic = (u: string, p: string) => 'Basic ' + Buffer.from(`${u}:${p}`).toString('base64');

t.test('credentials on writes and admin endpoints, tenant-bound tokens, open probes', async (t) => {
  const dir = t.testdir();
  const tokens = path.join(dir, 'tokens');
  writeFileSync(tokens, '# token [tenant]\nany-tenant-token\nteam7-token 7:0\n');
  const metrics = new Metrics();
  const lifecycle = new Lifecycle();
  lifecycle.markReady();
  const spool = new MemorySpool('n0');
  const handler = new WriteHandler({
    ring: new Ring(['n0']), replicationFactor: 1, spools: [spool], nodeKinds: ['remote-write'],
    limits: { maxLabelsPerTimeseries: 40, maxLabelNameLen: 256, maxLabelValueLen: 4096 }, maxInsertRequestSize: 1 << 20, metrics,
  });
  const app = buildServer({
    writeHandler: () => handler, admission: new Admission(8, 1000), auth: new Auth({ username: 'pmm', password: 's3cret', tokensFile: tokens }),
    lifecycle, metrics, logger: pino({ level: 'silent' }), maxInsertRequestSize: 1 << 20,
  });
  registerObserveRoutes(app, { lifecycle, metrics, status: async () => ({ version: 'x', phase: 'ready', uptimeSeconds: 0, replicationFactor: 1, ingest: { acceptedSamples: 0, acceptedSamplesPerSecond: 0, rejectedRequests: {}, droppedSeries: {} }, nodes: [] }) });
  t.teardown(() => app.close());
  const post = (url: string, authorization?: string) =>
    app.inject({ method: 'POST', url, payload: body, headers: { 'content-encoding': 'snappy', ...(authorization ? { authorization } : {}) } });

  const none = await post('/api/v1/write');
  t.equal(none.statusCode, 401);
  t.match(none.headers['www-authenticate'], /Basic/);
  t.match(none.body, /SPW_ERR_UNAUTHORIZED/);
  t.equal((await post('/api/v1/write', basic('pmm', 'wrong'))).statusCode, 401);
  t.equal((await post('/api/v1/write', 'Bearer nope')).statusCode, 401);
  t.equal(spool.records.length, 0, 'refused requests cost nothing');

  t.equal((await post('/api/v1/write', basic('pmm', 's3cret'))).statusCode, 204);
  t.equal((await post('/insert/3:4/prometheus/api/v1/write', 'Bearer any-tenant-token')).statusCode, 204);
  t.equal((await post('/insert/7/prometheus/api/v1/write', 'Bearer team7-token')).statusCode, 204, 'a bound token writes its own tenant');
  const other = await post('/insert/8/prometheus/api/v1/write', 'Bearer team7-token');
  t.equal(other.statusCode, 403, 'and not another');
  t.match(other.body, /SPW_ERR_FORBIDDEN/);
  t.equal((await post('/api/v1/write', 'Bearer team7-token')).statusCode, 403, 'nor the default tenant');
  t.equal(spool.records.length, 3);

  for (const probe of ['/health', '/-/healthy', '/-/ready', '/v1/readyz']) {
    t.equal((await app.inject({ method: 'GET', url: probe })).statusCode, 200, `${probe} stays open`);
  }
  t.equal((await app.inject({ method: 'GET', url: '/metrics' })).statusCode, 401, '/metrics needs credentials');
  t.equal((await app.inject({ method: 'GET', url: '/api/v1/status' })).statusCode, 401);
  t.equal((await app.inject({ method: 'GET', url: '/', headers: { authorization: basic('pmm', 's3cret') } })).statusCode, 200);
  const m = (await app.inject({ method: 'GET', url: '/metrics', headers: { authorization: 'Bearer any-tenant-token' } })).body;
  t.match(m, /spillway_ingest_rejected_requests_total\{reason="unauthorized"\} 5/);
  t.match(m, /spillway_ingest_rejected_requests_total\{reason="forbidden"\} 2/);
});

t.test('a bad tokens file is refused at start with the line', async (t) => {
  const f = path.join(t.testdir(), 'tokens');
  writeFileSync(f, 'ok-token\nbad-token notatenant\n');
  t.throws(() => new Auth({ username: '', password: '', tokensFile: f }), { code: 'SPW_ERR_CONFIG', message: /line 2/ });
  t.notOk(new Auth({ username: '', password: '', tokensFile: '' }).enabled, 'no credentials configured: open');
});
