/**
 * Measures one run: the server process's CPU and memory (with its descendants': a WORKERS primary's workers), the local Postgres's CPU, the load
 * generator's CPU (this process), and whatever else kept the machine's cores busy meanwhile.
 */
import type { ProcessUse } from './measurements.ts';
import { busyCpuMs, peakRssMb, postgresCpuByPid, postgresCpuSince, treeCpuTimeMs, treeRssMb } from './proc.ts';
import { round } from './stats.ts';

const difference = (after: number | undefined, before: number | undefined) =>
  after !== undefined && before !== undefined ? after - before : undefined;

export function startProcessUse(pid: number): (requests: number) => ProcessUse {
  const started = performance.now();
  const cpuBefore = treeCpuTimeMs(pid);
  const dbBefore = postgresCpuByPid();
  const busyBefore = busyCpuMs();
  const clientBefore = process.cpuUsage();
  return (requests) => {
    const wallMs = performance.now() - started;
    const cpuMs = difference(treeCpuTimeMs(pid), cpuBefore);
    const dbCpuMs = postgresCpuSince(dbBefore);
    const busyMs = difference(busyCpuMs(), busyBefore);
    const client = process.cpuUsage(clientBefore);
    const clientMs = (client.user + client.system) / 1000;
    const otherMs = busyMs !== undefined ? busyMs - (cpuMs ?? 0) - (dbCpuMs ?? 0) - clientMs : undefined;
    const percentOfCore = (ms: number | undefined) => (ms === undefined ? undefined : round((100 * Math.max(0, ms)) / wallMs, 0));
    return {
      cpuMs: round(cpuMs, 0),
      cpuUsPerRequest: cpuMs !== undefined && requests > 0 ? round((cpuMs * 1000) / requests, 1) : undefined,
      rssMb: round(treeRssMb(pid), 1),
      peakRssMb: round(peakRssMb(pid), 1),
      dbCpuMs: round(dbCpuMs, 0),
      clientCpuPct: percentOfCore(clientMs),
      otherCpuPct: percentOfCore(otherMs),
    };
  };
}
