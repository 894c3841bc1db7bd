// A decode worker (prepare-pool.ts): prepares the write requests it is sent and returns each
// node's record. One request per turn of the event loop: the buffers of the native snappy
// decoder are freed by finalizers that only run between turns, so draining the whole queue
// in one callback grows memory and slows every request (PERF-NOTES, pitfall 1).

import { parentPort, workerData } from 'node:worker_threads';
import { isSpillwayError } from '../errors.js';
import { Ring } from '../route/ring.js';
import { WritePreparer, emptyCounts, type Routing } from './prepare.js';
import type { FromWorker, ToWorker, WorkerInit } from './prepare-pool.js';

const port = parentPort!;
const init = workerData as WorkerInit;
const preparer = new WritePreparer(init.limits, init.maxInsertRequestSize);
let routing: Omit<Routing, 'exclude'> | undefined;
/** Jobs and routing changes in the order they were sent: a job uses the routing sent before it. */
const queue: ToWorker[] = [];
let scheduled = false;

port.postMessage({ ready: true } satisfies FromWorker);

port.on('message', (m: ToWorker) => {
  queue.push(m);
  if (!scheduled) {
    scheduled = true;
    setImmediate(next);
  }
});

function next(): void {
  scheduled = false;
  const m = queue.shift();
  if (m === undefined) return;
  if (m.type === 'routing') routing = { ring: new Ring([...m.nodeIds]), replicationFactor: m.replicationFactor, nodeKinds: m.nodeKinds };
  else run(m);
  if (queue.length > 0) {
    scheduled = true;
    setImmediate(next);
  }
}

function run(job: Extract<ToWorker, { type: 'job' }>): void {
  const counts = emptyCounts();
  let out: FromWorker;
  const transfer: ArrayBuffer[] = [];
  try {
    if (routing === undefined) throw new Error('no routing received before a job');
    const body = Buffer.from(job.body.buffer, job.body.byteOffset, job.body.byteLength);
    const input = { body, encoding: job.encoding, format: job.format, ...(job.receivedAtMs === undefined ? {} : { receivedAtMs: job.receivedAtMs }) };
    const prepared = preparer.prepare(job.tenant, input, { ...routing, exclude: job.exclude }, counts);
    for (const r of prepared.records) {
      // Hand the bytes over instead of copying them, when the record owns its whole buffer.
      const d = r.rec.data;
      const own = d.byteOffset === 0 && d.byteLength === d.buffer.byteLength && d.buffer instanceof ArrayBuffer;
      // (A copy gets a buffer of its own: Buffer.from would take a slice of Node's shared pool.)
      const data = own ? d : new Uint8Array(d);
      r.rec.data = data as Buffer;
      transfer.push(data.buffer as ArrayBuffer);
    }
    out = { id: job.id, ok: true, prepared };
  } catch (err) {
    if (!isSpillwayError(err)) throw err; // a bug: the worker dies, the pool answers 500 and replaces it
    out = { id: job.id, ok: false, error: { code: err.code, ...(err.detail === undefined ? {} : { detail: err.detail }), ...(err.retryAfter === undefined ? {} : { retryAfter: err.retryAfter }) }, counts };
  }
  try {
    port.postMessage(out, transfer);
  } catch {
    // A buffer that cannot be handed over (native memory): send copies instead.
    port.postMessage(out);
  }
}
