// Command line of `npm run bench -- <scenario> [options]`. Every option has a CI-sized
// default per scenario; durations take 500ms / 15s / 2m / 1h (a bare number is seconds).
import { readFileSync } from 'node:fs';
import type { BatchMode } from '../fleet/generator.js';
import type { FailMode } from '../sink/server.js';

export const SCENARIOS = ['steady', 'outage', 'crash', 'rebalance', 'capacity'] as const;
export type Scenario = (typeof SCENARIOS)[number];

export interface Options {
  scenario: Scenario;
  hosts: number;
  seriesPerHost: number;
  intervalSec: number;
  churn: number;
  batch: BatchMode;
  samplesPerRequest: number;
  connections: number;
  nodes: number;
  /** Load seconds per measured round (steady, capacity) or per phase (others). */
  duration: number;
  warmup: number;
  rounds: number;
  /** Open-loop rate, samples/s (outage, crash, rebalance); 0 = the fleet's own rate. */
  rate: number;
  /** Outage length in the run, seconds. */
  outage: number;
  failMode: Exclude<FailMode, 'ok'>;
  /** capacity: the outage the spool must ride out, seconds. */
  planOutage: number;
  /** capacity: headroom on cores, memory and disk (0.3 = 30 %). */
  margin: number;
  /** capacity: most series simulated (the fleet is sampled down to this). */
  maxSimSeries: number;
  vmagent: boolean;
  pin: boolean;
  profile: boolean;
  keep: boolean;
  out: string;
  seed: number;
  spillwayFlags: string[];
  /** Extra environment for Spillway (K=V). */
  spillwayEnv: string[];
  vmagentFlags: string[];
  /** Hard limit on the whole run; everything is killed after it. */
  maxSeconds: number;
  /** Stop starting requests after this many per phase (besides the time limit). */
  maxRequests: number;
}

export class UsageError extends Error {
  override name = 'UsageError';
}

export function parseDuration(v: string, what: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(v.trim());
  if (!m) throw new UsageError(`${what}: not a duration: ${v} (use e.g. 500ms, 15s, 2m, 1h)`);
  const n = Number(m[1]);
  return m[2] === 'ms' ? n / 1000 : m[2] === 'm' ? n * 60 : m[2] === 'h' ? n * 3600 : n;
}

function num(v: string, what: string, min = 0): number {
  const n = Number(v.replace(/_/g, ''));
  if (!Number.isFinite(n) || n < min) throw new UsageError(`${what}: expected a number ≥ ${min}, got ${v}`);
  return n;
}

function defaults(scenario: Scenario): Options {
  const base: Options = {
    scenario,
    hosts: 50,
    seriesPerHost: 1500,
    intervalSec: 5,
    churn: 0,
    batch: 'host',
    samplesPerRequest: 10_000,
    connections: 32,
    nodes: 2,
    duration: 6,
    warmup: 3,
    rounds: 2,
    rate: 100_000,
    outage: 15,
    failMode: 'down',
    planOutage: 3600,
    margin: 0.3,
    maxSimSeries: 100_000,
    vmagent: true,
    pin: true,
    profile: false,
    keep: false,
    out: 'bench/out',
    seed: 1,
    spillwayFlags: [],
    spillwayEnv: [],
    vmagentFlags: [],
    maxSeconds: 600,
    maxRequests: Infinity,
  };
  switch (scenario) {
    case 'steady':
      return base;
    case 'outage':
      return { ...base, duration: 5, outage: 15, vmagent: false };
    case 'crash':
      return { ...base, duration: 4, outage: 8, vmagent: false };
    case 'rebalance':
      return { ...base, nodes: 3, duration: 5, vmagent: false };
    case 'capacity':
      return { ...base, hosts: 1000, intervalSec: 10, duration: 5, warmup: 2, outage: 6 };
  }
}

