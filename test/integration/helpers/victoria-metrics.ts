// Single-node victoria-metrics (Debian 1.79.5) as a storage node for tests and the demo,
// and reading back what it stored through /api/v1/export.
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { peerPath } from './peers.js';
import { freePort } from './ports.js';
import { httpRequest, startProc, waitForHttp, type Proc, type Teardown } from './procs.js';

export interface VictoriaMetricsOptions {
  t?: Teardown;
  /** Loopback port; a free one by default. */
  port?: number;
  /** Storage directory; a fresh temporary one (removed on stop) by default. */
  dataDir?: string;
  /**
   * -dedup.minScrapeInterval. The default 1ms keeps every distinct timestamp but folds
   * exact re-sends (at-least-once delivery) into one sample, as DESIGN §4 relies on.
   */
  dedupInterval?: string;
  extraArgs?: string[];
  maxLifetimeMs?: number;
  echo?: boolean;
}

export interface VictoriaMetrics {
  port: number;
  url: string;
  /** Prometheus remote-write endpoint. */
  writeUrl: string;
  exportUrl: string;
  dataDir: string;
  proc: Proc;
  /** Make everything ingested so far searchable (/internal/force_flush). */
  flush(): Promise<void>;
  /** SIGTERM, then SIGKILL after a grace period; removes a temporary data dir. */
  stop(): Promise<void>;
}

export async function startVictoriaMetrics(opts: VictoriaMetricsOptions = {}): Promise<VictoriaMetrics> {
  const bin = peerPath('victoria-metrics');
  const port = opts.port ?? (await freePort());
  const tempDir = opts.dataDir ? null : mkdtempSync(path.join(os.tmpdir(), 'spillway-vm-'));
  const dataDir = opts.dataDir ?? tempDir!;
  const args = [
    `-httpListenAddr=127.0.0.1:${port}`,
    `-storageDataPath=${dataDir}`,
    // A number would be months; 100y accepts any timestamp a test writes (it must still be
    // within now+2d, which vmstorage enforces on its own).
    '-retentionPeriod=100y',
    // Samples are visible to search as soon as they are flushed, not 30 s later.
    '-search.latencyOffset=0',
    '-search.disableCache',
    `-dedup.minScrapeInterval=${opts.dedupInterval ?? '1ms'}`,
    '-loggerLevel=WARN',
    ...(opts.extraArgs ?? []),
  ];
  const proc = startProc({
    name: `victoria-metrics:${port}`,
    cmd: bin,
    args,
    t: undefined,
    maxLifetimeMs: opts.maxLifetimeMs,
    echo: opts.echo,
  });
  const url = `http://127.0.0.1:${port}`;
  let stopped: Promise<void> | null = null;
  const vm: VictoriaMetrics = {
    port,
    url,
    writeUrl: `${url}/api/v1/write`,
    exportUrl: `${url}/api/v1/export`,
    dataDir,
    proc,
    flush: () => forceFlush(url),
    stop: () =>
      (stopped ??= (async () => {
        await proc.stop(10_000);
        if (tempDir) rmSync(tempDir, { recursive: true, force: true });
      })()),
  };
  opts.t?.teardown(() => vm.stop());
  try {
    await waitForHttp(`${url}/health`, { proc, timeoutMs: 20_000 });
  } catch (err) {
    await vm.stop();
    throw err;
  }
  return vm;
}

export async function forceFlush(vmUrl: string): Promise<void> {
  const res = await httpRequest(`${vmUrl}/internal/force_flush`);
  if (res.status !== 200) throw new Error(`force_flush on ${vmUrl}: HTTP ${res.status} ${res.body.toString('utf8').slice(0, 300)}`);
}

export interface ExportedSeries {
  metric: Record<string, string>;
  values: number[];
  timestamps: number[];
}

/**
 * Every series matching `match` (one or more series selectors) with all its samples,
 * read after a force_flush. Values NaN/+Inf/-Inf (which VictoriaMetrics writes as bare
 * words, not JSON) come back as the numbers they stand for.
 */
export async function exportSeries(
  vmUrl: string,
  match: string | string[],
  range: { start?: number; end?: number } = {},
): Promise<ExportedSeries[]> {
  await forceFlush(vmUrl);
  const params = new URLSearchParams();
  for (const m of Array.isArray(match) ? match : [match]) params.append('match[]', m);
  if (range.start !== undefined) params.set('start', String(range.start / 1000));
  if (range.end !== undefined) params.set('end', String(range.end / 1000));
  const res = await httpRequest(`${vmUrl}/api/v1/export`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: params.toString(),
    timeoutMs: 30_000,
  });
  if (res.status !== 200) throw new Error(`export from ${vmUrl}: HTTP ${res.status} ${res.body.toString('utf8').slice(0, 500)}`);
  return parseExport(res.body.toString('utf8'));
}

export function parseExport(text: string): ExportedSeries[] {
  const out: ExportedSeries[] = [];
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    out.push(parseExportLine(line));
  }
  return out;
}

const VALUES_KEY = ',"values":[';
const TIMESTAMPS_KEY = '],"timestamps":[';

