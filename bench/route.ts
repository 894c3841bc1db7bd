// Route-stage throughput: decode a PMM-like request, hash every series, pick its nodes and
// copy its bytes into per-node payloads, for 1, 3 and 10 nodes and replication 1 to 3.
// Reports M samples per CPU-second (median and best of rounds); never passes or fails.
//
//   npx tsx bench/route.ts [seriesPerRequest=2000] [rounds=5] [msPerRound=300]

import { PrwDecoder } from '../src/protocol/prw/decode.js';
import { Ring } from '../src/route/ring.js';
import { Splitter } from '../src/route/split.js';
import { fleetRequests } from './lib/fleet.js';

const [seriesPerRequest = 2000, rounds = 5, msPerRound = 300] = process.argv.slice(2).map(Number);
const requests = fleetRequests({ seriesPerRequest, requests: 8 });
const decoder = new PrwDecoder({ maxLabelsPerTimeseries: 40, maxLabelNameLen: 256, maxLabelValueLen: 4096 });
const tenant = { accountID: 0, projectID: 0 };

interface Case {
  name: string;
  nodes: number;
  rf: number;
  ring: Ring;
  splitter: Splitter;
  rates: number[];
}

const cases: Case[] = [];
for (const nodes of [1, 3, 10]) {
  for (const rf of [1, 2, 3]) {
    if (rf > nodes) continue;
    const ids = Array.from({ length: nodes }, (_, i) => `http://vm-${i}:8428/api/v1/write`);
    cases.push({ name: `${nodes} node${nodes > 1 ? 's' : ''}, rf ${rf}`, nodes, rf, ring: new Ring(ids), splitter: new Splitter(), rates: [] });
  }
}

const yieldNow = () => new Promise<void>((r) => setImmediate(r));

async function runCase(c: Case, ms: number): Promise<number> {
  let samples = 0;
  const cpu0 = process.cpuUsage();
  const end = performance.now() + ms;
  let i = 0;
  while (performance.now() < end) {
    const req = requests[i++ % requests.length]!;
    const view = decoder.decode(req.raw);
    c.splitter.split(view, tenant, c.ring, c.rf);
    samples += view.sampleCount;
    // As a server does between requests (and so native finalizers run).
    await yieldNow();
  }
  const cpu = process.cpuUsage(cpu0);
  return samples / ((cpu.user + cpu.system) / 1e6) / 1e6;
}

// Warm up every case, then interleave rounds so machine noise hits all of them alike.
for (const c of cases) await runCase(c, 100);
for (let r = 0; r < rounds; r++) {
  const order = r % 2 === 0 ? cases : [...cases].reverse();
  for (const c of order) c.rates.push(await runCase(c, msPerRound));
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
console.log(`route stage (decode + hash + choose nodes + copy), ${seriesPerRequest} series/request, ${rounds} rounds × ${msPerRound} ms, hash backend ${cases[0]!.splitter.hasher.backend}`);
console.log('| nodes, rf | M samples/CPU-s median | best |');
console.log('|---|---|---|');
for (const c of cases) console.log(`| ${c.name} | ${median(c.rates).toFixed(2)} | ${Math.max(...c.rates).toFixed(2)} |`);
console.log(`peak RSS ${(process.resourceUsage().maxRSS / 1024).toFixed(0)} MiB`);
