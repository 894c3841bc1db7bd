// A PMM-like fleet for load generation: each host runs node_exporter plus either
// mysqld_exporter or postgres_exporter behind its own vmagent, with the labels PMM attaches
// (agent/node/service ids as UUID paths, environment, cluster, job per agent and resolution)
// and the per-family dimensions the exporters really have (cpu × mode, device, mountpoint,
// schema/table, statement digest, datname/relname, queryid...). Series have 11–15 labels
// (with __name__), sorted, and ~400–550 bytes on the wire.
//
// A host has a fixed number of series slots. Churn replaces some slots per scrape with a new
// series (a new table, statement digest or queryid: what really churns in PMM), which gets a
// fresh series id. Deterministic for a given seed.
import { prng } from '../lib/fleet.js';
import type { LabelInput } from '../../src/protocol/prw/encode.js';

export interface FleetSpec {
  hosts: number;
  seriesPerHost: number;
  /** Scrape interval, seconds (PMM high resolution is 5 s). */
  intervalSec: number;
  /** Fraction of a host's series replaced by new series at each scrape (0.001 = 0.1 %). */
  churn: number;
  seed: number;
}

export const DEFAULT_FLEET: FleetSpec = { hosts: 50, seriesPerHost: 1500, intervalSec: 5, churn: 0, seed: 1 };

type Rnd = () => number;

interface Family {
  /** Metric name and extra labels of the i-th series of the family; gen > 0 for churned replacements. */
  series(i: number, gen: number): { name: string; labels: LabelInput[] };
  /** Relative share of the exporter's series. */
  weight: number;
  /** Most series the family can have (real exporters have finite dimensions); Infinity if unbounded. */
  max: number;
  churnable: boolean;
}

const CPU_MODES = ['guest', 'idle', 'iowait', 'irq', 'nice', 'softirq', 'steal', 'system', 'user'];
const MEMORY = [
  'Active', 'Active_anon', 'Active_file', 'AnonHugePages', 'AnonPages', 'Bounce', 'Buffers', 'Cached', 'CommitLimit', 'Committed_AS',
  'DirectMap1G', 'DirectMap2M', 'DirectMap4k', 'Dirty', 'HugePages_Free', 'HugePages_Rsvd', 'HugePages_Total', 'Hugepagesize',
  'Inactive', 'Inactive_anon', 'Inactive_file', 'KernelStack', 'Mapped', 'MemAvailable', 'MemFree', 'MemTotal', 'Mlocked',
  'NFS_Unstable', 'PageTables', 'SReclaimable', 'SUnreclaim', 'Shmem', 'ShmemHugePages', 'Slab', 'SwapCached', 'SwapFree',
  'SwapTotal', 'Unevictable', 'VmallocChunk', 'VmallocTotal', 'VmallocUsed', 'Writeback', 'WritebackTmp',
];
const DISK = ['reads_completed_total', 'writes_completed_total', 'read_bytes_total', 'written_bytes_total', 'io_time_seconds_total', 'read_time_seconds_total', 'write_time_seconds_total', 'io_now'];
const FS = ['avail_bytes', 'free_bytes', 'size_bytes', 'files', 'files_free', 'readonly'];
const MOUNTS: [string, string, string][] = [
  ['/dev/nvme0n1p1', 'ext4', '/'],
  ['/dev/nvme1n1', 'xfs', '/var/lib/mysql'],
  ['tmpfs', 'tmpfs', '/run'],
  ['/dev/nvme0n1p15', 'vfat', '/boot/efi'],
  ['/dev/nvme2n1', 'xfs', '/backup'],
];
const NET = ['receive_bytes_total', 'transmit_bytes_total', 'receive_packets_total', 'transmit_packets_total', 'receive_errs_total', 'transmit_errs_total', 'receive_drop_total', 'transmit_drop_total'];
const VMSTAT = ['pgfault', 'pgmajfault', 'pgpgin', 'pgpgout', 'pswpin', 'pswpout', 'oom_kill'];
const NETSTAT = ['Tcp_ActiveOpens', 'Tcp_PassiveOpens', 'Tcp_CurrEstab', 'Tcp_InErrs', 'Tcp_RetransSegs', 'Udp_InDatagrams', 'Udp_OutDatagrams', 'TcpExt_ListenDrops', 'TcpExt_ListenOverflows', 'TcpExt_SyncookiesSent'];
const SCALAR_NODE = ['node_load1', 'node_load5', 'node_load15', 'node_boot_time_seconds', 'node_time_seconds', 'node_context_switches_total', 'node_intr_total', 'node_forks_total', 'node_procs_running', 'node_procs_blocked', 'node_entropy_available_bits', 'node_filefd_allocated', 'node_filefd_maximum', 'node_textfile_scrape_error', 'process_cpu_seconds_total', 'process_resident_memory_bytes', 'go_goroutines', 'go_memstats_alloc_bytes'];

