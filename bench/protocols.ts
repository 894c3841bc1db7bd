// Ingest protocol costs per request: zstd vs snappy decompression, remote-write 2.0 → 1.0
// conversion, and the import parsers (JSON lines, Prometheus text), on PMM-like requests.
//
//   npx tsx bench/protocols.ts [series=2000] [rounds=7] [roundMs=300]
//   PROTOCOLS_BENCH_ONLY=<regex> npx tsx bench/protocols.ts   (a subset of the candidates)
//
// Same method as bench/codec.ts: candidates interleaved in rotating order after a warm-up,
// a full GC before each round, one yield to the event loop per operation (PERF-NOTES
// Pitfalls 1). Reported: CPU µs per request and M samples per CPU-second (process.cpuUsage),
// median and best round. Never asserts.
import v8 from 'node:v8';
import vm from 'node:vm';
import { fleetRequests } from './lib/fleet.js';
import { PrwDecoder, seriesToObject } from '../src/protocol/prw/decode.js';
import { snappyCompress, snappyImplementation, snappyUncompress } from '../src/protocol/snappy.js';
import { ZstdDecoder, zstdAvailable, zstdDecompress, zstdImplementation } from '../src/protocol/zstd.js';
import { Prw2Converter } from '../src/protocol/prw2/convert.js';
import { WriteRequestWriter } from '../src/protocol/import/writer.js';
import { parseJsonLines } from '../src/protocol/import/json-lines.js';
import { parsePrometheusText } from '../src/protocol/import/prometheus-text.js';
import { encodeV2, type RefV2Request } from '../test/protocol/prw2-reference.js';
import { nativeCompress } from '../test/protocol/zstd-frames.js';

const SERIES = Number(process.argv[2] ?? 2000);
const ROUNDS = Number(process.argv[3] ?? 7);
const ROUND_MS = Number(process.argv[4] ?? 300);
const MAX = 64 * 1024 * 1024;
const LIMITS = { maxLabelsPerTimeseries: 40, maxLabelNameLen: 256, maxLabelValueLen: 4096 };

const fleet = fleetRequests({ seriesPerRequest: SERIES, requests: 4 });
const decoder = new PrwDecoder(LIMITS);

// Every request in each form: snappy, zstd (level 1, as vmagent), 2.0, JSON lines, text.
interface Forms {
  raw: Buffer;
  snappy: Buffer;
  zstd?: Buffer;
  v2: Buffer;
  v2snappy: Buffer;
  json: Buffer;
  text: Buffer;
  samples: number;
}
const compress = nativeCompress();
const forms: Forms[] = fleet.map((r) => {
  const view = decoder.decode(r.raw);
  const symbols = new Map<string, number>([['', 0]]);
  const ref = (x: string) => {
    let i = symbols.get(x);
    if (i === undefined) symbols.set(x, (i = symbols.size));
    return i;
  };
  const v2: RefV2Request = { symbols: [], timeseries: [] };
  const json: string[] = [];
  const text: string[] = [];
  for (let i = 0; i < view.seriesCount; i++) {
    const o = seriesToObject(view, i);
    v2.timeseries.push({ labels_refs: o.labels.flatMap(([n, v]) => [ref(n), ref(v)]), samples: o.samples.map(([value, timestamp]) => ({ value, timestamp })) });
    json.push(JSON.stringify({ metric: Object.fromEntries(o.labels), values: o.samples.map(([v]) => v), timestamps: o.samples.map(([, ts]) => ts) }));
    const name = o.labels.find(([n]) => n === '__name__')?.[1] ?? '';
    const rest = o.labels.filter(([n]) => n !== '__name__').map(([n, v]) => `${n}="${v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')}"`);
    for (const [v, ts] of o.samples) text.push(`${name}{${rest.join(',')}} ${v} ${ts}`);
  }
  v2.symbols = [...symbols.keys()].map((x) => Buffer.from(x));
  const v2buf = encodeV2(v2);
  return {
    raw: r.raw,
    snappy: r.body,
    ...(compress ? { zstd: compress(r.raw, 1) } : {}),
    v2: v2buf,
    v2snappy: snappyCompress(v2buf),
    json: Buffer.from(json.join('\n')),
    text: Buffer.from(text.join('\n')),
    samples: r.samples,
  };
});
const avg = (f: (x: Forms) => number) => forms.reduce((n, x) => n + f(x), 0) / forms.length;

