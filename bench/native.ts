// vmstorage native encoding: MetricRow throughput from decoded PMM-like remote-write requests,
// and what the rows cost on the wire next to the snappy remote-write body they came from.
//
//   npx tsx bench/native.ts [seriesPerRequest=2000] [requests=8] [rounds=7]
//
// Prints M samples per CPU-second (process.cpuUsage, user+system; median and best of
// interleaved rounds) and bytes per sample. Never asserts: the numbers depend on the box.
// The request generator is bench/lib/fleet.ts when present, else a local stand-in.

import { PrwDecoder } from '../src/protocol/prw/decode.js';
import { encodeWriteRequest, type LabelInput, type SeriesInput } from '../src/protocol/prw/encode.js';
import type { WriteRequestView } from '../src/protocol/prw/types.js';
import { snappyCompress, snappyImplementation } from '../src/protocol/snappy.js';
import { MetricRowWriter } from '../src/protocol/vmstorage/metric-row.js';
import { DEFAULT_MAX_PACKET_BYTES, PACKET_HEADER_LEN, splitRows } from '../src/protocol/vmstorage/packet.js';

const SERIES = Number(process.argv[2] ?? 2000);
const REQUESTS = Number(process.argv[3] ?? 8);
const ROUNDS = Number(process.argv[4] ?? 7);
const ROUND_MS = 300;

interface Req {
  raw: Buffer;
  body: Buffer;
  samples: number;
}

/** bench/lib/fleet.ts is a colleague's generator; loaded by a computed path so this file stands alone. */
async function loadRequests(): Promise<{ source: string; reqs: Req[] }> {
  const spec = './lib/fleet.js';
  try {
    const fleet = (await import(spec)) as { fleetRequests(o: { seriesPerRequest: number; requests: number }): Req[] };
    return { source: 'bench/lib/fleet.ts', reqs: fleet.fleetRequests({ seriesPerRequest: SERIES, requests: REQUESTS }) };
  } catch {
    return { source: 'local stand-in', reqs: localRequests() };
  }
}

/** PMM-ish series: node_exporter label sets with UUID-path ids, sorted labels, one sample each. */
function localRequests(): Req[] {
  let seed = 7;
  const rnd = () => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 4294967296);
  const id = () => Array.from({ length: 32 }, () => Math.floor(rnd() * 16).toString(16)).join('');
  const hosts = Array.from({ length: 60 }, (_, h) => ({ h, agent: `/agent_id/${id()}`, node: `/node_id/${id()}`, machine: id() }));
  const names = ['node_cpu_seconds_total', 'node_memory_MemFree_bytes', 'node_disk_read_bytes_total', 'node_network_receive_bytes_total', 'node_filesystem_avail_bytes'];
  const out: Req[] = [];
  let ts = 1_795_630_000_000;
  for (let r = 0; r < REQUESTS; r++) {
    const series: SeriesInput[] = [];
    for (let i = 0; i < SERIES; i++) {
      const host = hosts[i % hosts.length]!;
      const labels: LabelInput[] = [
        ['__name__', names[i % names.length]!],
        ['agent_id', host.agent],
        ['agent_type', 'node_exporter'],
        ['cpu', String(i % 16)],
        ['environment', 'prod'],
        ['instance', `db-${host.h}.prod:9100`],
        ['job', `node_exporter_agent_id_${host.agent.slice(10)}_hr-5s`],
        ['machine_id', host.machine],
        ['mode', ['idle', 'user', 'system', 'iowait'][i % 4]!],
        ['node_id', host.node],
        ['node_name', `db-${host.h}.prod`],
        ['node_type', 'generic'],
      ];
      series.push({ labels, samples: [[rnd() < 0.7 ? Math.floor(rnd() * 1e9) : rnd() * 1000, ts]] });
    }
    const raw = encodeWriteRequest(series);
    out.push({ raw, body: snappyCompress(raw), samples: SERIES });
    ts += 5000;
  }
  return out;
}

const limits = { maxLabelsPerTimeseries: 40, maxLabelNameLen: 256, maxLabelValueLen: 4096 };

const { source, reqs } = await loadRequests();
// One decoder per request keeps every view alive at once (a decoder reuses its arrays).
const views: WriteRequestView[] = reqs.map((r) => new PrwDecoder(limits).decode(r.raw));
const writer = new MetricRowWriter(4 * 1024 * 1024);
const decoder = new PrwDecoder(limits);
let sink = 0;