const MYSQL_COMMANDS = [
  'admin_commands', 'alter_table', 'analyze', 'begin', 'change_db', 'commit', 'create_index', 'create_table', 'delete', 'delete_multi',
  'drop_table', 'flush', 'grant', 'insert', 'insert_select', 'kill', 'load', 'lock_tables', 'optimize', 'prepare_sql', 'purge',
  'release_savepoint', 'rename_table', 'replace', 'replace_select', 'rollback', 'rollback_to_savepoint', 'savepoint', 'select',
  'set_option', 'show_binlogs', 'show_create_table', 'show_databases', 'show_engine_status', 'show_fields', 'show_grants',
  'show_master_status', 'show_processlist', 'show_slave_status', 'show_status', 'show_tables', 'show_variables', 'show_warnings',
  'stmt_close', 'stmt_execute', 'stmt_prepare', 'truncate', 'unlock_tables', 'update', 'update_multi',
];
const MYSQL_HANDLERS = ['commit', 'delete', 'discover', 'external_lock', 'mrr_init', 'prepare', 'read_first', 'read_key', 'read_last', 'read_next', 'read_prev', 'read_rnd', 'read_rnd_next', 'rollback', 'savepoint', 'update', 'write'];
const MYSQL_SCALARS = [
  'mysql_up', 'mysql_global_status_uptime', 'mysql_global_status_queries', 'mysql_global_status_questions', 'mysql_global_status_threads_connected',
  'mysql_global_status_threads_running', 'mysql_global_status_threads_created', 'mysql_global_status_aborted_clients', 'mysql_global_status_aborted_connects',
  'mysql_global_status_bytes_received', 'mysql_global_status_bytes_sent', 'mysql_global_status_connections', 'mysql_global_status_created_tmp_disk_tables',
  'mysql_global_status_created_tmp_tables', 'mysql_global_status_innodb_buffer_pool_read_requests', 'mysql_global_status_innodb_buffer_pool_reads',
  'mysql_global_status_innodb_data_fsyncs', 'mysql_global_status_innodb_data_read', 'mysql_global_status_innodb_data_written',
  'mysql_global_status_innodb_log_waits', 'mysql_global_status_innodb_os_log_written', 'mysql_global_status_innodb_row_lock_time',
  'mysql_global_status_innodb_row_lock_waits', 'mysql_global_status_open_files', 'mysql_global_status_open_tables', 'mysql_global_status_opened_tables',
  'mysql_global_status_select_full_join', 'mysql_global_status_select_scan', 'mysql_global_status_slow_queries', 'mysql_global_status_sort_rows',
  'mysql_global_status_table_locks_waited', 'mysql_global_variables_max_connections', 'mysql_global_variables_innodb_buffer_pool_size',
  'mysql_global_variables_innodb_log_file_size', 'mysql_global_variables_table_open_cache', 'mysql_global_variables_thread_cache_size',
  'mysql_global_variables_long_query_time', 'mysql_global_variables_read_only', 'mysql_slave_status_seconds_behind_master',
  'mysql_exporter_last_scrape_duration_seconds',
];
const PG_DB = ['numbackends', 'xact_commit', 'xact_rollback', 'blks_read', 'blks_hit', 'tup_returned', 'tup_fetched', 'tup_inserted', 'tup_updated', 'tup_deleted', 'conflicts', 'temp_files', 'temp_bytes', 'deadlocks', 'blk_read_time', 'blk_write_time'];
const PG_TABLE = ['seq_scan', 'seq_tup_read', 'idx_scan', 'idx_tup_fetch', 'n_tup_ins', 'n_tup_upd', 'n_tup_del', 'n_tup_hot_upd', 'n_live_tup', 'n_dead_tup', 'vacuum_count', 'autovacuum_count', 'analyze_count', 'autoanalyze_count'];
const PG_LOCK_MODES = ['accessexclusivelock', 'accesssharelock', 'exclusivelock', 'rowexclusivelock', 'rowsharelock', 'sharelock', 'sharerowexclusivelock', 'shareupdateexclusivelock'];
const PG_ACTIVITY_STATES = ['active', 'disabled', 'fastpath function call', 'idle', 'idle in transaction', 'idle in transaction (aborted)'];
const PG_SCALARS = [
  'pg_up', 'pg_postmaster_start_time_seconds', 'pg_stat_bgwriter_buffers_alloc', 'pg_stat_bgwriter_buffers_backend', 'pg_stat_bgwriter_buffers_checkpoint',
  'pg_stat_bgwriter_buffers_clean', 'pg_stat_bgwriter_checkpoints_req', 'pg_stat_bgwriter_checkpoints_timed', 'pg_stat_bgwriter_maxwritten_clean',
  'pg_settings_max_connections', 'pg_settings_shared_buffers_bytes', 'pg_settings_work_mem_bytes', 'pg_settings_effective_cache_size_bytes',
  'pg_settings_max_wal_size_bytes', 'pg_settings_checkpoint_timeout_seconds', 'pg_settings_autovacuum', 'pg_replication_lag', 'pg_database_size_bytes',
  'pg_exporter_last_scrape_duration_seconds', 'pg_static',
];
const TABLE_BASES = ['orders', 'customers', 'items', 'payments', 'events', 'sessions', 'invoices', 'shipments', 'audit_log', 'inventory'];

