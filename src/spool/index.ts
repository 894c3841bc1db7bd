// The spool's public surface. See DESIGN.md §4 and the header comments of each file.
export type { AppendInput, NodeSpool, RecordMeta, SpoolOptions, SpoolRecord, SpoolStats } from './types.js';
export { RecordKind } from './types.js';
export { FileNodeSpool } from './node-spool.js';
export type { MovedAside, NodeSpoolOptions, NodeSpoolStats, RecoveryReport, SpoolLog } from './node-spool.js';
export { closeSpools, nodeDirName, openSpools } from './spool-set.js';
export type { OrphanedQueue, SpoolSet, SpoolSetReport } from './spool-set.js';
export { acquireLockSync } from './lock.js';
export type { LockInfo, SpoolLock } from './lock.js';
export type { SpoolIo } from './io.js';
export { crc32c } from './crc32c.js';
export { FRAME_HEADER } from './record.js';
