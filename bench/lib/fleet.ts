// A PMM-like fleet: hosts running node_exporter and mysqld_exporter behind vmagent, with the
// label sets PMM attaches (agent/node/service ids as UUID paths, environment, cluster, ...).
// Series have 10–14 sorted labels and ~500 bytes each on the wire, like the payloads that
// PERF-NOTES measured. Deterministic for a given seed.
import { WriteRequestBuilder, type LabelInput, type SeriesInput } from '../../src/protocol/prw/encode.js';
import { snappyCompress } from '../../src/protocol/snappy.js';

export interface FleetOptions {
  /** Number of monitored hosts (each: one node_exporter, one mysqld_exporter). Default 60. */
  hosts?: number;
  /** PRNG seed. Default 1. */
  seed?: number;
}

export interface RequestOptions extends FleetOptions {
  /** Series per WriteRequest (1 sample each). Default 2,000. */
  seriesPerRequest?: number;
  /** Number of distinct requests. Default 8. */
  requests?: number;
  /** Timestamp of the first request (ms); each following request is one scrape interval later. */
  startMs?: number;
  /** Scrape interval (ms). Default 5,000 (PMM high resolution). */
  intervalMs?: number;
}

export interface FleetRequest {
  /** The uncompressed WriteRequest. */
  raw: Buffer;
  /** The same, snappy-compressed: a remote-write body. */
  body: Buffer;
  series: number;
  samples: number;
}

