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