/** One /api/v1/export JSON line. Label text is real JSON; the values array may hold NaN/+Inf/-Inf. */
export function parseExportLine(line: string): ExportedSeries {
  // A label value cannot contain an unescaped `"`, so these keys can only be the real ones.
  const v = line.lastIndexOf(VALUES_KEY);
  const ts = line.lastIndexOf(TIMESTAMPS_KEY);
  if (!line.startsWith('{"metric":') || v < 0 || ts < v) throw new Error(`unexpected export line: ${line.slice(0, 300)}`);
  const metric = JSON.parse(line.slice('{"metric":'.length, v)) as Record<string, string>;
  const valuesText = line.slice(v + VALUES_KEY.length, ts);
  const values = valuesText === '' ? [] : valuesText.split(',').map(parseExportValue);
  const timestamps = JSON.parse(`[${line.slice(ts + TIMESTAMPS_KEY.length, line.lastIndexOf(']'))}]`) as number[];
  if (values.length !== timestamps.length) throw new Error(`export line with ${values.length} values and ${timestamps.length} timestamps: ${line.slice(0, 300)}`);
  return { metric, values, timestamps };
}

function parseExportValue(s: string): number {
  switch (s) {
    case 'NaN':
    case 'null':
      return NaN;
    case '+Inf':
    case 'Inf':
      return Infinity;
    case '-Inf':
      return -Infinity;
  }
  const n = Number(s);
  if (Number.isNaN(n)) throw new Error(`unexpected value in export: ${s}`);
  return n;
}

/** A stable identity for a label set: sorted `name="value"` pairs. */
export function seriesKey(labels: Record<string, string>): string {
  return Object.keys(labels)
    .sort()
    .map((k) => `${k}=${JSON.stringify(labels[k])}`)
    .join(',');
}

/**
 * Export `match` until the total number of samples has not changed for `stableMs` and
 * `ready` (if given) accepts the result, or until `timeoutMs` passes; returns the last
 * export either way (the caller's assertions then say what is missing).
 */
export async function exportWhenStable(
  vmUrl: string,
  match: string | string[],
  opts: { stableMs?: number; timeoutMs?: number; intervalMs?: number; ready?: (series: ExportedSeries[]) => boolean } = {},
): Promise<ExportedSeries[]> {
  const stableMs = opts.stableMs ?? 2_000;
  const deadline = Date.now() + (opts.timeoutMs ?? 20_000);
  let last = -1;
  let lastChange = Date.now();
  for (;;) {
    const series = await exportSeries(vmUrl, match);
    const count = sampleCount(series);
    const now = Date.now();
    if (count !== last) {
      last = count;
      lastChange = now;
    } else if (now - lastChange >= stableMs && (opts.ready?.(series) ?? true)) {
      return series;
    }
    if (now >= deadline) return series;
    await new Promise((r) => setTimeout(r, opts.intervalMs ?? 250));
  }
}

export function sampleCount(series: ExportedSeries[]): number {
  return series.reduce((n, s) => n + s.values.length, 0);
}

export interface RawSeriesName {
  /** The metric name (__name__) bytes. */
  name: Buffer;
  /** Other labels as raw bytes, sorted by name as VictoriaMetrics stores them. */
  labels: Array<[Buffer, Buffer]>;
}

/**
 * The exact label bytes of every series matching `match`, from /api/v1/export/native.
 * JSON export replaces invalid UTF-8 with U+FFFD; this does not, so a test can check that
 * label bytes went through unchanged.
 *
 * Format (1.79.5): 16 bytes of time range, then per block: u32be length + MetricName,
 * u32be length + block. A MetricName is the metric group then key, value pairs, each
 * part terminated by 0x01, with 0x00/0x01/0x02 escaped as 0x00 followed by '0'/'1'/'2'.
 */
export async function exportRawNames(vmUrl: string, match: string | string[]): Promise<RawSeriesName[]> {
  await forceFlush(vmUrl);
  const params = new URLSearchParams();
  for (const m of Array.isArray(match) ? match : [match]) params.append('match[]', m);
  const res = await httpRequest(`${vmUrl}/api/v1/export/native`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: params.toString(),
    timeoutMs: 30_000,
  });
  if (res.status !== 200) throw new Error(`native export from ${vmUrl}: HTTP ${res.status} ${res.body.toString('utf8').slice(0, 500)}`);
  const buf = res.body;
  const seen = new Map<string, RawSeriesName>();
  let off = 16;
  while (off < buf.length) {
    if (off + 4 > buf.length) throw new Error('native export: truncated name length');
    const nameLen = buf.readUInt32BE(off);
    off += 4;
    const raw = buf.subarray(off, off + nameLen);
    off += nameLen;
    if (off + 4 > buf.length) throw new Error('native export: truncated block length');
    off += 4 + buf.readUInt32BE(off);
    const hex = raw.toString('hex');
    if (!seen.has(hex)) seen.set(hex, parseNativeMetricName(raw));
  }
  return [...seen.values()];
}

function parseNativeMetricName(raw: Buffer): RawSeriesName {
  const parts: Buffer[] = [];
  let cur: number[] = [];
  for (let i = 0; i < raw.length; i++) {
    const b = raw[i]!;
    if (b === 0x00) {
      const e = raw[++i];
      if (e === undefined || e < 0x30 || e > 0x32) throw new Error(`native export: bad escape in metric name ${raw.toString('hex')}`);
      cur.push(e - 0x30);
    } else if (b === 0x01) {
      parts.push(Buffer.from(cur));
      cur = [];
    } else {
      cur.push(b);
    }
  }
  if (cur.length > 0 || parts.length % 2 !== 1) throw new Error(`native export: malformed metric name ${raw.toString('hex')}`);
  const labels: Array<[Buffer, Buffer]> = [];
  for (let i = 1; i < parts.length; i += 2) labels.push([parts[i]!, parts[i + 1]!]);
  return { name: parts[0]!, labels };
}