/** mulberry32: small, fast, good enough for test data. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function uuid(rnd: () => number): string {
  const hex = (n: number): string => {
    let s = '';
    for (let i = 0; i < n; i++) s += Math.floor(rnd() * 16).toString(16);
    return s;
  };
  return `${hex(8)}-${hex(4)}-4${hex(3)}-${'89ab'[Math.floor(rnd() * 4)]}${hex(3)}-${hex(12)}`;
}

const NODE_METRICS: { name: string; extra: (rnd: () => number, i: number) => LabelInput[]; count: number }[] = [
  {
    name: 'node_cpu_seconds_total',
    count: 64, // 8 cpus × 8 modes
    extra: (_r, i) => [
      ['cpu', String(i >> 3)],
      ['mode', ['idle', 'iowait', 'irq', 'nice', 'softirq', 'steal', 'system', 'user'][i & 7]!],
    ],
  },
  { name: 'node_disk_read_bytes_total', count: 4, extra: (_r, i) => [['device', ['nvme0n1', 'nvme1n1', 'sda', 'sdb'][i]!]] },
  { name: 'node_disk_written_bytes_total', count: 4, extra: (_r, i) => [['device', ['nvme0n1', 'nvme1n1', 'sda', 'sdb'][i]!]] },
  { name: 'node_disk_io_time_seconds_total', count: 4, extra: (_r, i) => [['device', ['nvme0n1', 'nvme1n1', 'sda', 'sdb'][i]!]] },
  {
    name: 'node_filesystem_avail_bytes',
    count: 3,
    extra: (_r, i) => [
      ['device', ['/dev/nvme0n1p1', '/dev/nvme1n1', 'tmpfs'][i]!],
      ['fstype', ['ext4', 'xfs', 'tmpfs'][i]!],
      ['mountpoint', ['/', '/var/lib/mysql', '/run'][i]!],
    ],
  },
  {
    name: 'node_network_receive_bytes_total',
    count: 3,
    extra: (_r, i) => [['device', ['eth0', 'eth1', 'lo'][i]!]],
  },
  {
    name: 'node_network_transmit_bytes_total',
    count: 3,
    extra: (_r, i) => [['device', ['eth0', 'eth1', 'lo'][i]!]],
  },
  { name: 'node_memory_MemAvailable_bytes', count: 1, extra: () => [] },
  { name: 'node_memory_MemTotal_bytes', count: 1, extra: () => [] },
  { name: 'node_load1', count: 1, extra: () => [] },
  { name: 'node_load5', count: 1, extra: () => [] },
  { name: 'node_vmstat_pgmajfault', count: 1, extra: () => [] },
  {
    name: 'node_textfile_scrape_error',
    count: 1,
    extra: () => [],
  },
];

const MYSQL_COMMANDS = ['admin_commands', 'begin', 'commit', 'delete', 'insert', 'rollback', 'select', 'set_option', 'show_status', 'update'];
const MYSQL_METRICS: { name: string; extra: (rnd: () => number, i: number) => LabelInput[]; count: number }[] = [
  { name: 'mysql_global_status_commands_total', count: MYSQL_COMMANDS.length, extra: (_r, i) => [['command', MYSQL_COMMANDS[i]!]] },
  {
    name: 'mysql_global_status_handlers_total',
    count: 8,
    extra: (_r, i) => [['handler', ['commit', 'delete', 'read_first', 'read_key', 'read_next', 'read_rnd', 'update', 'write'][i]!]],
  },
  {
    name: 'mysql_global_status_innodb_buffer_pool_pages',
    count: 4,
    extra: (_r, i) => [['state', ['data', 'dirty', 'free', 'misc'][i]!]],
  },
  {
    name: 'mysql_info_schema_table_rows',
    count: 80,
    extra: (_r, i) => [
      ['schema', `shop_${i % 4}`],
      ['table', `t_${['orders', 'customers', 'items', 'payments', 'events'][i % 5]}_${i >> 2}`],
    ],
  },
  { name: 'mysql_global_status_queries', count: 1, extra: () => [] },
  { name: 'mysql_global_status_threads_connected', count: 1, extra: () => [] },
  { name: 'mysql_global_status_uptime', count: 1, extra: () => [] },
  { name: 'mysql_up', count: 1, extra: () => [] },
  { name: 'mysql_global_variables_max_connections', count: 1, extra: () => [] },
  { name: 'mysql_slave_status_seconds_behind_master', count: 1, extra: () => [] },
  {
    name: 'mysql_perf_schema_events_statements_total',
    count: 40,
    extra: (_r, i) => [
      ['digest', (0x9e3779b97f4a7c15n * BigInt(i + 1)).toString(16).padStart(16, '0').slice(0, 16)],
      ['schema', `shop_${i % 4}`],
    ],
  },
];

function sortLabels(labels: LabelInput[]): LabelInput[] {
  return labels.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
}

/** The label sets of the whole fleet (no samples), in a stable order. */
export function fleetSeries(opts: FleetOptions = {}): LabelInput[][] {
  const hosts = opts.hosts ?? 60;
  const rnd = prng(opts.seed ?? 1);
  const out: LabelInput[][] = [];
  const envs = ['prod', 'prod', 'prod', 'staging', 'dev'];
  for (let h = 0; h < hosts; h++) {
    const env = envs[h % envs.length]!;
    const cluster = `${env}-mysql-${h % 7}`;
    const nodeName = `db-${h}.${env}`;
    const nodeId = `/node_id/${uuid(rnd)}`;
    const machineId = uuid(rnd).replace(/-/g, '');
    const nodeAgent = `/agent_id/${uuid(rnd)}`;
    const mysqlAgent = `/agent_id/${uuid(rnd)}`;
    const serviceId = `/service_id/${uuid(rnd)}`;
    for (const m of NODE_METRICS) {
      for (let i = 0; i < m.count; i++) {
        out.push(
          sortLabels([
            ['__name__', m.name],
            ['agent_id', nodeAgent],
            ['agent_type', 'node_exporter'],
            ['environment', env],
            ['instance', `${nodeName}:9100`],
            ['job', `node_exporter_agent_id_${nodeAgent.slice(10)}_hr-5s`],
            ['machine_id', machineId],
            ['node_id', nodeId],
            ['node_name', nodeName],
            ['node_type', 'generic'],
            ...m.extra(rnd, i),
          ]),
        );
      }
    }
    for (const m of MYSQL_METRICS) {
      for (let i = 0; i < m.count; i++) {
        out.push(
          sortLabels([
            ['__name__', m.name],
            ['agent_id', mysqlAgent],
            ['agent_type', 'mysqld_exporter'],
            ['cluster', cluster],
            ['environment', env],
            ['instance', `${nodeName}:42002`],
            ['job', `mysqld_exporter_agent_id_${mysqlAgent.slice(10)}_hr-5s`],
            ['node_id', nodeId],
            ['node_name', nodeName],
            ['service_id', serviceId],
            ['service_name', `mysql-${h}`],
            ['service_type', 'mysql'],
            ...m.extra(rnd, i),
          ]),
        );
      }
    }
  }
  return out;
}

/**
 * WriteRequests of `seriesPerRequest` fleet series with one sample each, built with the
 * project's encoder and snappy-compressed. Series are taken in fleet order, wrapping around.
 */
export function fleetRequests(opts: RequestOptions = {}): FleetRequest[] {
  const labelSets = fleetSeries(opts);
  const per = opts.seriesPerRequest ?? 2000;
  const count = opts.requests ?? 8;
  const interval = opts.intervalMs ?? 5000;
  let ts = opts.startMs ?? 1_795_630_000_000;
  const rnd = prng((opts.seed ?? 1) ^ 0x5eed);
  const b = new WriteRequestBuilder(per * 600);
  const out: FleetRequest[] = [];
  let next = 0;
  for (let r = 0; r < count; r++) {
    for (let i = 0; i < per; i++) {
      const labels = labelSets[next]!;
      next = (next + 1) % labelSets.length;
      // Counters and gauges alike: mostly integral values, some fractions.
      const v = rnd() < 0.7 ? Math.floor(rnd() * 1e9) : rnd() * 1000;
      const s: SeriesInput = { labels, samples: [[v, ts]] };
      b.addSeries(s);
    }
    const raw = b.finish();
    out.push({ raw, body: snappyCompress(raw), series: per, samples: per });
    ts += interval;
  }
  return out;
}
