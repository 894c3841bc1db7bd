// Turns flags and environment into one validated, frozen Config. Nothing else reads argv or env.

import { SpillwayError } from '../errors.js';
import type { SeriesLimits } from '../protocol/prw/types.js';
import type { SpoolOptions } from '../spool/types.js';
import { FLAG_BY_NAME } from './flags.js';
import { listOf, parseBool, parseBytes, parseDuration, parseInt32, readFlags, valueOf, type RawFlags } from './parse.js';

export type StorageNodeConfig =
  | {
      kind: 'remote-write';
      /** The URL exactly as configured: the node's identity on the hash ring and in the spool. */
      id: string;
      url: string;
    }
  | {
      kind: 'vmstorage';
      /** The -storageNode entry exactly as configured (its hashing identity). */
      id: string;
      addr: string;
    };

export interface SenderOptions {
  sendTimeoutMs: number;
  retryMinIntervalMs: number;
  retryMaxIntervalMs: number;
  replayMaxSamplesPerSecond: number;
}

export interface Config {
  listen: { host: string; port: number };
  /** Every node on the ring: -remoteWrite.url entries first, then -storageNode entries, each in the order given. */
  nodes: readonly StorageNodeConfig[];
  rerouteOnUnavailable: boolean;
  replicationFactor: number;
  maxInsertRequestSize: number;
  limits: Readonly<SeriesLimits>;
  spool: Readonly<SpoolOptions>;
  sender: Readonly<SenderOptions>;
  shutdownDelayMs: number;
  gracePeriodMs: number;
  logLevel: 'DEBUG' | 'INFO' | 'WARN' | 'ERROR';
}

export type LoadResult = { kind: 'help' } | { kind: 'version' } | { kind: 'run'; config: Config };

export function loadConfig(argv: readonly string[], env: NodeJS.ProcessEnv): LoadResult {
  const raw = readFlags(argv, env);
  if (raw.help) return { kind: 'help' };
  if (raw.version) return { kind: 'version' };
  return { kind: 'run', config: buildConfig(raw) };
}

function str(raw: RawFlags, name: string): string {
  const spec = FLAG_BY_NAME.get(name)!;
  const v = valueOf(raw, spec);
  if (spec.values && !spec.values.includes(v)) {
    throw new SpillwayError('SPW_ERR_CONFIG', `-${name}=${v} must be one of ${spec.values.join(', ')}`);
  }
  return v;
}

