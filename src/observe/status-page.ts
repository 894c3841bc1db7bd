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

export function renderStatusPage(s: StatusDoc): string {
  const rows = s.nodes
    .map(
      (n) => `<tr class="${n.state}"><td class="node">${esc(n.node)}</td><td data-k="state">${n.state}</td>` +
        `<td data-k="pendingBytes">${bytes(n.pendingBytes)}</td><td data-k="pendingRecords">${n.pendingRecords}</td>` +
        `<td data-k="pendingSamples">${n.pendingSamples}</td><td data-k="lag">${n.oldestUnsentAgeSeconds.toFixed(1)} s</td>` +
        `<td data-k="sentSamples">${n.sentSamples}</td><td data-k="failedAttempts">${n.failedAttempts}</td>` +
        `<td data-k="rejectedRecords">${n.rejectedRecords}</td><td class="err">${esc(n.lastError)}</td></tr>`,
    )
    .join('\n');
  const rejects = Object.entries(s.ingest.rejectedRequests)
    .map(([k, v]) => `${esc(k)}: ${v}`)
    .join(', ') || 'none';
  const drops = Object.entries(s.ingest.droppedSeries)
    .map(([k, v]) => `${esc(k)}: ${v}`)
    .join(', ') || 'none';
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="refresh" content="5">
<title>Spillway status</title>
<style>
body{font:14px/1.4 system-ui,sans-serif;margin:1rem;color:#222}
table{border-collapse:collapse;width:100%;overflow-x:auto;display:block}
th,td{padding:.3rem .5rem;border-bottom:1px solid #ddd;text-align:right;white-space:nowrap}
td.node,th.node,td.err{text-align:left}
tr.down td{background:#fde8e8}tr.replaying td{background:#fff6da}
.muted{color:#777}
</style></head><body>
<h1>Spillway <span class="muted">${esc(s.version)}</span></h1>
<p>Phase <b id="phase">${esc(s.phase)}</b> · up ${Math.round(s.uptimeSeconds)} s · replication factor ${s.replicationFactor}</p>
<p>Accepted samples: <b id="accepted">${s.ingest.acceptedSamples}</b> · rejected requests: ${rejects} · dropped series: ${drops}</p>
<table><thead><tr><th class="node">node</th><th>state</th><th>queue</th><th>records</th><th>samples</th><th>lag</th><th>sent samples</th><th>failed sends</th><th>set aside</th><th class="node">last error</th></tr></thead>
<tbody>
${rows}
</tbody></table>
<p class="muted">JSON: <a href="/api/v1/status">/api/v1/status</a> · metrics: <a href="/metrics">/metrics</a> · refreshes every 5 s</p>
</body></html>
`;
}
