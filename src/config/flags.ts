// Every flag Spillway takes, with its default and the reason for that default. Names follow
// vminsert's where the meaning is the same, so an operator swapping vminsert for Spillway
// keeps the flags they know.

export type FlagType = 'string' | 'int' | 'bytes' | 'duration' | 'bool' | 'list';

export interface FlagSpec {
  readonly name: string;
  readonly type: FlagType;
  /** The default as written on the command line ('' for an empty list). */
  readonly default: string;
  /** What it does and why the default is what it is. */
  readonly help: string;
  /** For enumerated string flags: the accepted values. */
  readonly values?: readonly string[];
}

export const FLAGS: readonly FlagSpec[] = [
  {
    name: 'httpListenAddr',
    type: 'string',
    default: ':8480',
    help: 'Address to listen on for remote-write ingest, health, status and /metrics. :8480 is vminsert\'s port, so vmagents and load balancers need no change.',
  },
  {
    name: 'tls',
    type: 'bool',
    default: 'false',
    help: 'Serve HTTPS on -httpListenAddr with -tlsCertFile and -tlsKeyFile, as vminsert does.',
  },
  {
    name: 'tlsCertFile',
    type: 'string',
    default: '',
    help: 'PEM certificate (chain) for -tls, e.g. issued by your internal CA.',
  },
  {
    name: 'tlsKeyFile',
    type: 'string',
    default: '',
    help: 'PEM private key for -tls; readable only by the Spillway user.',
  },
  {
    name: 'httpAuth.username',
    type: 'string',
    default: '',
    help: 'Require HTTP basic auth with this user on the write paths, /metrics and the status page (health and readiness stay open for probes). Empty: no basic auth.',
  },
  {
    name: 'httpAuth.password',
    type: 'string',
    default: '',
    help: 'Password for -httpAuth.username. Prefer the environment variable to keep it out of the process list.',
  },
  {
    name: 'httpAuth.tokensFile',
    type: 'string',
    default: '',
    help: 'File of bearer tokens accepted like -httpAuth.username, one per line: "<token>" for any tenant, or "<token> <accountID>[:<projectID>]" for that tenant only (another tenant\'s path gets 403). # starts a comment.',
  },
  {
    name: 'remoteWrite.url',
    type: 'list',
    default: 'http://127.0.0.1:8428/api/v1/write',
    help: 'Remote-write URL of a storage node; repeat the flag (or separate with commas) for several nodes. Each URL is one node on the hash ring and its identity for hashing, exactly as written. A {tenant} placeholder is replaced by the request tenant ("accountID:projectID"), e.g. http://vminsert:8480/insert/{tenant}/prometheus/api/v1/write; without it the tenant is not carried. The default is a single-node VictoriaMetrics on this host.',
  },
  {
    name: 'storageNode',
    type: 'list',
    default: '',
    help: 'A vmstorage node (host:port, port 8400 when omitted) spoken to over its native protocol, as vminsert does; repeat the flag or separate with commas. The string as written is the node identity for hashing, so a vminsert -storageNode list keeps every series where vminsert put it. When given without -remoteWrite.url, no remote-write default node is added.',
  },
  {
    name: 'nodesFile',
    type: 'string',
    default: '',
    help: 'File listing more storage nodes, one per line: an http(s):// URL is a remote-write node, host:port a vmstorage node; # starts a comment. Re-read on SIGHUP, so nodes can be added or removed without a restart: a removed node\'s queue is re-routed through the new ring, a new node starts empty.',
  },
  {
    name: 'rerouteOnUnavailable',
    type: 'bool',
    default: 'false',
    help: 'When a node is down or read-only, send its share of new data to the next available nodes (as vminsert does) instead of holding it in its spool. Off by default: holding avoids series churn and a later merge, at the price of the node\'s share arriving late. Already spooled data is never re-routed.',
  },
  {
    name: 'replicationFactor',
    type: 'int',
    default: '1',
    help: 'How many distinct nodes get each series, as in vminsert. 1 keeps one copy; 2 survives the loss of one node. Capped at the number of nodes.',
  },
  {
    name: 'maxInsertRequestSize',
    type: 'bytes',
    default: '32MiB',
    help: 'Largest accepted request body, compressed and uncompressed. 32MiB is vminsert\'s default and well above vmagent\'s 8MiB blocks; larger bodies get 413.',
  },
  {
    name: 'maxConcurrentInserts',
    type: 'int',
    default: '32',
    help: 'Write requests processed at once (after their bodies arrived); the rest wait up to -insert.maxQueueDuration. Bounds memory in a reconnect storm of many vmagents. Higher than vminsert\'s CPU-based default because requests here mostly wait for the shared spool fsync, and more of them per fsync is cheaper.',
  },
  {
    name: 'insert.maxBufferedBytes',
    type: 'bytes',
    default: '64MiB',
    help: 'Request body bytes all write requests together may be reading or holding. A request reserves its Content-Length before its body is read; past this budget it waits with the body left in the socket (so thousands of replaying vmagents cost queueing, not memory), then gets 503 with Retry-After. 64MiB keeps the insert slots busy with vmagent\'s blocks (a few hundred KiB to 8MiB each); it is raised to -maxInsertRequestSize when that is larger.',
  },
  {
    name: 'insert.workers',
    type: 'int',
    default: '2',
    help: 'Worker threads that decompress, decode and split write requests, so ingest uses more than one core; the main thread keeps HTTP, the spools and delivery. On 2 cores, 2 measured 1.6-1.7x the samples/s of 0 with about 25% less CPU per sample (and more samples/s even on one core), for about 150 MiB more memory; raise it with more cores. 0 does all of it on the main thread.',
  },
  {
    name: 'insert.minBodyRate',
    type: 'bytes',
    default: '64KiB',
    help: 'Bytes per second a write body must arrive at, on average, from one second after it was admitted to -insert.maxBufferedBytes; a slower body gets 408 and its reservation goes to the next request (the client retries). Stops a few trickling clients that declare large bodies from holding the budget every other write waits for. 64KiB/s is far below any LAN or WAN link a vmagent pushes over; 0 turns the check off.',
  },
  {
    name: 'insert.maxQueueDuration',
    type: 'duration',
    default: '1m',
    help: 'How long a write request waits for one of -maxConcurrentInserts before it gets 503 with Retry-After (the client retries). 1m as in vminsert.',
  },
  {
    name: 'maxLabelsPerTimeseries',
    type: 'int',
    default: '40',
    help: 'A series with more labels is dropped (the rest of the request is kept) and counted by reason. 40 matches current vminsert.',
  },
  {
    name: 'maxLabelNameLen',
    type: 'int',
    default: '256',
    help: 'A series with a longer label name (bytes) is dropped and counted. 256 matches vminsert.',
  },
  {
    name: 'maxLabelValueLen',
    type: 'int',
    default: '4096',
    help: 'A series with a longer label value (bytes) is dropped and counted. 4096 matches current vminsert.',
  },
  {
    name: 'spool.path',
    type: 'string',
    default: './spillway-data',
    help: 'Directory for the per-node spools. Put it on a disk sized for the longest outage you want to ride out (see the bench capacity table). One Spillway process per directory; it is locked.',
  },
  {
    name: 'spool.segmentSize',
    type: 'bytes',
    default: '64MiB',
    help: 'Size at which a node\'s spool starts a new segment file. Delivered segments are deleted whole, so smaller segments free disk sooner; 64MiB keeps the file count low on long outages.',
  },
  {
    name: 'spool.fsync',
    type: 'string',
    default: 'always',
    help: '"always": every acknowledged request is fsync\'d first (concurrent requests share one fsync); survives power loss. A duration (e.g. 1s): fsync at most that often; faster, but a power loss or kernel crash can lose up to that window of acknowledged data (a process crash loses nothing).',
  },
  {
    name: 'spool.maxDiskUsagePerNode',
    type: 'bytes',
    default: '0',
    help: 'Cap on a node\'s spool size; 0 means no cap beyond the disk itself. What happens at the cap is -spool.onFull.',
  },
  {
    name: 'spool.maxAge',
    type: 'duration',
    default: '0',
    help: 'Cap on the age of a node\'s oldest unsent record; 0 means no cap. Useful when storage drops old samples anyway (VictoriaMetrics drops samples older than its -retentionPeriod).',
  },
  {
    name: 'spool.onFull',
    type: 'string',
    default: 'reject',
    values: ['reject', 'drop-oldest'],
    help: '"reject": answer 503 with Retry-After and keep everything already accepted (vmagent keeps the data and retries). "drop-oldest": keep accepting and drop the oldest records of the full node, counted and logged.',
  },
  {
    name: 'spool.memoryCacheSize',
    type: 'bytes',
    default: '16MiB',
    help: 'Recent records kept in memory per node, so a sender that keeps up never reads the disk. Memory stays flat however large a backlog grows on disk.',
  },
  {
    name: 'replay.maxSamplesPerSecond',
    type: 'int',
    default: '0',
    help: 'Pace a node\'s backlog replay to at most this many samples per second, so a node back from an outage is not knocked over. 0 means unpaced.',
  },
  {
    name: 'remoteWrite.basicAuth.username',
    type: 'string',
    default: '',
    help: 'Basic auth user for remote-write nodes whose URL carries no user:password@ of its own (a PMM Server wants its admin credentials). Never shown in logs, metrics or the status page.',
  },
  {
    name: 'remoteWrite.basicAuth.password',
    type: 'string',
    default: '',
    help: 'Password for -remoteWrite.basicAuth.username. Prefer the environment variable.',
  },
  {
    name: 'remoteWrite.bearerToken',
    type: 'string',
    default: '',
    help: 'Bearer token sent to remote-write nodes that have no other credentials. Never shown in logs, metrics or the status page.',
  },
  {
    name: 'remoteWrite.tlsCAFile',
    type: 'string',
    default: '',
    help: 'PEM CA bundle to verify https:// remote-write nodes (a PMM Server with its own CA). Empty: the system roots.',
  },
  {
    name: 'remoteWrite.tlsInsecureSkipVerify',
    type: 'bool',
    default: 'false',
    help: 'Do not verify the certificate of https:// remote-write nodes (PMM Server\'s default self-signed certificate). Encrypts but does not authenticate the node.',
  },
  {
    name: 'remoteWrite.sendTimeout',
    type: 'duration',
    default: '30s',
    help: 'Timeout for one request to a storage node; on timeout the record is retried. 30s is vmagent\'s default.',
  },
  {
    name: 'remoteWrite.protocol',
    type: 'string',
    default: '1',
    values: ['1', '2'],
    help: 'Remote-write version sent to remote-write nodes. 1 is what every receiver takes. 2 (Prometheus 3, Mimir) is smaller on the wire; a node answering 415 to it gets 1 from then on, as vmagent does, and a 2.0 node\'s Written header is checked so samples it did not store are counted. The spool keeps 1.0 either way.',
  },
  {
    name: 'remoteWrite.maxInflightPerNode',
    type: 'int',
    default: '1',
    help: 'Records sent to one remote-write node at once. 1 (the default) keeps every series strictly in order, which Prometheus and Mimir need (they refuse out-of-order samples). VictoriaMetrics accepts any order: a higher value there replays a backlog faster over a high-latency link. The checkpoint still only moves past records acknowledged in order.',
  },
  {
    name: 'remoteWrite.retryMinInterval',
    type: 'duration',
    default: '1s',
    help: 'First backoff after a failed send; doubles (with jitter) up to -remoteWrite.retryMaxInterval. A Retry-After from the node takes precedence.',
  },
  {
    name: 'remoteWrite.retryMaxInterval',
    type: 'duration',
    default: '1m',
    help: 'Longest backoff between retries to an unavailable node; bounds how late delivery resumes after the node returns.',
  },
  {
    name: 'http.shutdownDelay',
    type: 'duration',
    default: '0s',
    help: 'On SIGTERM, how long to keep serving while /-/ready answers 503, so the load balancer stops sending first.',
  },
  {
    name: 'http.gracePeriod',
    type: 'duration',
    default: '30s',
    help: 'On SIGTERM, after -http.shutdownDelay, how long in-flight requests and the final fsync get before the process exits anyway. Keep -http.shutdownDelay plus this below the orchestrator\'s kill timeout.',
  },
  {
    name: 'loggerLevel',
    type: 'string',
    default: 'INFO',
    values: ['DEBUG', 'INFO', 'WARN', 'ERROR'],
    help: 'Minimum level of log lines (JSON, one per line, on stderr).',
  },
] as const;

export const FLAG_BY_NAME: ReadonlyMap<string, FlagSpec> = new Map(FLAGS.map((f) => [f.name, f]));

/** Environment variable that overrides a flag: SPILLWAY_ + name upper-cased, dots as underscores. */
export function envName(flag: string): string {
  return 'SPILLWAY_' + flag.replace(/\./g, '_').toUpperCase();
}
