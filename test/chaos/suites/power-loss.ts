// Power loss, simulated in process: a node spool is opened through its `io` seam with a
// wrapper that tracks, per file, how far it was written and how far fdatasync made it
// durable. At a random moment, in one synchronous step, the "machine crashes": the spool
// directory is copied as the disk could hold it after a power cut (every segment keeps its
// synced length; of the unsynced tail nothing, a prefix, a prefix with a zeroed hole, or all
// of it survives; a segment created since the last sync may lose its directory entry). The
// copy is recovered with FileNodeSpool.open and checked, then becomes the spool of the next
// round, so crashes land on queues that earlier recoveries repaired.
//
// With -spool.fsync=always every append whose promise resolved before the crash must be
// there, intact, in order. With an interval, acknowledged appends can be lost; the suite
// measures how many and how old they were, and checks the age stays within the interval
// plus the fsync time (what the README promises), not that nothing is lost. A last run on a
// slow disk checks the same promise directly: once writes stop, everything gets fsync'd.
//
// Not modelled: a checkpoint rename or a segment unlink undone by the crash. Both follow an
// fsync'd directory, and undoing them would only re-send delivered records.

import { copyFileSync, cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, statSync, writeFileSync } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { FileNodeSpool, type NodeSpoolOptions } from '../../../src/spool/node-spool.js';
import type { SpoolIo } from '../../../src/spool/io.js';
import { intact, rec, seqOf, spoolOpts } from '../../spool/helpers.js';
import { Rng, percentile, sized, sleep, type SuiteOptions } from '../lib/common.js';
import { Report, fmt, type SuiteResult } from '../lib/report.js';

const SIZES = {
  ci: { rounds: 30, appenders: 4, minRoundMs: 30, maxRoundMs: 250, intervalMs: 100, slowDiskMs: 1500 },
  long: { rounds: 150, appenders: 8, minRoundMs: 30, maxRoundMs: 600, intervalMs: 100, slowDiskMs: 10_000 },
};

const SEGMENT = /^[0-9a-f]{16}$/;

/** Per-file written and synced lengths, fed by the spool's io seam. */
class DiskModel {
  readonly files = new Map<string, { written: number; synced: number }>();
  readonly syncMs: number[] = [];
  /** Longest fsync since the last reset (only while recording). */
  roundSyncMax = 0;
  recording = false;
  /** Extra time every fdatasync takes (a slow disk); what it covers is fixed when it is called. */
  constructor(private readonly syncDelayMs = 0) {}

  /** Start times of the fsyncs running now. */
  private readonly running = new Set<number>();

  /** How long the oldest fsync still running has been running (ms). */
  inflightMs(now = performance.now()): number {
    let oldest = now;
    for (const t of this.running) if (t < oldest) oldest = t;
    return now - oldest;
  }
  private readonly paths = new WeakMap<FileHandle, string>();

  private pathOf(fh: FileHandle): string {
    let p = this.paths.get(fh);
    if (p === undefined) {
      p = readlinkSync(`/proc/self/fd/${fh.fd}`);
      this.paths.set(fh, p);
    }
    return p;
  }

  private file(p: string) {
    let f = this.files.get(p);
    if (!f) {
      f = { written: 0, synced: 0 };
      this.files.set(p, f);
    }
    return f;
  }

  /** Everything in `dir` now is durable (it is what recovery left, and recovery fsyncs). */
  adopt(dir: string): void {
    for (const name of readdirSync(dir)) {
      if (!SEGMENT.test(name)) continue;
      const p = path.join(dir, name);
      const size = statSync(p).size;
      this.files.set(p, { written: size, synced: size });
    }
  }

