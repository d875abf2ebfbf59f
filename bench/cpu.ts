import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';

/**
 * CPU time per component from /proc (Linux): where a request's CPU goes across the load
 * generator, the platform's processes and the real parts (PostgreSQL, Redis, Kafka). Other
 * work on the machine lands in "rest of machine", so a noisy neighbour is visible as such.
 */

const TICKS = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK']).toString().trim()) || 100;
  } catch {
    return 100;
  }
})();

function procTicks(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command (which may contain spaces) start after the last ')'.
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return Number(f[11]) + Number(f[12]); // utime + stime
  } catch {
    return 0;
  }
}

/** CPU seconds (user + system) one process has used so far; 0 once it is gone. */
export function cpuSecondsOf(pid: number): number {
  return procTicks(pid) / TICKS;
}

function machineBusyTicks(): number {
  const line = readFileSync('/proc/stat', 'utf8').split('\n')[0];
  const v = line.trim().split(/\s+/).slice(1).map(Number);
  const idle = (v[3] ?? 0) + (v[4] ?? 0);
  return v.slice(0, 8).reduce((a, b) => a + b, 0) - idle;
}

function pidsWhere(match: (comm: string, cmdline: string) => boolean): number[] {
  const out: number[] = [];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const comm = readFileSync(`/proc/${d}/comm`, 'utf8').trim();
      const cmd = comm === 'java' ? readFileSync(`/proc/${d}/cmdline`, 'utf8') : '';
      if (match(comm, cmd)) out.push(Number(d));
    } catch {
      // the process ended while we looked
    }
  }
  return out;
}

export type Components = Record<string, () => number[]>;

/** The components the bench watches: named child processes plus the real parts found by name. */
export function components(children: Record<string, () => number | undefined>): Components {
  const c: Components = { 'load generator': () => [process.pid] };
  for (const [name, pid] of Object.entries(children)) c[name] = () => [pid()].filter((p): p is number => !!p);
  c.postgresql = () => pidsWhere((comm) => comm === 'postgres');
  c.redis = () => pidsWhere((comm) => comm === 'redis-server');
  c.kafka = () => pidsWhere((comm, cmd) => comm === 'java' && cmd.includes('kafka.Kafka'));
  return c;
}

export interface CpuSnapshot {
  at: number;
  machine: number;
  perPid: Map<number, number>;
  pids: Record<string, number[]>;
}

export function snapshot(c: Components): CpuSnapshot {
  const pids: Record<string, number[]> = {};
  const perPid = new Map<number, number>();
  for (const [name, find] of Object.entries(c)) {
    pids[name] = find();
    for (const p of pids[name]) perPid.set(p, procTicks(p));
  }
  return { at: Date.now(), machine: machineBusyTicks(), perPid, pids };
}

/** CPU seconds per component between two snapshots (pids seen in the later one). */
export function cpuBetween(a: CpuSnapshot, b: CpuSnapshot): Record<string, number> {
  const out: Record<string, number> = {};
  let sum = 0;
  for (const [name, pids] of Object.entries(b.pids)) {
    let t = 0;
    for (const p of pids) t += (b.perPid.get(p) ?? 0) - (a.perPid.get(p) ?? 0);
    out[name] = t / TICKS;
    sum += t;
  }
  out['rest of machine'] = Math.max(0, b.machine - a.machine - sum) / TICKS;
  return out;
}

export function addCpu(into: Record<string, number>, more: Record<string, number>): void {
  for (const [k, v] of Object.entries(more)) into[k] = (into[k] ?? 0) + v;
}