/** 16 hex digits derived from (i, gen, salt): statement digests and query ids. */
function hexId(i: number, gen: number, salt: number): string {
  let a = (Math.imul(i + 1, 0x9e3779b1) ^ Math.imul(gen + 7, 0x85ebca6b) ^ salt) >>> 0;
  let b = (Math.imul(a ^ (a >>> 16), 0x7feb352d) ^ Math.imul(gen + 3, 0xc2b2ae35)) >>> 0;
  a = Math.imul(a ^ (b >>> 15), 0x846ca68b) >>> 0;
  b = Math.imul(b ^ (a >>> 13), 0x27d4eb2f) >>> 0;
  return a.toString(16).padStart(8, '0') + b.toString(16).padStart(8, '0');
}

function tableName(i: number, gen: number): string {
  return `${TABLE_BASES[i % TABLE_BASES.length]}_${Math.floor(i / TABLE_BASES.length)}${gen > 0 ? `_v${gen}` : ''}`;
}

function fixed(names: string[], weight: number, labels: (i: number) => LabelInput[] = () => []): Family {
  return { weight, max: names.length, churnable: false, series: (i) => ({ name: names[i]!, labels: labels(i) }) };
}

/** i → (metric of a list, index of the thing it is about). */
function perThing(prefix: string, metrics: string[], weight: number, max: number, labels: (thing: number, gen: number) => LabelInput[], churnable = false): Family {
  return {
    weight,
    max,
    churnable,
    series: (i, gen) => ({ name: prefix + metrics[i % metrics.length]!, labels: labels(Math.floor(i / metrics.length), gen) }),
  };
}

const diskName = (d: number) => (d < 4 ? `nvme${d}n1` : `sd${String.fromCharCode(97 + ((d - 4) % 26))}${d >= 30 ? Math.floor((d - 4) / 26) : ''}`);
const netName = (d: number) => (d === 0 ? 'lo' : d < 3 ? `eth${d - 1}` : `veth${hexId(d, 0, 7).slice(0, 7)}`);

const NODE_FAMILIES: Family[] = [
  { weight: 18, max: 256 * CPU_MODES.length, churnable: false, series: (i) => ({ name: 'node_cpu_seconds_total', labels: [['cpu', String(Math.floor(i / CPU_MODES.length))], ['mode', CPU_MODES[i % CPU_MODES.length]!]] }) },
  fixed(MEMORY.map((m) => `node_memory_${m}_bytes`), 8),
  perThing('node_disk_', DISK, 6, DISK.length * 64, (d) => [['device', diskName(d)]]),
  perThing('node_filesystem_', FS, 3, FS.length * MOUNTS.length, (m) => {
    const [device, fstype, mountpoint] = MOUNTS[m]!;
    return [['device', device], ['fstype', fstype], ['mountpoint', mountpoint]];
  }),
  perThing('node_network_', NET, 5, NET.length * 256, (d) => [['device', netName(d)]], true),
  fixed(VMSTAT.map((v) => `node_vmstat_${v}`), 1),
  fixed(NETSTAT.map((v) => `node_netstat_${v}`), 2),
  fixed(SCALAR_NODE, 3),
  perThing('node_hwmon_', ['temp_celsius', 'temp_crit_celsius'], 1, 2 * 64, (s) => [['chip', `platform_coretemp_${s >> 4}`], ['sensor', `temp${(s & 15) + 1}`]]),
];

