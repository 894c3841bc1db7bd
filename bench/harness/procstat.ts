// CPU time and memory of a process from /proc, which covers every thread of it (GC helpers,
// libuv pool, Go runtime threads) and nothing of ours.
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';

let ticks = 100;
try {
  ticks = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
} catch {
  // 100 is the Linux default
}

/** User + system CPU seconds of a process so far; NaN when it is gone. */
export function cpuSeconds(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may hold spaces and parentheses).
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) / ticks;
  } catch {
    return NaN;
  }
}

/**
 * Busy and stolen seconds of one CPU so far, from /proc/stat (busy: everything but idle and
 * iowait; steal: time the hypervisor gave to other guests). NaN when unavailable.
 */
export function cpuTimes(cpu: number): { busy: number; steal: number } {
  try {
    const line = readFileSync('/proc/stat', 'utf8')
      .split('\n')
      .find((l) => l.startsWith(`cpu${cpu} `));
    const f = line!.trim().split(/\s+/).slice(1).map(Number);
    // user nice system idle iowait irq softirq steal guest guest_nice (guest is inside user)
    const busy = f[0]! + f[1]! + f[2]! + f[5]! + f[6]!;
    return { busy: busy / ticks, steal: (f[7] ?? 0) / ticks };
  } catch {
    return { busy: NaN, steal: NaN };
  }
}

export interface MemInfo {
  rssBytes: number;
  /** Peak resident set (VmHWM) since start or the last resetPeak(). */
  peakRssBytes: number;
}

export function memInfo(pid: number): MemInfo {
  try {
    const s = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (k: string) => Number(new RegExp(`^${k}:\\s+(\\d+) kB`, 'm').exec(s)?.[1] ?? NaN) * 1024;
    return { rssBytes: kb('VmRSS'), peakRssBytes: kb('VmHWM') };
  } catch {
    return { rssBytes: NaN, peakRssBytes: NaN };
  }
}

/** Reset VmHWM to the current RSS (clear_refs 5); false when not allowed. */
export function resetPeak(pid: number): boolean {
  try {
    writeFileSync(`/proc/${pid}/clear_refs`, '5');
    return true;
  } catch {
    return false;
  }
}

/** Pin every thread of a process to `cpus` (taskset list syntax); false when it failed. */
export function pin(pid: number, cpus: string): boolean {
  try {
    execFileSync('taskset', ['-a', '-cp', cpus, String(pid)], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/**
 * CPU seconds of a process that may be replaced (kill and restart): the seconds of earlier
 * incarnations are carried over, as last read. Call read() right before killing one.
 */
export class ProcessCpu {
  readonly #pid: () => number;
  #current = -1;
  #last = 0;
  #carry = 0;

  constructor(pid: () => number) {
    this.#pid = pid;
  }

  get pid(): number {
    return this.#pid();
  }

  read(): number {
    const pid = this.#pid();
    if (pid !== this.#current) {
      this.#carry += this.#last;
      this.#last = 0;
      this.#current = pid;
    }
    const v = cpuSeconds(pid);
    if (Number.isFinite(v)) this.#last = v;
    return this.#carry + this.#last;
  }
}

/** CPU seconds and peak RSS of a process over a window. */
export class CpuWindow {
  readonly #proc: ProcessCpu;
  readonly #cpu0: number;
  readonly #cpuIndex: number | null;
  readonly #times0: { busy: number; steal: number } | null;
  readonly #t0 = performance.now();
  #peak = 0;
  #peakPid = -1;

  /** `cpu`: the one CPU the process is pinned to, if it is, to tell how busy others kept it. */
  constructor(proc: ProcessCpu, cpu: number | null = null) {
    this.#proc = proc;
    this.#cpu0 = proc.read();
    this.#cpuIndex = cpu;
    this.#times0 = cpu === null ? null : cpuTimes(cpu);
    this.touch();
  }

  /** Sample CPU and RSS (call it now and then; VmHWM covers the gaps when clear_refs works). */
  touch(): void {
    this.#proc.read();
    const pid = this.#proc.pid;
    if (pid !== this.#peakPid) {
      resetPeak(pid);
      this.#peakPid = pid;
    }
    const m = memInfo(pid);
    this.#peak = Math.max(this.#peak, m.peakRssBytes || 0, m.rssBytes || 0);
  }

  /**
   * othersSeconds: time the process's CPU was busy with other processes (or stolen by the
   * hypervisor) during the window; null when the process is not pinned to one CPU.
   */
  end(): { cpuSeconds: number; wallSeconds: number; peakRssBytes: number; othersSeconds: number | null } {
    this.touch();
    const cpu = this.#proc.read() - this.#cpu0;
    let others: number | null = null;
    if (this.#cpuIndex !== null && this.#times0) {
      const t = cpuTimes(this.#cpuIndex);
      others = Math.max(0, t.busy - this.#times0.busy - cpu) + (t.steal - this.#times0.steal);
      if (!Number.isFinite(others)) others = null;
    }
    return { cpuSeconds: cpu, wallSeconds: (performance.now() - this.#t0) / 1000, peakRssBytes: this.#peak, othersSeconds: others };
  }
}
