// The status page at `/`: one self-contained HTML document (no external assets, so it works
// behind any proxy and on a phone), refreshed by the browser every few seconds.

import type { StatusDoc } from './routes.js';

const esc = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

function bytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) {
    n /= 1024;
    i++;
  }
  return `${i === 0 ? n : n.toFixed(1)} ${units[i]}`;
}

function duration(s: number | null): string {
  if (s === null) return '–';
  if (s < 90) return `${s.toFixed(0)} s`;
  if (s < 5400) return `${(s / 60).toFixed(0)} min`;
  return `${(s / 3600).toFixed(1)} h`;
}

const cell = (key: string, text: string | number) => `<td data-k="${key}">${typeof text === 'number' ? text : esc(text)}</td>`;
const list = (r: Record<string, number>) =>
  Object.entries(r)
    .map(([k, v]) => `${esc(k)}: ${v}`)
    .join(', ') || 'none';

export function renderStatusPage(s: StatusDoc): string {
  const rows = s.nodes
    .map(
      (n) =>
        `<tr class="${n.state}"><td class="node">${esc(n.node)}</td>` +
        cell('state', n.state) +
        cell('pendingBytes', bytes(n.pendingBytes)) +
        cell('pendingRecords', n.pendingRecords) +
        cell('pendingSamples', n.pendingSamples) +
        cell('lag', duration(n.oldestUnsentAgeSeconds)) +
        cell('sentSamplesPerSecond', n.sentSamplesPerSecond) +
        cell('drainEta', duration(n.drainEtaSeconds)) +
        cell('replicationDebtSamples', n.replicationDebtSamples) +
        cell('sentSamples', n.sentSamples) +
        `<td data-k="failures" class="err">${list(n.failuresByReason)}</td>` +
        cell('rejectedRecords', n.rejectedRecords) +
        `<td class="err">${esc(n.lastError)}</td></tr>`,
    )
    .join('\n');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="refresh" content="5">
<title>Spillway status</title>
<style>
body{font:14px/1.4 system-ui,sans-serif;margin:1rem;color:#222}
.wrap{overflow-x:auto}
table{border-collapse:collapse;min-width:100%}
th,td{padding:.3rem .5rem;border-bottom:1px solid #ddd;text-align:right;white-space:nowrap}
td.node,th.node,td.err{text-align:left}
tr.down td,tr.read-only td{background:#fde8e8}tr.replaying td{background:#fff6da}
.muted{color:#777}
</style></head><body>
<h1>Spillway <span class="muted">${esc(s.version)}</span></h1>
<p>Phase <b id="phase">${esc(s.phase)}</b> · up ${duration(s.uptimeSeconds)} · replication factor ${s.replicationFactor}</p>
<p>Accepted samples: <b id="accepted">${s.ingest.acceptedSamples}</b> (<span id="acceptedRate">${s.ingest.acceptedSamplesPerSecond}</span>/s)
 · rejected requests: <span id="rejects">${list(s.ingest.rejectedRequests)}</span> · dropped series: <span id="drops">${list(s.ingest.droppedSeries)}</span></p>
<div class="wrap"><table><thead><tr><th class="node">node</th><th>state</th><th>queue</th><th>records</th><th>samples</th><th>lag</th><th>sent/s</th><th>drain ETA</th><th>replication debt</th><th>sent samples</th><th class="node">failed sends</th><th>set aside</th><th class="node">last error</th></tr></thead>
<tbody>
${rows}
</tbody></table></div>
<p class="muted">A node that is down keeps its queue on disk and replays it, oldest first, when it returns. JSON: <a href="/api/v1/status">/api/v1/status</a> · metrics: <a href="/metrics">/metrics</a> · refreshes every 5 s</p>
</body></html>
`;
}
