// The driver's side of the generator worker: bodies per lane, a few prefetched.
import { Worker } from 'node:worker_threads';
import type { GeneratorOptions } from '../fleet/generator.js';
import type { FromWorker, ToWorker } from './gen-worker.js';

export interface Body {
  lane: number;
  body: Buffer;
  rawBytes: number;
  samples: number;
  pairs: Int32Array;
  maxId: number;
}

export interface GeneratorInfo {
  lanes: number;
  hosts: number;
  meanBodySamples: number;
  meanSeriesBytes: number;
  series: number;
}

const PREFETCH = 2;
const TSX_API = import.meta.resolve('tsx/esm/api');
const WORKER_URL = new URL('./gen-worker.ts', import.meta.url).href;

export class GeneratorClient {
  readonly #worker: Worker;
  readonly #ready: Body[][] = [];
  readonly #waiting: ((b: Body) => void)[][] = [];
  #failed: Error | null = null;
  #rejects = new Set<(e: Error) => void>();
  info!: GeneratorInfo;
  churned = 0;
  maxId = 0;

  private constructor(opts: GeneratorOptions) {
    // Loader hooks are per thread in Node 20 and a worker's entry is resolved before its
    // --import runs, so a tiny JS entry registers tsx and then imports the TypeScript.
    const entry = `import(${JSON.stringify(TSX_API)}).then((m) => { m.register(); return import(${JSON.stringify(WORKER_URL)}); });`;
    this.#worker = new Worker(entry, { eval: true, workerData: opts });
    this.#worker.unref();
  }

  static async start(opts: GeneratorOptions): Promise<GeneratorClient> {
    const c = new GeneratorClient(opts);
    c.info = await new Promise<GeneratorInfo>((resolve, reject) => {
      c.#worker.once('error', reject);
      c.#worker.on('message', (m: FromWorker) => {
        if (m.type === 'ready') {
          const { type: _t, ...info } = m;
          resolve(info);
          return;
        }
        c.#onMessage(m);
      });
      c.#worker.once('exit', (code) => reject(new Error(`generator worker exited with code ${code} before it was ready`)));
    });
    c.#worker.on('error', (err) => c.#fail(err));
    for (let l = 0; l < c.info.lanes; l++) {
      c.#ready.push([]);
      c.#waiting.push([]);
      for (let i = 0; i < PREFETCH; i++) c.#post({ type: 'want', lane: l });
    }
    return c;
  }

  #post(m: ToWorker): void {
    this.#worker.postMessage(m);
  }

  #fail(err: Error): void {
    this.#failed ??= err;
    for (const r of this.#rejects) r(err);
    this.#rejects.clear();
  }

  #onMessage(m: FromWorker): void {
    if (m.type === 'error') return this.#fail(new Error(`generator: ${m.message}`));
    if (m.type !== 'body') return;
    this.churned = m.churned;
    this.maxId = Math.max(this.maxId, m.maxId);
    const b: Body = { lane: m.lane, body: Buffer.from(m.body.buffer, m.body.byteOffset, m.body.byteLength), rawBytes: m.rawBytes, samples: m.samples, pairs: m.pairs, maxId: m.maxId };
    const w = this.#waiting[m.lane]!.shift();
    if (w) w(b);
    else this.#ready[m.lane]!.push(b);
  }

  /** The next body of a lane (the worker then builds one more for it). */
  next(lane: number): Promise<Body> {
    if (this.#failed) return Promise.reject(this.#failed);
    this.#post({ type: 'want', lane });
    const b = this.#ready[lane]!.shift();
    if (b) return Promise.resolve(b);
    return new Promise<Body>((resolve, reject) => {
      this.#rejects.add(reject);
      this.#waiting[lane]!.push((body) => {
        this.#rejects.delete(reject);
        resolve(body);
      });
    });
  }

  async close(): Promise<void> {
    await this.#worker.terminate();
  }
}