  readonly io: SpoolIo = {
    writev: async (fh, bufs, position) => {
      const p = this.pathOf(fh);
      const n = (await fh.writev(bufs, position)).bytesWritten;
      const f = this.file(p);
      f.written = Math.max(f.written, position + n);
      return n;
    },
    sync: async (fh) => {
      const f = this.file(this.pathOf(fh));
      // Only what was written before the call is covered by it.
      const upto = f.written;
      const t0 = performance.now();
      this.running.add(t0);
      try {
        if (this.syncDelayMs > 0) await sleep(this.syncDelayMs);
        await fh.datasync();
      } finally {
        this.running.delete(t0);
      }
      if (this.recording) {
        const ms = performance.now() - t0;
        this.syncMs.push(ms);
        if (ms > this.roundSyncMax) this.roundSyncMax = ms;
      }
      f.synced = Math.max(f.synced, upto);
    },
  };

  /**
   * The directory as a power cut could leave it, written to `to`. Synchronous, so nothing
   * the spool does interleaves with it (writes in libuv's pool may; those bytes are unsynced).
   */
  crashCopy(from: string, to: string, rng: Rng, stats: { cut: number; torn: number; holes: number; droppedFiles: number }): void {
    mkdirSync(to, { recursive: true });
    for (const name of readdirSync(from)) {
      const src = path.join(from, name);
      const dst = path.join(to, name);
      if (!SEGMENT.test(name)) {
        try {
          if (statSync(src).isDirectory()) cpSync(src, dst, { recursive: true });
          else if (name === 'checkpoint.tmp' && rng.chance(0.5)) continue; // never renamed: may not exist
          else copyFileSync(src, dst);
        } catch {
          // replaced or removed meanwhile (checkpoint.tmp renamed): its durable form is the other name
        }
        continue;
      }
      let data: Buffer;
      try {
        data = readFileSync(src);
      } catch {
        continue; // deleted meanwhile: a consumed segment
      }
      const f = this.files.get(src);
      // No write finished yet: the file was just created and its directory fsync may not
      // have completed, so its entry may be gone. (A finished write means it had.)
      if (!f && rng.chance(0.5)) {
        stats.droppedFiles++;
        continue;
      }
      const synced = f?.synced ?? 0;
      const keep = Math.min(synced, data.length);
      const tail = data.length - keep;
      let out = data;
      if (tail > 0) {
        switch (rng.int(0, 3)) {
          case 0:
            out = data.subarray(0, keep);
            stats.cut++;
            break;
          case 1:
            out = data.subarray(0, keep + rng.int(0, tail));
            stats.torn++;
            break;
          case 2: {
            out = Buffer.from(data.subarray(0, keep + rng.int(0, tail)));
            const from = keep + rng.int(0, Math.max(0, out.length - keep - 1));
            out.fill(0, from, Math.min(out.length, from + rng.int(1, 8192)));
            stats.holes++;
            break;
          }
          default:
            break; // every page made it
        }
      }
      writeFileSync(dst, out);
    }
  }
}

/**
 * How late timers run: a 5 ms timer chain noting how far behind schedule each tick fires.
 * current() also counts a tick that is overdue right now, so a stall still in progress at the
 * crash is included. The spool's sync timer is late by at most this plus one tick.
 */
class LagProbe {
  private max = 0;
  private expected = 0;
  private timer: NodeJS.Timeout | null = null;

  start(): void {
    this.expected = performance.now() + 5;
    this.timer = setTimeout(() => this.tick(), 5);
  }

  private tick(): void {
    const now = performance.now();
    this.max = Math.max(this.max, now - this.expected);
    this.expected = now + 5;
    this.timer = setTimeout(() => this.tick(), 5);
  }

  reset(): void {
    this.max = 0;
  }

  current(): number {
    return Math.max(this.max, performance.now() - this.expected) + 5;
  }

  stop(): void {
    if (this.timer) clearTimeout(this.timer);
  }
}

interface Acked {
  offset: number;
  ackedAt: number;
}