let sink = 0;
interface Candidate {
  name: string;
  op: (x: Forms) => void;
}
const candidates: Candidate[] = [];
candidates.push({ name: `snappy uncompress (${snappyImplementation})`, op: (x) => (sink += snappyUncompress(x.snappy, MAX).length) });
if (forms[0]!.zstd) {
  for (const impl of zstdAvailable) candidates.push({ name: `zstd decompress (${impl})`, op: (x) => (sink += zstdDecompress(x.zstd!, MAX, impl).length) });
  for (const impl of zstdAvailable) {
    const d = new ZstdDecoder(impl);
    candidates.push({ name: `zstd decompress, reused output (${impl})`, op: (x) => (sink += d.decompress(x.zstd!, MAX).length) });
  }
}
candidates.push({ name: 'decode 1.0 (ranges)', op: (x) => (sink += decoder.decode(x.raw).seriesCount) });
const conv = new Prw2Converter({ maxOutputBytes: MAX });
candidates.push({ name: 'prw2 → 1.0 convert', op: (x) => (sink += conv.convert(x.v2).length) });
candidates.push({ name: 'prw2 snappy → convert → decode', op: (x) => (sink += decoder.decode(conv.convert(snappyUncompress(x.v2snappy, MAX))).seriesCount) });
if (forms[0]!.zstd) {
  const d = new ZstdDecoder();
  candidates.push({ name: `zstd (reused output) → decode (${zstdImplementation})`, op: (x) => (sink += decoder.decode(d.decompress(x.zstd!, MAX)).seriesCount) });
}
candidates.push({ name: 'snappy → decode', op: (x) => (sink += decoder.decode(snappyUncompress(x.snappy, MAX)).seriesCount) });
const writer = new WriteRequestWriter(MAX);
candidates.push({
  name: 'import JSON lines → 1.0',
  op: (x) => {
    writer.begin(x.json);
    sink += parseJsonLines(x.json, writer).lines;
  },
});
candidates.push({
  name: 'import Prometheus text → 1.0',
  op: (x) => {
    writer.begin(x.text);
    sink += parsePrometheusText(x.text, writer, 0).lines;
  },
});

if (process.env.PROTOCOLS_BENCH_ONLY) {
  const re = new RegExp(process.env.PROTOCOLS_BENCH_ONLY);
  candidates.splice(0, candidates.length, ...candidates.filter((c) => re.test(c.name)));
}

v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc') as () => void;
const immediate = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

async function runFor(c: Candidate, ms: number): Promise<{ ops: number; cpuUs: number }> {
  gc();
  await immediate();
  let ops = 0;
  const cpu0 = process.cpuUsage();
  const deadline = process.hrtime.bigint() + BigInt(ms) * 1_000_000n;
  while (process.hrtime.bigint() < deadline) {
    c.op(forms[ops % forms.length]!);
    ops++;
    await immediate();
  }
  const cpu = process.cpuUsage(cpu0);
  return { ops, cpuUs: cpu.user + cpu.system };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

async function main(): Promise<void> {
  console.log(
    `spillway protocols bench: node ${process.version}, snappy ${snappyImplementation}, zstd ${zstdImplementation ?? 'none'} (available: ${zstdAvailable.join(', ') || 'none'})` +
      (forms[0]!.zstd ? '' : '; zstd-napi not installed, so no zstd bodies to decode'),
  );
  console.log(
    `requests: ${SERIES} series × 1 sample; 1.0 raw ${(avg((x) => x.raw.length) / 1024).toFixed(0)} KiB, snappy ${(avg((x) => x.snappy.length) / 1024).toFixed(1)} KiB` +
      (forms[0]!.zstd ? `, zstd-1 ${(avg((x) => x.zstd!.length) / 1024).toFixed(1)} KiB` : '') +
      `, 2.0 raw ${(avg((x) => x.v2.length) / 1024).toFixed(0)} KiB, JSON lines ${(avg((x) => x.json.length) / 1024).toFixed(0)} KiB, text ${(avg((x) => x.text.length) / 1024).toFixed(0)} KiB; ` +
      `${ROUNDS} rounds × ${ROUND_MS} ms per candidate`,
  );
  for (const c of candidates) await runFor(c, 200);
  const results = new Map<string, number[]>(candidates.map((c) => [c.name, []]));
  for (let r = 0; r < ROUNDS; r++) {
    for (let k = 0; k < candidates.length; k++) {
      const c = candidates[(k + r) % candidates.length]!;
      const { ops, cpuUs } = await runFor(c, ROUND_MS);
      results.get(c.name)!.push(cpuUs / ops);
    }
  }
  const samples = avg((x) => x.samples);
  console.table(
    candidates.map((c) => {
      const us = results.get(c.name)!;
      const msps = us.map((u) => samples / u);
      return {
        candidate: c.name,
        'cpu µs/req (med)': median(us).toFixed(0),
        'cpu µs/req (best)': Math.min(...us).toFixed(0),
        'M samples/cpu-s (med)': median(msps).toFixed(2),
        'M samples/cpu-s (best)': Math.max(...msps).toFixed(2),
        spread: `${(((Math.max(...us) - Math.min(...us)) / median(us)) * 100).toFixed(0)}%`,
      };
    }),
  );
  console.log(`M samples/cpu-s = ${samples} samples per request / CPU time (user + system). (sink ${sink % 10})`);
}

await main();
