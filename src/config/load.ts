// Turns flags and environment into one validated, frozen Config. Nothing else reads argv or env.

import { readFileSync } from 'node:fs';
import { SpillwayError } from '../errors.js';
import { redact } from './redact.js';
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

export interface DownstreamAuth {
  basicUsername: string;
  basicPassword: string;
  bearerToken: string;
  tlsCA: string;
  tlsInsecureSkipVerify: boolean;
}

export interface SenderOptions {
  sendTimeoutMs: number;
  retryMinIntervalMs: number;
  retryMaxIntervalMs: number;
  replayMaxSamplesPerSecond: number;
  /** Records sent to one node at once; 1 keeps each node's samples in strict order. */
  maxInflightPerNode?: number;
  /** Remote-write version to send (2 falls back to 1 on 415). */
  protocol?: 1 | 2;
  /** Credentials and TLS settings for remote-write nodes. */
  auth?: DownstreamAuth;
}

export interface Config {
  listen: { host: string; port: number };
  /** -tls: certificate and key contents, or undefined for plain HTTP. */
  tls: { cert: Buffer; key: Buffer } | undefined;
  httpAuth: { username: string; password: string; tokensFile: string };
  /** Every node on the ring: -remoteWrite.url entries, then -storageNode entries, then -nodesFile lines, each in the order given. */
  nodes: readonly StorageNodeConfig[];
  /** The nodes given by flags (fixed for the life of the process). */
  flagNodes: readonly StorageNodeConfig[];
  /** -nodesFile ('' when not used); re-read on SIGHUP. */
  nodesFile: string;
  rerouteOnUnavailable: boolean;
  replicationFactor: number;
  maxInsertRequestSize: number;
  maxConcurrentInserts: number;
  insertMaxBufferedBytes: number;
  insertMaxQueueMs: number;
  /** Bytes/s a write body must keep up once admitted (-insert.minBodyRate); 0 = off. */
  insertMinBodyRate: number;
  /** Decode worker threads (-insert.workers); 0 = the main thread. */
  insertWorkers: number;
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
  const nodesFile = str(raw, 'nodesFile');
  // The local VictoriaMetrics default applies only when no node is configured any other way.
  const urls = (storageNodes.length > 0 || nodesFile !== '') && !raw.values.has('remoteWrite.url') ? [] : listOf(raw, FLAG_BY_NAME.get('remoteWrite.url')!);
  const flagNodes = nodeList(urls, storageNodes);
  const nodes = nodesFile === '' ? flagNodes : [...flagNodes, ...readNodesFile(nodesFile, flagNodes)];
  if (nodes.length === 0) throw new SpillwayError('SPW_ERR_CONFIG', 'no storage node: give -remoteWrite.url, -storageNode or a non-empty -nodesFile');

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
    tls: parseBool('tls', str(raw, 'tls')) ? readTls(str(raw, 'tlsCertFile'), str(raw, 'tlsKeyFile')) : undefined,
    httpAuth: Object.freeze({ username: str(raw, 'httpAuth.username'), password: str(raw, 'httpAuth.password'), tokensFile: str(raw, 'httpAuth.tokensFile') }),
    nodes: Object.freeze(nodes),
    flagNodes: Object.freeze(flagNodes),
    nodesFile,
    rerouteOnUnavailable: parseBool('rerouteOnUnavailable', str(raw, 'rerouteOnUnavailable')),
    replicationFactor: int('replicationFactor', 1),
    maxInsertRequestSize,
    maxConcurrentInserts: int('maxConcurrentInserts', 1),
    insertMaxBufferedBytes: bytes('insert.maxBufferedBytes'),
    insertMaxQueueMs: ms('insert.maxQueueDuration'),
    insertMinBodyRate: bytes('insert.minBodyRate'),
    insertWorkers: int('insert.workers', 0),
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
      maxInflightPerNode: int('remoteWrite.maxInflightPerNode', 1),
      protocol: str(raw, 'remoteWrite.protocol') === '2' ? 2 : 1,
      auth: Object.freeze({
        basicUsername: str(raw, 'remoteWrite.basicAuth.username'),
        basicPassword: str(raw, 'remoteWrite.basicAuth.password'),
        bearerToken: str(raw, 'remoteWrite.bearerToken'),
        tlsCA: readOptional('remoteWrite.tlsCAFile', str(raw, 'remoteWrite.tlsCAFile')),
        tlsInsecureSkipVerify: parseBool('remoteWrite.tlsInsecureSkipVerify', str(raw, 'remoteWrite.tlsInsecureSkipVerify')),
      }),
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

function readTls(certFile: string, keyFile: string): { cert: Buffer; key: Buffer } {
  if (certFile === '' || keyFile === '') throw new SpillwayError('SPW_ERR_CONFIG', '-tls needs -tlsCertFile and -tlsKeyFile');
  const read = (flag: string, f: string) => {
    try {
      return readFileSync(f);
    } catch (err) {
      throw new SpillwayError('SPW_ERR_CONFIG', `-${flag}=${f} cannot be read (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
    }
  };
  return { cert: read('tlsCertFile', certFile), key: read('tlsKeyFile', keyFile) };
}

function readOptional(flag: string, file: string): string {
  if (file === '') return '';
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    throw new SpillwayError('SPW_ERR_CONFIG', `-${flag}=${file} cannot be read (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
  }
}

function remoteWriteNode(url: string, where: string): StorageNodeConfig {
  let parsed: URL;
  try {
    parsed = new URL(url.replace('{tenant}', '0:0'));
  } catch {
    throw new SpillwayError('SPW_ERR_CONFIG', `${where}${redact(url)} is not a URL; write e.g. http://127.0.0.1:8428/api/v1/write`);
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
    throw new SpillwayError('SPW_ERR_CONFIG', `${where}${redact(url)} must be http:// or https://`);
  }
  return Object.freeze({ kind: 'remote-write' as const, id: url, url });
}

function vmstorageNode(addr: string, where: string): StorageNodeConfig {
  if (!/^(\[[^\]]+\]|[^:/\s]+)(:\d{1,5})?$/.test(addr)) {
    throw new SpillwayError('SPW_ERR_CONFIG', `${where}${addr} must be host or host:port, e.g. vmstorage-1:8400`);
  }
  return Object.freeze({ kind: 'vmstorage' as const, id: addr, addr });
}

function nodeList(urls: string[], storageNodes: string[]): StorageNodeConfig[] {
  const nodes = [...urls.map((u) => remoteWriteNode(u, '-remoteWrite.url=')), ...storageNodes.map((a) => vmstorageNode(a, '-storageNode='))];
  checkUnique(nodes, 'flags');
  return nodes;
}

function checkUnique(nodes: readonly StorageNodeConfig[], where: string): void {
  const seen = new Set<string>();
  for (const n of nodes) {
    if (seen.has(n.id)) throw new SpillwayError('SPW_ERR_CONFIG', `node ${redact(n.id)} is listed twice (${where}); each node must appear once`);
    seen.add(n.id);
  }
}

/**
 * The nodes of -nodesFile, after the flag nodes. Called at start and on SIGHUP; a file that
 * cannot be read or parsed is an error, so a bad edit never empties the ring.
 */
export function readNodesFile(file: string, flagNodes: readonly StorageNodeConfig[]): StorageNodeConfig[] {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new SpillwayError('SPW_ERR_CONFIG', `-nodesFile=${file} cannot be read (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
  }
  const nodes: StorageNodeConfig[] = [];
  text.split('\n').forEach((line, i) => {
    const entry = line.replace(/#.*/, '').trim();
    if (entry === '') return;
    const where = `-nodesFile ${file} line ${i + 1}: `;
    nodes.push(/^https?:\/\//i.test(entry) ? remoteWriteNode(entry, where) : vmstorageNode(entry, where));
  });
  checkUnique([...flagNodes, ...nodes], `flags and -nodesFile ${file}`);
  return nodes;
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