interface ModeResult {
  mode: string;
  rounds: number;
  appends: number;
  acked: number;
  expectedAtCrash: number;
  lost: number;
  lostMaxAgeMs: number;
  /** The largest (lost age − that round's bound); must stay ≤ 0. */
  worstOverBound: number;
  worstBound: string;
  corrupt: number;
  disorder: number;
  readBackProblems: number;
  reopenFailures: string[];
  syncP99: number;
  syncMax: number;
  loopDelayMax: number;
  recoveredUnacked: number;
  stats: { cut: number; torn: number; holes: number; droppedFiles: number };
}

async function runMode(fsync: 'always' | number, p: ReturnType<typeof sized<(typeof SIZES)['ci']>>, rng: Rng, log: (s: string) => void): Promise<ModeResult> {
  const root = mkdtempSync(path.join(os.tmpdir(), 'spillway-chaos-power-'));
  const loop = new LagProbe();
  loop.start();
  const res: ModeResult = {
    mode: fsync === 'always' ? 'always' : `${fsync}ms`,
    rounds: 0,
    appends: 0,
    acked: 0,
    expectedAtCrash: 0,
    lost: 0,
    lostMaxAgeMs: 0,
    worstOverBound: -Infinity,
    worstBound: '-',
    corrupt: 0,
    disorder: 0,
    readBackProblems: 0,
    reopenFailures: [],
    syncP99: 0,
    syncMax: 0,
    loopDelayMax: 0,
    recoveredUnacked: 0,
    stats: { cut: 0, torn: 0, holes: 0, droppedFiles: 0 },
  };
  const model = new DiskModel();
  const options = (dir: string): NodeSpoolOptions => ({
    ...spoolOpts(dir, { fsync, checkpointIntervalMs: 20, memoryCacheBytes: 256 * 1024 }),
    io: model.io,
  });
  // Acknowledged and not yet known to be delivered: seq → where it went and when.
  const ledger = new Map<number, Acked>();
  let nextSeq = 1;
  let dir = path.join(root, 'r0');
  mkdirSync(dir);
  let spool = await FileNodeSpool.open(dir, 'node-a', options(dir));
  model.adopt(dir);
  try {
    for (let round = 1; round <= p.rounds; round++) {
      let crashed = false;
      const appender = async () => {
        while (!crashed) {
          const seq = nextSeq++;
          res.appends++;
          try {
            const offset = await spool.appendAt(rec(seq, rng.int(40, 2000)));
            if (crashed) return; // acknowledged after the power went: not a promise made
            ledger.set(seq, { offset, ackedAt: Date.now() });
            res.acked++;
          } catch {
            return; // closing
          }
          await sleep(rng.int(0, 3));
        }
      };
      // In about half the rounds the node is down and the backlog grows; in the others the
      // reader catches up, committing and deleting delivered segments as it goes.
      const nodeUp = rng.chance(0.5);
      const reader = async () => {
        if (!nodeUp) return;
        let cur = spool.readOffset;
        let last = 0;
        let n = 0;
        while (!crashed) {
          const r = await spool.read(cur);
          if (r === null) {
            await Promise.race([spool.waitForData(cur), sleep(20)]);
            continue;
          }
          if (!intact(r)) res.readBackProblems++;
          if (seqOf(r) <= last) res.readBackProblems++;
          last = seqOf(r);
          await spool.commit(r.nextOffset);
          cur = r.nextOffset;
          // Now and then slower than the writers, so a backlog builds across segments.
          if (++n % 16 === 0 && rng.chance(0.3)) await sleep(rng.int(1, 10));
        }
      };
      model.roundSyncMax = 0;
      model.recording = true;
      loop.reset();
      const work = [...Array.from({ length: p.appenders }, appender), reader()];
      await sleep(rng.int(p.minRoundMs, p.maxRoundMs));

      // The crash: one synchronous step.
      crashed = true;
      model.recording = false;
      const crashAt = Date.now();
      const loopMax = loop.current();
      res.loopDelayMax = Math.max(res.loopDelayMax, loopMax);
      // The interval window: a record is synced by the timer armed at or before its write
      // (the interval), possibly after the sync already running (one fsync) plus its own;
      // timers fire late by the event loop's delay (a loaded machine stretches the window).
      const syncMs = Math.max(model.roundSyncMax, model.inflightMs());
      const bound = typeof fsync === 'number' ? fsync + 2 * syncMs + loopMax + 20 : 0;
      const boundText = `${fsync} + 2×${syncMs.toFixed(0)} fsync + ${loopMax.toFixed(0)} loop delay + 20`;
      const next = path.join(root, `r${round}`);
      model.crashCopy(dir, next, rng, res.stats);

      await spool.close().catch(() => {});
      await Promise.all(work);
      rmSync(dir, { recursive: true, force: true });
      for (const k of [...model.files.keys()]) if (k.startsWith(`${dir}/`)) model.files.delete(k);
      dir = next;

      // Recover and check.
      try {
        spool = await FileNodeSpool.open(dir, 'node-a', options(dir));
      } catch (err) {
        res.reopenFailures.push(`round ${round}: ${(err as Error).message}`);
        break;
      }
      model.adopt(dir);
      res.rounds++;
      const from = spool.readOffset;
      const found = new Map<number, number>();
      let prev = 0;
      for (let cur = from; ; ) {
        const r = await spool.read(cur);
        if (r === null) break;
        const seq = seqOf(r);
        if (!intact(r) || seq <= 0 || seq >= nextSeq) res.corrupt++;
        else {
          if (seq <= prev) res.disorder++;
          prev = seq;
          found.set(seq, r.offset);
        }
        cur = r.nextOffset;
      }
      for (const [seq, a] of ledger) {
        if (a.offset < from) {
          ledger.delete(seq); // delivered and checkpointed before the crash
          continue;
        }
        res.expectedAtCrash++;
        if (found.get(seq) !== a.offset) {
          res.lost++;
          const age = crashAt - a.ackedAt;
          res.lostMaxAgeMs = Math.max(res.lostMaxAgeMs, age);
          if (age - bound > res.worstOverBound) {
            res.worstOverBound = age - bound;
            res.worstBound = `${fmt.ms(age)} vs ${fmt.ms(bound)} (${boundText})`;
          }
          ledger.delete(seq);
        }
      }
      // Survivors that were never acknowledged are durable now, and owed like the rest.
      for (const [seq, offset] of found) {
        if (!ledger.has(seq)) {
          ledger.set(seq, { offset, ackedAt: crashAt });
          res.recoveredUnacked++;
        }
      }
      if (round % 10 === 0) log(`power loss (${res.mode}): round ${round}/${p.rounds}, ${res.acked} appends acknowledged, ${res.lost} lost`);
    }
  } finally {
    await spool.close().catch(() => {});
    loop.stop();
    rmSync(root, { recursive: true, force: true });
  }
  res.syncP99 = percentile(model.syncMs, 99);
  res.syncMax = Math.max(0, ...model.syncMs);
  return res;
}