function encodeView(v: WriteRequestView): number {
  writer.reset();
  for (let i = 0; i < v.seriesCount; i++) writer.appendSeries(v, i, 0, 0);
  sink ^= writer.length;
  return v.sampleCount;
}

type Case = { name: string; run: () => number };
const cases: Case[] = [
  {
    name: 'rows only (decoded view → MetricRows)',
    run: () => {
      let n = 0;
      for (const v of views) n += encodeView(v);
      return n;
    },
  },
  {
    name: 'decode + rows (protobuf → MetricRows)',
    run: () => {
      let n = 0;
      for (const r of reqs) n += encodeView(decoder.decode(r.raw));
      return n;
    },
  },
  {
    name: 'decode only (reference)',
    run: () => {
      let n = 0;
      for (const r of reqs) n += decoder.decode(r.raw).sampleCount;
      return n;
    },
  },
];

function cpuMs(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}

// Warm up (avoid JIT bias in the first measured round).
for (const c of cases) for (let i = 0; i < 20; i++) c.run();

const rates: number[][] = cases.map(() => []);
const heap: number[] = cases.map(() => 0);
for (let round = 0; round < ROUNDS; round++) {
  cases.forEach((c, ci) => {
    const h0 = process.memoryUsage().heapUsed;
    const c0 = cpuMs();
    const w0 = performance.now();
    let samples = 0;
    while (performance.now() - w0 < ROUND_MS) samples += c.run();
    const cpu = cpuMs() - c0;
    rates[ci]!.push(samples / cpu / 1000); // M samples per CPU-second
    heap[ci] = Math.max(heap[ci]!, process.memoryUsage().heapUsed - h0);
  });
}

const median = (a: number[]) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)]!;

// Wire size: each request's rows as packets of at most the default size, with their headers.
let rowBytes = 0;
let packets = 0;
let samples = 0;
let snappyBytes = 0;
let rawBytes = 0;
let nameRaw = 0;
let rowsSnappy = 0;
const ends: number[] = [];
for (let i = 0; i < reqs.length; i++) {
  writer.reset();
  const v = views[i]!;
  for (let s = 0; s < v.seriesCount; s++) writer.appendSeries(v, s, 0, 0);
  const rows = writer.bytes();
  rowBytes += rows.length;
  packets += splitRows(rows, DEFAULT_MAX_PACKET_BYTES, ends);
  samples += v.sampleCount;
  nameRaw += rows.length - writer.rows * 16;
  rowsSnappy += snappyCompress(rows).length;
  snappyBytes += reqs[i]!.body.length;
  rawBytes += reqs[i]!.raw.length;
}
const wire = rowBytes + packets * PACKET_HEADER_LEN;

console.log(`vmstorage MetricRow encoding — node ${process.version}, ${source}, ${reqs.length} requests × ${SERIES} series (1 sample each), snappy: ${snappyImplementation}`);
console.log('');
console.log(`${'case'.padEnd(46)}${'M samples/CPU-s'.padStart(15)}${'median'.padStart(7)}${'best'.padStart(7)}${'ns/sample'.padStart(11)}${'heap growth/round'.padStart(19)}`);
cases.forEach((c, ci) => {
  const m = median(rates[ci]!);
  const b = Math.max(...rates[ci]!);
  console.log(`${c.name.padEnd(46)}${''.padEnd(15)}${m.toFixed(2).padStart(7)}${b.toFixed(2).padStart(7)}${(1000 / m).toFixed(0).padStart(11)}${((heap[ci]! / 1024 / 1024).toFixed(1) + ' MiB').padStart(19)}`);
});
console.log('');
console.log('bytes per sample');
const line = (what: string, v: string) => console.log(`  ${what.padEnd(66)}${v.padStart(8)}`);
line('vmstorage packets (rows + 8 B header per packet, uncompressed)', (wire / samples).toFixed(1));
line('  of which MetricNameRaw and its length', (nameRaw / samples).toFixed(1));
line('remote-write body, snappy (what vmagent sent)', (snappyBytes / samples).toFixed(1));
line('remote-write protobuf, uncompressed', (rawBytes / samples).toFixed(1));
line('rows snappy-compressed (hint of what zstd mode could save)', (rowsSnappy / samples).toFixed(1));
line('ratio uncompressed native / snappy remote-write', `${(wire / snappyBytes).toFixed(2)}x`);
if (sink === 42) console.log('');
