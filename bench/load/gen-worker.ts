// Worker thread that runs a FleetGenerator, so building and compressing bodies never holds up
// the driver's event loop (and its latency measurements). One body per macrotask: napi-rs
// snappy frees its buffers in finalizers that only run when the loop turns (PERF-NOTES,
// Pitfalls 1).
import { parentPort, workerData } from 'node:worker_threads';
import { FleetGenerator, type GeneratorOptions } from '../fleet/generator.js';

export type ToWorker = { type: 'want'; lane: number } | { type: 'stop' };
export type FromWorker =
  | { type: 'ready'; lanes: number; hosts: number; meanBodySamples: number; meanSeriesBytes: number; series: number }
  | { type: 'body'; lane: number; body: Uint8Array; rawBytes: number; samples: number; pairs: Int32Array; maxId: number; churned: number }
  | { type: 'error'; message: string };

const port = parentPort!;
let gen: FleetGenerator;
try {
  gen = new FleetGenerator(workerData as GeneratorOptions);
  port.postMessage({ type: 'ready', lanes: gen.laneCount, hosts: gen.fleet.hosts.length, meanBodySamples: gen.meanBodySamples, meanSeriesBytes: gen.meanSeriesBytes, series: gen.maxId } satisfies FromWorker);
} catch (err) {
  port.postMessage({ type: 'error', message: (err as Error).message } satisfies FromWorker);
  process.exit(1);
}

const queue: number[] = [];
let scheduled = false;
const work = () => {
  scheduled = false;
  const lane = queue.shift();
  if (lane === undefined) return;
  try {
    const b = gen.next(lane);
    const msg: FromWorker = { type: 'body', lane, body: b.body, rawBytes: b.rawBytes, samples: b.samples, pairs: b.pairs.slice(), maxId: b.maxId, churned: gen.churned };
    port.postMessage(msg);
  } catch (err) {
    port.postMessage({ type: 'error', message: (err as Error).message } satisfies FromWorker);
  }
  if (queue.length > 0 && !scheduled) {
    scheduled = true;
    setImmediate(work);
  }
};
port.on('message', (m: ToWorker) => {
  if (m.type === 'stop') {
    port.close();
    return;
  }
  queue.push(m.lane);
  if (!scheduled) {
    scheduled = true;
    setImmediate(work);
  }
});
