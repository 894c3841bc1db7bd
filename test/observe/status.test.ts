import t from 'tap';
import { Lifecycle } from '../../src/observe/lifecycle.js';
import { Metrics } from '../../src/observe/metrics.js';
import { RateTracker, StatusModel, type ObservedNode } from '../../src/observe/status.js';

function node(id: string, pendingSamples: number, sent: { n: number }, state: 'up' | 'down' = 'up'): ObservedNode {
  return {
    id,
    spoolStats: () => ({ pendingBytes: pendingSamples * 10, pendingRecords: pendingSamples > 0 ? 1 : 0, pendingSamples, oldestAppendedAt: pendingSamples > 0 ? Date.now() - 5000 : 0, diskBytes: 0, droppedRecords: 0, droppedSamples: 0 }),
    sender: () => ({ state, lastError: state === 'down' ? 'HTTP 503' : '', sentSamples: sent.n, sentRecords: 1, failedAttempts: 0, rejectedRecords: 0 }),
  };
}

t.test('replication debt: how far each node is behind the replica furthest ahead', async (t) => {
  const sent = { n: 0 };
  const nodes = [node('a', 100, sent, 'down'), node('b', 0, sent), node('c', 30, sent)];
  const metrics = new Metrics();
  const m = new StatusModel('x', 2, new Lifecycle(), metrics, () => nodes);
  t.same(m.observations().map((o) => [o.node, o.replicationDebtSamples, o.up]), [['a', 100, false], ['b', 0, true], ['c', 30, true]]);
  const single = new StatusModel('x', 1, new Lifecycle(), metrics, () => nodes);
  t.ok(single.observations().every((o) => o.replicationDebtSamples === 0), 'no debt with one copy');
  metrics.nodeSendFailures.inc({ node: 'a', reason: '503' }, 3);
  const doc = await m.doc();
  t.same(doc.nodes[0]!.failuresByReason, { '503': 3 });
  t.equal(doc.nodes[1]!.drainEtaSeconds, null, 'nothing pending, no ETA');
  t.ok(doc.nodes[0]!.oldestUnsentAgeSeconds >= 4.9);
});

t.test('rates over a sliding window, and a drain ETA from them', async (t) => {
  const r = new RateTracker();
  t.equal(r.observe('k', 0, 0), 0);
  t.equal(r.observe('k', 1000, 1000), 1000);
  t.equal(r.observe('k', 3000, 2000), 1500);
  t.equal(r.observe('k', 3000, 100_000), 0, 'old points fall out of the window');
});