export const HELP = `Usage: npm run bench -- <scenario> [options]

Scenarios (defaults run in about a minute or less on a 2-core box):
  steady     max sustainable samples/s (closed loop), Spillway and vmagent side by side, interleaved rounds
  outage     one storage node down for --outage, then back: catch-up time, replay rate, spool bytes/sample, loss, dups, order
  crash      Spillway kill -9 under load (and again mid-replay) and restarted: acknowledged samples must all arrive
  rebalance  a node removed, then one added, between restarts: the removed node's queue is re-routed at start
  capacity   a fleet in (--hosts, --series-per-host, --interval, --plan-outage), a sizing table out

Fleet and load:
  --hosts N               monitored hosts (default 50; capacity: 1000)
  --series-per-host N     series per host, node_exporter + mysqld/postgres_exporter (default 1500)
  --interval D            scrape interval (default 5s; capacity: 10s)
  --churn F               fraction of a host's series replaced by new ones per scrape (default 0)
  --batch host|full       one host's scrape per request (PMM client vmagent), or full requests (default host)
  --samples-per-request N cap per request, vmagent's -remoteWrite.maxRowsPerBlock (default 10000)
  --connections N         concurrent connections = lanes, one request in flight each (default 32)
  --rate N                open-loop samples/s for outage, crash, rebalance (default 100000; 0 = the fleet's rate)
  --nodes N               storage nodes (sink listeners) behind Spillway (default 2; rebalance: 3)

Timing:
  --duration D            load per measured round (steady, capacity) or per phase (default 6s/5s/4s)
  --warmup D              unmeasured load per target before the rounds (default 3s)
  --rounds N              measured rounds per target, interleaved (default 2)
  --outage D              how long the node is down (default 15s; crash: 8s; capacity probe: 6s)
  --fail-mode M           down | 503 | reset | stall (default down)
  --max-seconds D         hard limit on the whole run (default 600)
  --max-requests N        stop starting requests after N per phase (default: only the time limits)

Capacity:
  --fleet FILE            fleet description (JSON): {"hosts", "seriesPerHost", "interval", "churn",
                          "planOutage", "margin", "nodes"}; later options override it
  --plan-outage D         outage the spool must absorb (default 1h)
  --margin F              headroom on cores, memory and disk (default 0.3)
  --max-sim-series N      largest fleet sample actually simulated (default 100000)

Processes:
  --no-vmagent            skip the side-by-side vmagent (steady, capacity)
  --no-pin                do not pin (default: target on CPU 0, load and sinks on the others)
  --spillway-flag F       extra Spillway flag, repeatable (e.g. --spillway-flag=-spool.fsync=1s)
  --spillway-env K=V      extra environment for Spillway, repeatable (e.g. MALLOC_ARENA_MAX=2)
  --vmagent-flag F        extra vmagent flag, repeatable
  --profile               write a V8 CPU profile of Spillway into the report directory
  --keep                  keep spool and vmagent data directories
  --out DIR               report root (default bench/out)
  --seed N                fleet seed (default 1)

Exit status: 0 ok; 1 acknowledged samples lost, or a process crashed; 2 usage or setup failure; 130 interrupted.
`;

/** A fleet description file: the capacity inputs as JSON (durations as "10s" or seconds). */
function applyFleetFile(o: Options, file: string): void {
  let j: Record<string, unknown>;
  try {
    j = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
  } catch (err) {
    throw new UsageError(`--fleet ${file}: ${(err as Error).message}`);
  }
  const known = new Set(['hosts', 'seriesPerHost', 'interval', 'churn', 'planOutage', 'margin', 'nodes']);
  for (const k of Object.keys(j)) if (!known.has(k)) throw new UsageError(`--fleet ${file}: unknown key "${k}" (known: ${[...known].join(', ')})`);
  const str = (k: string) => String(j[k]);
  if (j['hosts'] !== undefined) o.hosts = Math.round(num(str('hosts'), 'hosts', 1));
  if (j['seriesPerHost'] !== undefined) o.seriesPerHost = Math.round(num(str('seriesPerHost'), 'seriesPerHost', 2));
  if (j['interval'] !== undefined) o.intervalSec = parseDuration(str('interval'), 'interval');
  if (j['churn'] !== undefined) o.churn = num(str('churn'), 'churn');
  if (j['planOutage'] !== undefined) o.planOutage = parseDuration(str('planOutage'), 'planOutage');
  if (j['margin'] !== undefined) o.margin = num(str('margin'), 'margin');
  if (j['nodes'] !== undefined) o.nodes = Math.round(num(str('nodes'), 'nodes', 1));
}