/**
 * Interval mode on a slow disk (every fdatasync 30 ms) with small segments that rotate
 * often: once appends stop and the interval plus two syncs have passed, every acknowledged
 * byte must have been fsync'd.
 */
async function slowDiskQuiet(ms: number): Promise<{ appends: number; segments: number; unsynced: number; bytes: number; example: string }> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'spillway-chaos-slowdisk-'));
  const model = new DiskModel(30);
  const spool = await FileNodeSpool.open(dir, 'node-a', { ...spoolOpts(dir, { fsync: 50, segmentSize: 16 * 1024 }), io: model.io });
  let seq = 1;
  try {
    const end = Date.now() + ms;
    while (Date.now() < end) {
      await spool.appendAt(rec(seq++, 1000));
      await sleep(2);
    }
    await sleep(50 + 2 * 30 + 500);
    let unsynced = 0;
    let bytes = 0;
    let example = '';
    for (const [p, f] of model.files) {
      if (f.synced < f.written) {
        unsynced++;
        bytes += f.written - f.synced;
        example ||= `${path.basename(p)}: ${f.written - f.synced} of ${f.written} bytes`;
      }
    }
    return { appends: seq - 1, segments: model.files.size, unsynced, bytes, example };
  } finally {
    await spool.close().catch(() => {});
    rmSync(dir, { recursive: true, force: true });
  }
}

