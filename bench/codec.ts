// Ingest codec micro-benchmark: snappy, the range decoder, and the decode → copy → compress
// split that routing does, against protobufjs decoding to objects.
//
//   npx tsx bench/codec.ts [series=2000] [rounds=7] [roundMs=300]
//   CODEC_BENCH_ONLY=<regex> npx tsx bench/codec.ts   (a subset of the candidates)
//
// Candidates run interleaved (rotating order) for several rounds after a warm-up, yielding to
// the event loop between operations as a server does between requests (PERF-NOTES Pitfalls 1:
// without that, napi-rs buffers are finalised late and the numbers are wrong). Reported per
// candidate: CPU µs per request, MB/s of uncompressed protobuf and M samples per CPU-second
// (process.cpuUsage, which includes GC helper threads), median and best round. Never asserts.
import v8 from 'node:v8';
import vm from 'node:vm';
import { fleetRequests } from './lib/fleet.js';
import { PrwDecoder } from '../src/protocol/prw/decode.js';
import { SERIES_STRIDE, S_DROP, S_END, S_START } from '../src/protocol/prw/types.js';
import { snappyAvailable, snappyCompress, snappyImplementation, snappyUncompress, type SnappyImplementation } from '../src/protocol/snappy.js';
import { WriteRequest } from '../test/helpers/prw-reference.js';

const SERIES = Number(process.argv[2] ?? 2000);
const ROUNDS = Number(process.argv[3] ?? 7);
const ROUND_MS = Number(process.argv[4] ?? 300);
const MAX = 64 * 1024 * 1024;

const requests = fleetRequests({ seriesPerRequest: SERIES, requests: 8 });
const rawBytes = requests.reduce((n, r) => n + r.raw.length, 0) / requests.length;
const bodyBytes = requests.reduce((n, r) => n + r.body.length, 0) / requests.length;

const decoder = new PrwDecoder({ maxLabelsPerTimeseries: 40, maxLabelNameLen: 256, maxLabelValueLen: 4096 });
let arena = Buffer.allocUnsafe(2 * 1024 * 1024);
let sink = 0; // keeps results observable so nothing is optimised away

/** What routing does with a decoded request for one node: copy every kept series range, compress. */
function copyAndCompress(raw: Buffer, impl: SnappyImplementation): void {
  const v = decoder.decode(raw);
  if (arena.length < raw.length) arena = Buffer.allocUnsafe(raw.length * 2);
  let o = 0;
  const s = v.series;
  for (let i = 0; i < v.seriesCount; i++) {
    const si = i * SERIES_STRIDE;
    if (s[si + S_DROP] !== 0) continue;
    o += raw.copy(arena, o, s[si + S_START]!, s[si + S_END]!);
  }
  sink += snappyCompress(arena.subarray(0, o), impl).length;
}

interface Candidate {
  name: string;
  op: (i: number) => void;
}

const candidates: Candidate[] = [];
for (const impl of snappyAvailable) {
  candidates.push({ name: `snappy uncompress (${impl})`, op: (i) => (sink += snappyUncompress(requests[i]!.body, MAX, impl).length) });
}
candidates.push({ name: 'decode (ranges)', op: (i) => (sink += decoder.decode(requests[i]!.raw).seriesCount) });
candidates.push({ name: `decode + copy + compress (${snappyImplementation})`, op: (i) => copyAndCompress(requests[i]!.raw, snappyImplementation) });
candidates.push({
  name: `uncompress + decode + copy + compress (${snappyImplementation})`,
  op: (i) => copyAndCompress(snappyUncompress(requests[i]!.body, MAX), snappyImplementation),
});
candidates.push({ name: 'protobufjs decode (objects)', op: (i) => (sink += (WriteRequest.decode(requests[i]!.raw) as unknown as { timeseries: unknown[] }).timeseries.length) });

// A full GC before each measured round, so garbage one candidate leaves (protobufjs objects,
// napi buffers awaiting finalisers) is not charged to the next one.
v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc') as () => void;