function buildConfig(raw: RawFlags): Config {
  const int = (name: string, min = 0) => parseInt32(name, str(raw, name), min);
  const bytes = (name: string) => parseBytes(name, str(raw, name));
  const ms = (name: string) => parseDuration(name, str(raw, name));

  const storageNodes = listOf(raw, FLAG_BY_NAME.get('storageNode')!);
  // The local VictoriaMetrics default applies only when no node of either kind is configured.
  const urls = storageNodes.length > 0 && !raw.values.has('remoteWrite.url') ? [] : listOf(raw, FLAG_BY_NAME.get('remoteWrite.url')!);
  if (urls.length + storageNodes.length === 0) throw new SpillwayError('SPW_ERR_CONFIG', 'no storage node: give -remoteWrite.url or -storageNode');
  const seen = new Set<string>();
  const nodes: StorageNodeConfig[] = urls.map((url) => {
    if (seen.has(url)) throw new SpillwayError('SPW_ERR_CONFIG', `-remoteWrite.url=${url} is listed twice; each node must appear once`);
    seen.add(url);
    let parsed: URL;
    try {
      parsed = new URL(url.replace('{tenant}', '0:0'));
    } catch {
      throw new SpillwayError('SPW_ERR_CONFIG', `-remoteWrite.url=${url} is not a URL; write e.g. http://127.0.0.1:8428/api/v1/write`);
    }
    if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
      throw new SpillwayError('SPW_ERR_CONFIG', `-remoteWrite.url=${url} must be http:// or https://`);
    }
    return Object.freeze({ kind: 'remote-write' as const, id: url, url });
  });
  for (const addr of storageNodes) {
    if (seen.has(addr)) throw new SpillwayError('SPW_ERR_CONFIG', `-storageNode=${addr} is listed twice; each node must appear once`);
    seen.add(addr);
    if (!/^(\[[^\]]+\]|[^:/\s]+)(:\d{1,5})?$/.test(addr)) {
      throw new SpillwayError('SPW_ERR_CONFIG', `-storageNode=${addr} must be host or host:port, e.g. vmstorage-1:8400`);
    }
    nodes.push(Object.freeze({ kind: 'vmstorage' as const, id: addr, addr }));
  }

  const fsyncRaw = str(raw, 'spool.fsync');
  const fsync: 'always' | number = fsyncRaw === 'always' ? 'always' : parseDuration('spool.fsync', fsyncRaw);
  if (fsync !== 'always' && fsync <= 0) {
    throw new SpillwayError('SPW_ERR_CONFIG', `-spool.fsync=${fsyncRaw} must be "always" or a positive duration such as 1s`);
  }

  const maxInsertRequestSize = bytes('maxInsertRequestSize');
  if (maxInsertRequestSize < 1024) throw new SpillwayError('SPW_ERR_CONFIG', '-maxInsertRequestSize must be at least 1KiB');
  const segmentSize = bytes('spool.segmentSize');
  if (segmentSize < 4096) throw new SpillwayError('SPW_ERR_CONFIG', '-spool.segmentSize must be at least 4KiB');

  const config: Config = {
    listen: parseListenAddr(str(raw, 'httpListenAddr')),
    nodes: Object.freeze(nodes),
    rerouteOnUnavailable: parseBool('rerouteOnUnavailable', str(raw, 'rerouteOnUnavailable')),
    replicationFactor: int('replicationFactor', 1),
    maxInsertRequestSize,
    limits: Object.freeze({
      maxLabelsPerTimeseries: int('maxLabelsPerTimeseries', 1),
      maxLabelNameLen: int('maxLabelNameLen', 1),
      maxLabelValueLen: int('maxLabelValueLen', 1),
    }),
    spool: Object.freeze({
      path: str(raw, 'spool.path'),
      segmentSize,
      fsync,
      maxDiskUsagePerNode: bytes('spool.maxDiskUsagePerNode'),
      maxAgeMs: ms('spool.maxAge'),
      onFull: str(raw, 'spool.onFull') as 'reject' | 'drop-oldest',
      memoryCacheBytes: bytes('spool.memoryCacheSize'),
    }),
    sender: Object.freeze({
      sendTimeoutMs: ms('remoteWrite.sendTimeout'),
      retryMinIntervalMs: ms('remoteWrite.retryMinInterval'),
      retryMaxIntervalMs: ms('remoteWrite.retryMaxInterval'),
      replayMaxSamplesPerSecond: int('replay.maxSamplesPerSecond'),
    }),
    shutdownDelayMs: ms('http.shutdownDelay'),
    gracePeriodMs: ms('http.gracePeriod'),
    logLevel: str(raw, 'loggerLevel') as Config['logLevel'],
  };
  if (config.sender.retryMinIntervalMs > config.sender.retryMaxIntervalMs) {
    throw new SpillwayError('SPW_ERR_CONFIG', '-remoteWrite.retryMinInterval must not exceed -remoteWrite.retryMaxInterval');
  }
  return Object.freeze(config);
}

/** ":8480" listens on every interface, like vminsert; "127.0.0.1:8480" and "[::1]:8480" on one. */
export function parseListenAddr(addr: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d+)$/.exec(addr.trim());
  if (!m) throw new SpillwayError('SPW_ERR_CONFIG', `-httpListenAddr=${addr} must look like :8480 or 127.0.0.1:8480`);
  const port = Number(m[3]);
  if (port > 65535) throw new SpillwayError('SPW_ERR_CONFIG', `-httpListenAddr=${addr}: port out of range`);
  const host = m[1] ?? m[2] ?? '';
  return { host: host === '' ? '::' : host, port };
}
