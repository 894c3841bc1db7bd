import t from 'tap';
import { Admission } from '../../src/ingest/admission.js';

t.test('at most N at once; the rest wait in order; refused with Retry-After after the queue wait', async (t) => {
  const a = new Admission(2, 100);
  const r1 = await a.acquire();
  const r2 = await a.acquire();
  t.equal(a.inFlight, 2);
  const order: number[] = [];
  const w3 = a.acquire().then((rel) => (order.push(3), rel));
  const w4 = a.acquire().then((rel) => (order.push(4), rel));
  t.equal(a.queued, 2);
  r1();
  r1(); // a second release of the same slot is ignored
  const rel3 = await w3;
  t.equal(a.inFlight, 2);
  r2();
  const rel4 = await w4;
  t.same(order, [3, 4]);
  const late = a.acquire();
  await t.rejects(late, { code: 'SPW_ERR_OVERLOADED', status: 503, retryAfter: 1 });
  t.equal(a.refused, 1);
  rel3();
  rel4();
  t.equal(a.inFlight, 0);
  t.equal(a.queued, 0);
});

t.test('a waiter that leaves gives its place back; nothing is granted to it later', async (t) => {
  const a = new Admission(10, 5_000, 'bytes');
  const first = await a.acquire(10);
  const gone = new AbortController();
  const leaving = a.acquire(10, gone.signal);
  const staying = a.acquire(4);
  gone.abort();
  await t.rejects(leaving, { code: 'SPW_ERR_OVERLOADED' });
  t.equal(a.queued, 1, 'only the staying request waits');
  first();
  const rel = await staying;
  t.equal(a.inFlight, 4, 'the units went to the request that stayed, none to the one that left');
  rel();
  t.equal(a.inFlight, 0, 'nothing leaked');
  await t.rejects(a.acquire(1, gone.signal), { code: 'SPW_ERR_OVERLOADED' }, 'an already aborted request is not queued');
});