// CODEC_BENCH_ONLY=<regex> keeps only the matching candidates.
if (process.env.CODEC_BENCH_ONLY) {
  const re = new RegExp(process.env.CODEC_BENCH_ONLY);
  candidates.splice(0, candidates.length, ...candidates.filter((c) => re.test(c.name)));
}

const immediate = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

interface Round {
  ops: number;
  cpuUs: number;
  wallUs: number;
  /** RSS at the end of the round: what this candidate leaves resident (napi buffers, garbage). */
  rss: number;
}

async function runFor(c: Candidate, ms: number): Promise<Round> {
  gc();
  await immediate();
  let ops = 0;
  const cpu0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  const deadline = t0 + BigInt(ms) * 1_000_000n;
  let now = t0;
  while (now < deadline) {
    c.op(ops % requests.length);
    ops++;
    await immediate();
    now = process.hrtime.bigint();
  }
  const cpu = process.cpuUsage(cpu0);
  return { ops, cpuUs: cpu.user + cpu.system, wallUs: Number(now - t0) / 1000, rss: process.memoryUsage.rss() };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

async function main(): Promise<void> {
  console.log(`spillway codec bench: node ${process.version}, snappy implementation: ${snappyImplementation} (available: ${snappyAvailable.join(', ')})`);
  console.log(
    `requests: ${SERIES} series × 1 sample, raw ${(rawBytes / 1024).toFixed(0)} KiB (${(rawBytes / SERIES).toFixed(0)} B/series), ` +
      `snappy ${(bodyBytes / 1024).toFixed(1)} KiB (ratio ${(rawBytes / bodyBytes).toFixed(1)}); ${ROUNDS} rounds × ${ROUND_MS} ms per candidate`,
  );

  const rssSetup = process.memoryUsage.rss();
  for (const c of candidates) await runFor(c, 200); // warm-up: JIT, arena growth, allocator

  const results = new Map<string, Round[]>(candidates.map((c) => [c.name, []]));
  for (let r = 0; r < ROUNDS; r++) {
    for (let k = 0; k < candidates.length; k++) {
      const c = candidates[(k + r) % candidates.length]!;
      results.get(c.name)!.push(await runFor(c, ROUND_MS));
    }
  }

  const rows = candidates.map((c) => {
    const rs = results.get(c.name)!;
    const cpuPerOp = rs.map((x) => x.cpuUs / x.ops);
    const wallPerOp = rs.map((x) => x.wallUs / x.ops);
    const mbps = cpuPerOp.map((us) => rawBytes / us); // bytes per µs = MB/s
    const msps = cpuPerOp.map((us) => SERIES / us); // samples per µs = M samples/s
    return {
      candidate: c.name,
      'cpu µs/op (med)': median(cpuPerOp).toFixed(0),
      'wall µs/op (med)': median(wallPerOp).toFixed(0),
      'MB/s cpu (med)': median(mbps).toFixed(0),
      'MB/s cpu (best)': Math.max(...mbps).toFixed(0),
      'M samples/cpu-s (med)': median(msps).toFixed(2),
      'M samples/cpu-s (best)': Math.max(...msps).toFixed(2),
      spread: `${(((Math.max(...cpuPerOp) - Math.min(...cpuPerOp)) / median(cpuPerOp)) * 100).toFixed(0)}%`,
      'RSS MiB (max)': (Math.max(...rs.map((x) => x.rss)) / 2 ** 20).toFixed(0),
    };
  });
  console.table(rows);
  const ru = process.resourceUsage();
  console.log(
    `peak RSS: ${(ru.maxRSS / 1024).toFixed(0)} MiB (after setup: ${(rssSetup / 2 ** 20).toFixed(0)} MiB). ` +
      `MB/s = uncompressed protobuf per CPU-second; M samples/cpu-s = ${SERIES} samples per op / CPU time. (sink ${sink % 10})`,
  );
}

await main();