const MYSQL_FAMILIES: Family[] = [
  fixed(MYSQL_COMMANDS, 5, (i) => [['command', MYSQL_COMMANDS[i]!]]),
  fixed(MYSQL_HANDLERS.map(() => 'mysql_global_status_handlers_total'), 2, (i) => [['handler', MYSQL_HANDLERS[i]!]]),
  fixed(MYSQL_SCALARS, 4),
  perThing('mysql_info_schema_table_', ['rows', 'size', 'size_index'], 8, Infinity, (t, gen) => [['schema', `shop_${t % 4}`], ['table', tableName(t, gen)]], true),
  perThing('mysql_perf_schema_events_statements_', ['total', 'seconds_total', 'rows_examined_total', 'errors_total'], 10, Infinity, (d, gen) => [['digest', hexId(d, gen, 0x51)], ['schema', `shop_${d % 4}`]], true),
  perThing('mysql_perf_schema_table_io_waits_', ['total', 'seconds_total'], 4, Infinity, (t, gen) => [
    ['name', tableName(t >> 2, gen)],
    ['operation', ['delete', 'fetch', 'insert', 'update'][t & 3]!],
    ['schema', `shop_${(t >> 2) % 4}`],
  ], true),
];

const PG_FAMILIES: Family[] = [
  perThing('pg_stat_database_', PG_DB, 5, PG_DB.length * 32, (d) => [['datid', String(16384 + d)], ['datname', d === 0 ? 'postgres' : `app_${d}`]]),
  perThing('pg_stat_user_tables_', PG_TABLE, 12, Infinity, (t, gen) => [['datname', `app_${1 + (t % 3)}`], ['relname', tableName(t, gen)], ['schemaname', 'public']], true),
  perThing('pg_locks_count', [''], 2, PG_LOCK_MODES.length * 32, (x) => [['datname', x < PG_LOCK_MODES.length ? 'postgres' : `app_${Math.floor(x / PG_LOCK_MODES.length)}`], ['mode', PG_LOCK_MODES[x % PG_LOCK_MODES.length]!]]),
  perThing('pg_stat_activity_count', [''], 1, PG_ACTIVITY_STATES.length * 32, (x) => [['datname', `app_${Math.floor(x / PG_ACTIVITY_STATES.length)}`], ['state', PG_ACTIVITY_STATES[x % PG_ACTIVITY_STATES.length]!]]),
  fixed(PG_SCALARS, 4),
  perThing('pg_stat_statements_', ['calls_total', 'seconds_total', 'rows_total', 'block_read_seconds_total'], 10, Infinity, (q, gen) => [['datname', `app_${1 + (q % 3)}`], ['queryid', hexId(q, gen, 0x9a)], ['user', q % 5 === 0 ? 'report' : 'app']], true),
];

/** How many series each family gets: weighted passes until the budget is spent. */
function allocate(families: Family[], budget: number): number[] {
  const counts = families.map(() => 0);
  let left = budget;
  while (left > 0) {
    let progressed = false;
    for (let f = 0; f < families.length && left > 0; f++) {
      const room = families[f]!.max - counts[f]!;
      const take = Math.min(room, families[f]!.weight, left);
      if (take > 0) {
        counts[f]! += take;
        left -= take;
        progressed = true;
      }
    }
    if (!progressed) throw new Error(`fleet: cannot make ${budget} series from bounded families`);
  }
  return counts;
}

function uuid(rnd: Rnd): string {
  const hex = (n: number) => {
    let s = '';
    for (let i = 0; i < n; i++) s += Math.floor(rnd() * 16).toString(16);
    return s;
  };
  return `${hex(8)}-${hex(4)}-4${hex(3)}-${'89ab'[Math.floor(rnd() * 4)]}${hex(3)}-${hex(12)}`;
}

export type HostKind = 'mysql' | 'postgresql';

/** One series slot of a host: which family member it is, and its current generation. */
interface Slot {
  exporter: 0 | 1; // 0 node_exporter, 1 the database exporter
  family: number;
  index: number;
  gen: number;
}

export interface Host {
  index: number;
  kind: HostKind;
  /** Labels every node_exporter / database exporter series of this host carries. */
  common: [LabelInput[], LabelInput[]];
  slots: Slot[];
  /** Slots whose family churns. */
  churnable: number[];
}