export function parseOptions(argv: string[]): Options | 'help' {
  const scenario = argv[0];
  if (!scenario || scenario === '-h' || scenario === '--help' || scenario === 'help') return 'help';
  if (!(SCENARIOS as readonly string[]).includes(scenario)) throw new UsageError(`unknown scenario "${scenario}"; one of: ${SCENARIOS.join(', ')}`);
  const o = defaults(scenario as Scenario);
  for (let i = 1; i < argv.length; i++) {
    let a = argv[i]!;
    if (a === '-h' || a === '--help') return 'help';
    if (!a.startsWith('--')) throw new UsageError(`unexpected argument ${a}`);
    a = a.slice(2);
    let value: string | undefined;
    const eq = a.indexOf('=');
    if (eq >= 0) {
      value = a.slice(eq + 1);
      a = a.slice(0, eq);
    }
    const flag = ['no-vmagent', 'vmagent', 'no-pin', 'pin', 'profile', 'keep'].includes(a);
    if (!flag && value === undefined) {
      value = argv[++i];
      if (value === undefined) throw new UsageError(`--${a} needs a value`);
    }
    const v = value ?? '';
    switch (a) {
      case 'hosts': o.hosts = Math.round(num(v, a, 1)); break;
      case 'series-per-host': o.seriesPerHost = Math.round(num(v, a, 2)); break;
      case 'interval': o.intervalSec = parseDuration(v, a); break;
      case 'churn': o.churn = num(v, a); break;
      case 'batch':
        if (v !== 'host' && v !== 'full') throw new UsageError('--batch: host or full');
        o.batch = v;
        break;
      case 'samples-per-request': o.samplesPerRequest = Math.round(num(v, a, 1)); break;
      case 'connections': o.connections = Math.round(num(v, a, 1)); break;
      case 'rate': o.rate = num(v, a); break;
      case 'nodes': o.nodes = Math.round(num(v, a, 1)); break;
      case 'duration': o.duration = parseDuration(v, a); break;
      case 'warmup': o.warmup = parseDuration(v, a); break;
      case 'rounds': o.rounds = Math.round(num(v, a, 1)); break;
      case 'outage': o.outage = parseDuration(v, a); break;
      case 'fail-mode':
        if (!['down', '503', 'reset', 'stall'].includes(v)) throw new UsageError('--fail-mode: down, 503, reset or stall');
        o.failMode = v as Options['failMode'];
        break;
      case 'max-seconds': o.maxSeconds = parseDuration(v, a); break;
      case 'max-requests': o.maxRequests = Math.round(num(v, a, 1)); break;
      case 'fleet': applyFleetFile(o, v); break;
      case 'plan-outage': o.planOutage = parseDuration(v, a); break;
      case 'margin': o.margin = num(v, a); break;
      case 'max-sim-series': o.maxSimSeries = Math.round(num(v, a, 100)); break;
      case 'vmagent': o.vmagent = true; break;
      case 'no-vmagent': o.vmagent = false; break;
      case 'pin': o.pin = true; break;
      case 'no-pin': o.pin = false; break;
      case 'profile': o.profile = true; break;
      case 'keep': o.keep = true; break;
      case 'out': o.out = v; break;
      case 'seed': o.seed = Math.round(num(v, a)); break;
      case 'spillway-flag': o.spillwayFlags.push(v); break;
      case 'spillway-env':
        if (!/^[A-Za-z_][A-Za-z0-9_]*=/.test(v)) throw new UsageError('--spillway-env: NAME=value');
        o.spillwayEnv.push(v);
        break;
      case 'vmagent-flag': o.vmagentFlags.push(v); break;
      default:
        throw new UsageError(`unknown option --${a} (see --help)`);
    }
  }
  if (o.scenario === 'rebalance' && o.nodes < 2) throw new UsageError('rebalance needs --nodes ≥ 2');
  if ((o.scenario === 'outage' || o.scenario === 'crash') && o.nodes < 1) throw new UsageError(`${o.scenario} needs a node`);
  return o;
}
