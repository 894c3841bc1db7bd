// The status model behind `/`, `/api/v1/status` and the per-node gauges: what each node owes,
// how fast it is catching up, and what ingest refused. Everything is read from the spools and
// senders at request time; the only state kept here is a short history for rates.

import type { Lifecycle } from './lifecycle.js';
import type { Metrics, NodeObservation } from './metrics.js';
import type { NodeStatus, StatusDoc } from './routes.js';

/** What status needs of a node's spool and sender. */
export interface ObservedNode {
  id: string;
  spoolStats(): Omit<NodeObservation, 'node' | 'up' | 'replicationDebtSamples'>;
  sender(): { state: NodeStatus['state']; lastError: string; sentSamples: number; sentRecords: number; failedAttempts: number; rejectedRecords: number };
}

const RATE_WINDOW_MS = 30_000;

/** Per-key rate of a growing counter over the last RATE_WINDOW_MS. */
export class RateTracker {
  private readonly points = new Map<string, { t: number; v: number }[]>();

  observe(key: string, value: number, now = Date.now()): number {
    let pts = this.points.get(key);
    if (!pts) this.points.set(key, (pts = []));
    pts.push({ t: now, v: value });
    while (pts.length > 2 && now - pts[1]!.t > RATE_WINDOW_MS) pts.shift();
    const first = pts[0]!;
    const dt = (now - first.t) / 1000;
    return dt > 0.5 ? Math.max(0, (value - first.v) / dt) : 0;
  }
}

export class StatusModel {
  private readonly rates = new RateTracker();

  constructor(
    private readonly version: string,
    private readonly replicationFactor: number,
    private readonly lifecycle: Lifecycle,
    private readonly metrics: Metrics,
    private readonly nodes: () => readonly ObservedNode[],
  ) {}

  /** Spool figures per node plus replication debt, for the gauges and the status page. */
  observations(): NodeObservation[] {
    const nodes = this.nodes();
    const obs = nodes.map((n) => ({ node: n.id, ...n.spoolStats(), up: n.sender().state !== 'down' && n.sender().state !== 'read-only', replicationDebtSamples: 0 }));
    if (this.replicationFactor > 1 && obs.length > 1) {
      // The replica furthest ahead owes the least; every other node is behind it by the
      // difference. With rf < nodes the nodes hold different series, so this is an estimate.
      const ahead = Math.min(...obs.map((o) => o.pendingSamples));
      for (const o of obs) o.replicationDebtSamples = o.pendingSamples - ahead;
    }
    return obs;
  }

  async doc(): Promise<StatusDoc> {
    const now = Date.now();
    const failures = await this.byLabels('spillway_node_send_failures_total', 'node', 'reason');
    const accepted = sum(await this.byLabel('spillway_ingest_samples_total', 'protocol'));
    const nodes = this.nodes();
    const obs = this.observations();
    return {
      version: this.version,
      phase: this.lifecycle.current,
      uptimeSeconds: (now - this.lifecycle.startedAt) / 1000,
      replicationFactor: this.replicationFactor,
      ingest: {
        acceptedSamples: accepted,
        acceptedSamplesPerSecond: round(this.rates.observe('ingest', accepted, now)),
        rejectedRequests: await this.byLabel('spillway_ingest_rejected_requests_total', 'reason'),
        droppedSeries: await this.byLabel('spillway_ingest_dropped_series_total', 'reason'),
      },
      nodes: nodes.map((n, i) => {
        const o = obs[i]!;
        const snap = n.sender();
        const rate = this.rates.observe(`sent:${n.id}`, snap.sentSamples, now);
        return {
          node: n.id,
          state: snap.state,
          lastError: snap.lastError,
          pendingBytes: o.pendingBytes,
          pendingRecords: o.pendingRecords,
          pendingSamples: o.pendingSamples,
          oldestUnsentAgeSeconds: o.oldestAppendedAt > 0 ? round(Math.max(0, (now - o.oldestAppendedAt) / 1000)) : 0,
          diskBytes: o.diskBytes,
          sentSamples: snap.sentSamples,
          sentRecords: snap.sentRecords,
          sentSamplesPerSecond: round(rate),
          // Only meaningful while a backlog drains faster than it grows.
          drainEtaSeconds: o.pendingSamples > 0 && rate > 0 ? round(o.pendingSamples / rate) : null,
          failedAttempts: snap.failedAttempts,
          failuresByReason: failures.get(n.id) ?? {},
          rejectedRecords: snap.rejectedRecords,
          droppedSamples: o.droppedSamples,
          replicationDebtSamples: o.replicationDebtSamples,
        };
      }),
    };
  }

  private async byLabel(name: string, label: string): Promise<Record<string, number>> {
    const out: Record<string, number> = {};
    const m = await this.metrics.registry.getSingleMetric(name)?.get();
    for (const v of m?.values ?? []) {
      const k = String(v.labels[label] ?? '');
      out[k] = (out[k] ?? 0) + v.value;
    }
    return out;
  }

  private async byLabels(name: string, outer: string, inner: string): Promise<Map<string, Record<string, number>>> {
    const out = new Map<string, Record<string, number>>();
    const m = await this.metrics.registry.getSingleMetric(name)?.get();
    for (const v of m?.values ?? []) {
      const o = String(v.labels[outer] ?? '');
      const k = String(v.labels[inner] ?? '');
      const rec = out.get(o) ?? {};
      rec[k] = (rec[k] ?? 0) + v.value;
      out.set(o, rec);
    }
    return out;
  }
}

const sum = (r: Record<string, number>) => Object.values(r).reduce((a, b) => a + b, 0);
const round = (n: number) => Math.round(n * 10) / 10;