/** The fleet's hosts and their series slots. Label sets are built on demand (labelsOf). */
export class PmmFleet {
  readonly spec: FleetSpec;
  readonly hosts: Host[] = [];
  readonly #families: [Family[], Family[]][] = [];

  constructor(spec: FleetSpec) {
    if (!(spec.hosts >= 1 && spec.seriesPerHost >= 2)) throw new Error('fleet: need at least 1 host and 2 series per host');
    this.spec = spec;
    const rnd = prng(spec.seed);
    const envs = ['prod', 'prod', 'prod', 'staging', 'dev'];
    const regions = ['eu-west-1', 'us-east-1', 'us-west-2'];
    for (let h = 0; h < spec.hosts; h++) {
      const kind: HostKind = h % 5 < 3 ? 'mysql' : 'postgresql';
      const env = envs[h % envs.length]!;
      const nodeName = `${kind === 'mysql' ? 'db' : 'pg'}-${h}.${env}`;
      const nodeId = `/node_id/${uuid(rnd)}`;
      const machineId = uuid(rnd).replace(/-/g, '');
      const nodeAgent = `/agent_id/${uuid(rnd)}`;
      const dbAgent = `/agent_id/${uuid(rnd)}`;
      const serviceId = `/service_id/${uuid(rnd)}`;
      const dbExporter = kind === 'mysql' ? 'mysqld_exporter' : 'postgres_exporter';
      const nodeCommon: LabelInput[] = [
        ['agent_id', nodeAgent],
        ['agent_type', 'node_exporter'],
        ['environment', env],
        ['instance', nodeAgent],
        ['job', `node_exporter_agent_id_${nodeAgent.slice(10)}_hr-${spec.intervalSec}s`],
        ['machine_id', `/machine_id/${machineId}`],
        ['node_id', nodeId],
        ['node_name', nodeName],
        ['node_type', 'generic'],
        ['region', regions[h % regions.length]!],
      ];
      const dbCommon: LabelInput[] = [
        ['agent_id', dbAgent],
        ['agent_type', dbExporter],
        ['cluster', `${env}-${kind}-${h % 7}`],
        ['environment', env],
        ['instance', dbAgent],
        ['job', `${dbExporter}_agent_id_${dbAgent.slice(10)}_hr-${spec.intervalSec}s`],
        ['node_id', nodeId],
        ['node_name', nodeName],
        ['service_id', serviceId],
        ['service_name', `${kind}-${h}`],
        ['service_type', kind],
      ];
      const families: [Family[], Family[]] = [NODE_FAMILIES, kind === 'mysql' ? MYSQL_FAMILIES : PG_FAMILIES];
      const nodeShare = Math.max(1, Math.round(spec.seriesPerHost * 0.4));
      const slots: Slot[] = [];
      const churnable: number[] = [];
      for (const exporter of [0, 1] as const) {
        const fams = families[exporter];
        const counts = allocate(fams, exporter === 0 ? nodeShare : spec.seriesPerHost - nodeShare);
        counts.forEach((n, family) => {
          for (let index = 0; index < n; index++) {
            if (fams[family]!.churnable) churnable.push(slots.length);
            slots.push({ exporter, family, index, gen: 0 });
          }
        });
      }
      this.#families.push(families);
      this.hosts.push({ index: h, kind, common: [nodeCommon, dbCommon], slots, churnable });
    }
  }

  get seriesCount(): number {
    return this.spec.hosts * this.spec.seriesPerHost;
  }

  /** Samples per second the fleet produces at its scrape interval. */
  get samplesPerSecond(): number {
    return this.seriesCount / this.spec.intervalSec;
  }

  /** Sorted labels (with __name__) of a host's slot as it is now. */
  labelsOf(host: number, slot: number): LabelInput[] {
    const h = this.hosts[host]!;
    const s = h.slots[slot]!;
    const fam = this.#families[host]![s.exporter][s.family]!;
    const { name, labels } = fam.series(s.index, s.gen);
    const all: LabelInput[] = [['__name__', name], ...h.common[s.exporter], ...labels];
    return all.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  }

  /** Replace a slot's series by a new one (next generation); returns false if it cannot churn. */
  churnSlot(host: number, slot: number): boolean {
    const s = this.hosts[host]!.slots[slot]!;
    if (!this.#families[host]![s.exporter][s.family]!.churnable) return false;
    s.gen++;
    return true;
  }
}
