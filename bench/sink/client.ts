// Start a sink process (server.ts) and talk to its control listener.
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePorts } from '../../test/integration/helpers/ports.js';
import { httpRequest, startProc, waitForHttp, type Proc } from '../../test/integration/helpers/procs.js';
import { cleanEnv } from '../harness/targets.js';
import type { VerifyResult } from './tracker.js';
import type { FailMode, SinkStats } from './server.js';

const SERVER = path.join(path.dirname(fileURLToPath(import.meta.url)), 'server.ts');

export interface Sink {
  name: string;
  proc: Proc;
  ports: number[];
  /** Remote-write URL of each listener (one per storage node). */
  urls: string[];
  stats(): Promise<SinkStats>;
  /** Make listener `index` fail in `mode` for `ms` (0: until told otherwise). */
  fail(index: number, mode: FailMode, ms?: number): Promise<void>;
  verify(ackedHi: Int32Array, excluded: Int32Array): Promise<VerifyResult>;
  stop(): Promise<void>;
}

export async function startSink(name: string, listeners: number, opts: { maxLifetimeMs: number; cpu?: string | null; nodeArgs?: string[] }): Promise<Sink> {
  const [control, ...ports] = await freePorts(listeners + 1);
  const args = [...(opts.nodeArgs ?? []), '--import', 'tsx', SERVER, JSON.stringify({ control, ports })];
  const proc = startProc({
    name: `sink-${name}`,
    env: cleanEnv(),
    cmd: opts.cpu ? 'taskset' : process.execPath,
    args: opts.cpu ? ['-c', opts.cpu, process.execPath, ...args] : args,
    maxLifetimeMs: opts.maxLifetimeMs,
  });
  const base = `http://127.0.0.1:${control}`;
  await waitForHttp(`${base}/stats`, { proc, timeoutMs: 20_000 });
  const post = async (p: string, body: Buffer | string) => {
    const res = await httpRequest(`${base}${p}`, { method: 'POST', body, timeoutMs: 30_000 });
    if (res.status !== 200) throw new Error(`sink ${name} ${p}: HTTP ${res.status} ${res.body.toString('utf8').slice(0, 200)}`);
    return JSON.parse(res.body.toString('utf8')) as unknown;
  };
  return {
    name,
    proc,
    ports: ports!,
    urls: ports!.map((p) => `http://127.0.0.1:${p}/api/v1/write`),
    async stats() {
      const res = await httpRequest(`${base}/stats`, { timeoutMs: 10_000 });
      return JSON.parse(res.body.toString('utf8')) as SinkStats;
    },
    async fail(index, mode, ms = 0) {
      await post('/fail', JSON.stringify({ port: ports[index], mode, ms }));
    },
    async verify(ackedHi, excluded) {
      const body = Buffer.alloc((ackedHi.length + excluded.length) * 4);
      Buffer.from(ackedHi.buffer, ackedHi.byteOffset, ackedHi.byteLength).copy(body, 0);
      Buffer.from(excluded.buffer, excluded.byteOffset, excluded.byteLength).copy(body, ackedHi.byteLength);
      return (await post(`/verify?n=${ackedHi.length}`, body)) as VerifyResult;
    },
    stop: () => proc.stop(3_000).then(() => undefined),
  };
}
