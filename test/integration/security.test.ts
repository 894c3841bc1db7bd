// TLS on the listener with a certificate made here, and credentials to a downstream node that
// reach the node but never the logs, /metrics or the status page.

import t from 'tap';
import { execFileSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { request } from 'node:https';
import { readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Sink } from '../helpers/sink.js';
import { REPO_ROOT } from './helpers/peers.js';
import { freePort } from './helpers/ports.js';
import { sleep, startProc } from './helpers/procs.js';
import { writeRequestBody } from './helpers/prw.js';
import { SPILLWAY_MAIN } from './helpers/spillway.js';

function https(url: string, ca: Buffer, method = 'GET', body?: Buffer): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method, ca, headers: body ? { 'content-encoding': 'snappy', 'content-type': 'application/x-protobuf' } : {} }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString() }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

t.test('HTTPS listener with a self-signed certificate; downstream credentials never shown', async (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'spw-tls-'));
  const cert = path.join(dir, 'cert.pem');
  const key = path.join(dir, 'key.pem');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1', '-days', '1', '-keyout', key, '-out', cert], { stdio: 'ignore' });
  const ca = readFileSync(cert);

  const sink = await new Sink().start();
  t.teardown(() => sink.stop());
  sink.script.push({ status: 503 }, { status: 503 }); // so the sender logs about the node
  const nodeUrl = sink.url.replace('http://', 'http://pmm-admin:hunter2@') + '/api/v1/write';
  const port = await freePort();
  const proc = startProc({
    name: 'spillway-tls',
    cmd: process.execPath,
    args: ['--import', 'tsx', SPILLWAY_MAIN, `-httpListenAddr=127.0.0.1:${port}`, `-spool.path=${path.join(dir, 'spool')}`, `-remoteWrite.url=${nodeUrl}`, '-tls', `-tlsCertFile=${cert}`, `-tlsKeyFile=${key}`, '-remoteWrite.retryMinInterval=50ms'],
    cwd: REPO_ROOT,
    maxLifetimeMs: 60_000,
    t,
  });
  const base = `https://127.0.0.1:${port}`;
  for (let i = 0; ; i++) {
    const ok = await https(`${base}/-/ready`, ca).then((r) => r.status === 200, () => false);
    if (ok) break;
    if (i > 200 || proc.exitInfo) throw new Error(`not ready over https:\n${proc.output()}`);
    await sleep(100);
  }
  const res = await https(`${base}/api/v1/write`, ca, 'POST', writeRequestBody([{ labels: [['__name__', 'tls_test']], samples: [{ value: 1, timestamp: Date.now() }] }]));
  t.equal(res.status, 204, 'a write over TLS is accepted');
  for (let i = 0; i < 100 && sink.received.length === 0; i++) await sleep(50);
  t.equal(sink.received.length, 1, 'delivered');
  t.equal(sink.received[0]!.headers.authorization, 'Basic ' + Buffer.from('pmm-admin:hunter2').toString('base64'), 'the node gets its credentials');

  const metrics = (await https(`${base}/metrics`, ca)).text;
  const status = (await https(`${base}/api/v1/status`, ca)).text;
  const page = (await https(`${base}/`, ca)).text;
  t.match(metrics, /spillway_node_sent_records_total\{node="http:\/\/pmm-admin:\*\*\*@/);
  for (const [name, text] of [['metrics', metrics], ['status', status], ['page', page], ['log', proc.output()]] as const) {
    t.notMatch(text, /hunter2/, `${name} never shows the password`);
  }
  t.match(proc.output(), /pmm-admin:\*\*\*@/, 'the log names the node, redacted');
});
