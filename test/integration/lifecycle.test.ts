// SIGTERM drains in order: readiness goes false at once, writes are still taken during
// -http.shutdownDelay (the load balancer has not noticed yet), then the process exits 0 with
// everything acknowledged in its spool; a restart finds it all.

import t from 'tap';
import { freePort } from './helpers/ports.js';
import { httpRequest, sleep } from './helpers/procs.js';
import { postRemoteWrite, writeRequestBody } from './helpers/prw.js';
import { startSpillway } from './helpers/spillway.js';

const body = (i: number) =>
  writeRequestBody([{ labels: [['__name__', 'drain_test'], ['i', String(i)]], samples: [{ value: i, timestamp: Date.now() }] }]);

t.test('SIGTERM: not ready at once, writes taken during the shutdown delay, clean exit, nothing lost', async (t) => {
  const downPort = await freePort();
  const sw = await startSpillway([`-remoteWrite.url=http://127.0.0.1:${downPort}/api/v1/write`, '-http.shutdownDelay=1500ms'], { t });
  for (let i = 0; i < 5; i++) t.equal((await postRemoteWrite(sw.writeUrl, body(i))).status, 204);

  sw.kill('SIGTERM');
  await sleep(200);
  const ready = await httpRequest(`${sw.url}/-/ready`, { method: 'GET' });
  t.equal(ready.status, 503, 'readiness false while draining');
  t.match(ready.body.toString(), /draining/);
  t.equal((await httpRequest(`${sw.url}/health`, { method: 'GET' })).status, 200, 'still alive');
  t.equal((await postRemoteWrite(sw.writeUrl, body(5))).status, 204, 'writes still accepted during the delay');

  const exit = await sw.proc.exited;
  t.equal(exit.code, 0, 'clean exit');
  t.match(sw.output(), /stopped cleanly/);

  await sw.restart();
  const st = JSON.parse((await httpRequest(`${sw.url}/api/v1/status`, { method: 'GET' })).body.toString());
  t.equal(st.nodes[0].pendingSamples, 6, 'every acknowledged sample is in the spool after the restart');
});
