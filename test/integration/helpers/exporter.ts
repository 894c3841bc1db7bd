// A tiny PMM-like exporter: one loopback HTTP listener per simulated host, serving
// Prometheus text exposition whose values are a pure function of (host, scrape number),
// and a record of every scrape so a test knows exactly what was served.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Teardown } from './procs.js';

export interface ServedSample {
  /** Labels including __name__, as a scraper parses them from the exposition. */
  labels: Record<string, string>;
  value: number;
}

export interface ScrapeRecord {
  host: string;
  /** The `host:port` target that was scraped. */
  target: string;
  /** 1 for the first scrape of this host. */
  n: number;
  /** When the request arrived (ms since epoch). */
  time: number;
  samples: ServedSample[];
}

export interface ExporterHost {
  name: string;
  index: number;
  target: string;
  port: number;
}

export interface Exporter {
  hosts: ExporterHost[];
  /** `127.0.0.1:port` of each host, for a scrape config. */
  targets: string[];
  /** Every scrape served so far, in order. */
  scrapes: ScrapeRecord[];
  /** Metric names the exporter serves (for export match[] selectors). */
  metricNames: string[];
  /** Stop counting scrapes: later requests are answered 503 and not recorded. */
  freeze(): void;
  stop(): Promise<void>;
}

export const EXPORTER_METRICS = [
  'node_cpu_seconds_total',
  'node_memory_MemAvailable_bytes',
  'node_network_receive_bytes_total',
  'mysql_up',
  'mysql_global_status_queries',
  'mysql_global_status_threads_connected',
  'pmm_temperature_celsius',
  'pmm_build_info',
] as const;

const CPU_MODES = ['idle', 'user', 'system', 'iowait'] as const;
const CPUS = 2;

/**
 * The samples host #`hostIndex` serves on its `n`-th scrape. Values are exactly
 * representable decimals (integers and quarters) so they survive storage unchanged.
 */
export function samplesFor(host: string, hostIndex: number, n: number): ServedSample[] {
  const out: ServedSample[] = [];
  for (let cpu = 0; cpu < CPUS; cpu++) {
    CPU_MODES.forEach((mode, m) => {
      out.push({
        labels: { __name__: 'node_cpu_seconds_total', cpu: String(cpu), mode },
        value: 1000 * (hostIndex + 1) + n * (m + 1) * 0.25 + cpu,
      });
    });
  }
  out.push({ labels: { __name__: 'node_memory_MemAvailable_bytes' }, value: 8 * 2 ** 30 - n * 4096 * (hostIndex + 1) });
  out.push({ labels: { __name__: 'node_network_receive_bytes_total', device: 'eth0' }, value: 1e12 + n * 1500 * 1024 });
  out.push({ labels: { __name__: 'mysql_up', service_name: `${host}-mysql` }, value: 1 });
  out.push({ labels: { __name__: 'mysql_global_status_queries', service_name: `${host}-mysql` }, value: 123456789 + n * 1000 + hostIndex });
  out.push({ labels: { __name__: 'mysql_global_status_threads_connected', service_name: `${host}-mysql` }, value: 10 + ((n * 7 + hostIndex) % 13) });
  // UTF-8 in a label value.
  out.push({ labels: { __name__: 'pmm_temperature_celsius', location: 'Zürich', sensor: 'Ø-1 µC' }, value: 20 + n * 0.25 - hostIndex });
  // Exposition escapes in a label value: quote, backslash, newline.
  out.push({
    labels: { __name__: 'pmm_build_info', version: '2.41.0', note: 'say "hi" \\ C:\\pmm\nline 2', node_name: host },
    value: 1,
  });
  return out;
}

const HELP: Record<string, [string, string]> = {
  node_cpu_seconds_total: ['counter', 'Seconds the CPUs spent in each mode.'],
  node_memory_MemAvailable_bytes: ['gauge', 'Memory information field MemAvailable_bytes.'],
  node_network_receive_bytes_total: ['counter', 'Network device statistic receive_bytes.'],
  mysql_up: ['gauge', 'Whether the MySQL server is up.'],
  mysql_global_status_queries: ['untyped', 'Generic metric from SHOW GLOBAL STATUS.'],
  mysql_global_status_threads_connected: ['untyped', 'Generic metric from SHOW GLOBAL STATUS.'],
  pmm_temperature_celsius: ['gauge', 'Sensor temperature in °C.'],
  pmm_build_info: ['gauge', 'Build information.'],
};

function escapeLabelValue(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

/** Prometheus text exposition format 0.0.4 for these samples. */
export function renderExposition(samples: ServedSample[]): string {
  const lines: string[] = [];
  let lastName = '';
  for (const s of samples) {
    const { __name__: name, ...rest } = s.labels;
    if (name !== lastName) {
      const [type, help] = HELP[name!] ?? ['untyped', ''];
      lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
      lastName = name!;
    }
    const pairs = Object.entries(rest).map(([k, v]) => `${k}="${escapeLabelValue(v)}"`);
    lines.push(`${name}${pairs.length ? `{${pairs.join(',')}}` : ''} ${formatValue(s.value)}`);
  }
  return lines.join('\n') + '\n';
}

function formatValue(v: number): string {
  if (Number.isNaN(v)) return 'NaN';
  if (v === Infinity) return '+Inf';
  if (v === -Infinity) return '-Inf';
  return String(v);
}

export async function startExporter(opts: { hosts: number | string[]; t?: Teardown }): Promise<Exporter> {
  const names = typeof opts.hosts === 'number' ? Array.from({ length: opts.hosts }, (_, i) => `pmm-host-${i + 1}`) : opts.hosts;
  const scrapes: ScrapeRecord[] = [];
  const servers: http.Server[] = [];
  const hosts: ExporterHost[] = [];
  let frozen = false;

  for (const [index, name] of names.entries()) {
    let n = 0;
    const host: ExporterHost = { name, index, target: '', port: 0 };
    const server = http.createServer((req, res) => {
      if (req.url !== '/metrics' || req.method !== 'GET') {
        res.writeHead(404).end('only GET /metrics\n');
        return;
      }
      if (frozen) {
        res.writeHead(503, { 'content-type': 'text/plain' }).end('exporter frozen by the test\n');
        return;
      }
      n++;
      const samples = samplesFor(name, index, n);
      scrapes.push({ host: name, target: host.target, n, time: Date.now(), samples });
      const body = renderExposition(samples);
      res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8', 'content-length': Buffer.byteLength(body) });
      res.end(body);
    });
    server.keepAliveTimeout = 60_000;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen({ host: '127.0.0.1', port: 0 }, () => resolve());
    });
    host.port = (server.address() as AddressInfo).port;
    host.target = `127.0.0.1:${host.port}`;
    hosts.push(host);
    servers.push(server);
  }

  let stopped: Promise<void> | null = null;
  const exporter: Exporter = {
    hosts,
    targets: hosts.map((h) => h.target),
    scrapes,
    metricNames: [...EXPORTER_METRICS],
    freeze() {
      frozen = true;
    },
    stop: () =>
      (stopped ??= Promise.all(
        servers.map(
          (s) =>
            new Promise<void>((resolve) => {
              s.close(() => resolve());
              s.closeAllConnections();
            }),
        ),
      ).then(() => undefined)),
  };
  opts.t?.teardown(() => exporter.stop());
  return exporter;
}
