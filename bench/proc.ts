/** CPU time and memory of a process, and of the local Postgres serving the benchmark, from /proc (Linux). */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';

let ticksPerSecond: number | undefined;
function clockTicks(): number {
  if (ticksPerSecond === undefined) {
    try {
      ticksPerSecond = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      ticksPerSecond = 100;
    }
  }
  return ticksPerSecond;
}

/** user + system CPU time of a process in ms; undefined when /proc is not readable. */
export function cpuTimeMs(pid: number): number | undefined {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    // the command name (field 2) may hold spaces: count fields after its closing parenthesis
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const utime = Number(fields[11]);
    const stime = Number(fields[12]);
    return ((utime + stime) * 1000) / clockTicks();
  } catch {
    return undefined;
  }
}

/** The process and its descendants (a WORKERS primary and its workers), from /proc's parent ids. */
export function processTree(pid: number): number[] {
  const parents = new Map<number, number[]>();
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${entry}/stat`, 'utf8');
      const parent = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      parents.set(parent, [...(parents.get(parent) ?? []), Number(entry)]);
    } catch {
      // gone meanwhile
    }
  }
  const tree = [pid];
  for (let i = 0; i < tree.length; i++) tree.push(...(parents.get(tree[i] as number) ?? []));
  return tree;
}

/** user + system CPU time of a process and its descendants, in ms */
export function treeCpuTimeMs(pid: number): number | undefined {
  const times = processTree(pid).map(cpuTimeMs);
  return times[0] === undefined ? undefined : times.reduce<number>((sum, ms) => sum + (ms ?? 0), 0);
}

/** resident set size of a process and its descendants now, in MiB */
export function treeRssMb(pid: number): number | undefined {
  const sizes = processTree(pid).map(rssMb);
  return sizes[0] === undefined ? undefined : sizes.reduce<number>((sum, mb) => sum + (mb ?? 0), 0);
}

function statusKb(pid: number, field: 'VmRSS' | 'VmHWM'): number | undefined {
  try {
    const match = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match?.[1] ? Number(match[1]) : undefined;
  } catch {
    return undefined;
  }
}

/** resident set size now, in MiB */
export function rssMb(pid: number): number | undefined {
  const kb = statusKb(pid, 'VmRSS');
  return kb === undefined ? undefined : kb / 1024;
}

/** peak resident set size over the process's life, in MiB */
export function peakRssMb(pid: number): number | undefined {
  const kb = statusKb(pid, 'VmHWM');
  return kb === undefined ? undefined : kb / 1024;
}

let watchedDatabase: string | undefined;

/** From now on count only the client backends of this database (plus the server's own background processes). */
export function watchPostgresDatabase(name: string | undefined): void {
  watchedDatabase = name;
}

/** Client backends carry "user database host(port) state" in their title; background processes do not. */
function counts(title: string): boolean {
  if (!watchedDatabase) return true;
  const isClientBackend = /\(\d+\)/.test(title) || title.includes('[local]');
  return !isClientBackend || title.split(' ').includes(watchedDatabase);
}

/** CPU time so far of the local postgres processes (see watchPostgresDatabase), by pid, in ms. */
export function postgresCpuByPid(): Map<number, number> | undefined {
  let entries: string[];
  try {
    entries = fs.readdirSync('/proc');
  } catch {
    return undefined;
  }
  const byPid = new Map<number, number>();
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (fs.readFileSync(`/proc/${entry}/comm`, 'utf8').trim() !== 'postgres') continue;
      if (!counts(fs.readFileSync(`/proc/${entry}/cmdline`, 'utf8').replaceAll('\0', ' '))) continue;
    } catch {
      continue;
    }
    const cpu = cpuTimeMs(Number(entry));
    if (cpu !== undefined) byPid.set(Number(entry), cpu);
  }
  return byPid.size ? byPid : undefined;
}

/**
 * Postgres CPU spent since `before`: per process, so a backend that exits meanwhile (another
 * client disconnecting) does not subtract its whole life's CPU; one that started counts in full.
 */
export function postgresCpuSince(before: Map<number, number> | undefined): number | undefined {
  const after = postgresCpuByPid();
  if (!before || !after) return undefined;
  let total = 0;
  for (const [pid, cpu] of after) total += Math.max(0, cpu - (before.get(pid) ?? 0));
  return total;
}

/** Non-idle CPU time of the whole machine (all cores) since boot, in ms, from /proc/stat. */
export function busyCpuMs(): number | undefined {
  try {
    const line = fs.readFileSync('/proc/stat', 'utf8').split('\n', 1)[0] ?? '';
    const [, ...values] = line.trim().split(/\s+/);
    // user nice system idle iowait irq softirq steal (guest time is already counted in user)
    const [user, nice, system, , , irq, softirq, steal] = values.map(Number);
    const busy = [user, nice, system, irq, softirq, steal].reduce<number>((sum, v) => sum + (v ?? 0), 0);
    return (busy * 1000) / clockTicks();
  } catch {
    return undefined;
  }
}