export async function powerLoss(opts: SuiteOptions): Promise<SuiteResult> {
  const p = sized(opts, SIZES);
  const rep = new Report('power loss: un-synced writes cut at a crash, spool recovered and checked', `${opts.size}, ${p.rounds} crashes per mode`);
  try {
    const always = await runMode('always', p, new Rng(opts.seed), opts.log);
    const interval = await runMode(p.intervalMs, p, new Rng(opts.seed + 1), opts.log);
    const row = (r: ModeResult) => [
      r.mode,
      r.rounds,
      r.acked,
      r.expectedAtCrash,
      r.lost,
      r.lost ? fmt.ms(r.lostMaxAgeMs) : '-',
      r.corrupt,
      r.disorder,
      r.recoveredUnacked,
      `${r.stats.cut}/${r.stats.torn}/${r.stats.holes}/${r.stats.droppedFiles}`,
      `${r.syncP99.toFixed(1)} / ${r.syncMax.toFixed(1)} ms`,
    ];
    rep.table(
      'per -spool.fsync mode',
      ['fsync', 'crashes', 'acked appends', 'owed at crashes', 'lost', 'oldest lost', 'corrupt read', 'out of order', 'unacked survivors', 'tails cut/torn/holed/files dropped', 'fsync p99 / max'],
      [row(always), row(interval)],
    );
    for (const r of [always, interval]) {
      rep.check(`${r.mode}: every crash recovered (open succeeded)`, r.reopenFailures.length === 0 && r.rounds === p.rounds, r.reopenFailures[0] ?? `${r.rounds}/${p.rounds}`);
      rep.check(`${r.mode}: no damaged record returned after recovery`, r.corrupt === 0 && r.readBackProblems === 0, r.corrupt + r.readBackProblems);
      rep.check(`${r.mode}: records in append order after recovery`, r.disorder === 0, r.disorder);
    }
    rep.check('always: acknowledged appends lost', always.lost === 0, `${always.lost} of ${always.expectedAtCrash} owed`);
    rep.check('always: crashes that cut un-synced data', always.stats.cut + always.stats.torn + always.stats.holes > 0, always.stats.cut + always.stats.torn + always.stats.holes);
    rep.info(`${interval.mode}: acknowledged appends lost (allowed: power loss within the interval)`, `${interval.lost} of ${interval.expectedAtCrash} owed`);
    rep.check(
      `${interval.mode}: every lost append younger than interval + fsync time (per crash)`,
      interval.worstOverBound <= 0,
      `worst: ${interval.worstBound}`,
    );
    const quiet = await slowDiskQuiet(p.slowDiskMs);
    rep.check(
      '50ms on a slow disk (30 ms fsync), 16 KiB segments: every acknowledged byte fsync\'d once writes stop',
      quiet.unsynced === 0,
      `${quiet.unsynced} of ${quiet.segments} segments keep ${quiet.bytes} acknowledged bytes never fsync'd after ${quiet.appends} appends${quiet.example ? ` (e.g. ${quiet.example})` : ''}`,
    );
    rep.note('dropped directory entries are modelled for segments created after the last fsync; undone checkpoint renames and unlinks are not (they follow an fsync\'d directory and would only re-send).');
  } catch (err) {
    rep.abort(err);
  }
  return rep.finish();
}
