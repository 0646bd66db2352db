/**
 * Where a server spends its CPU under one load: a V8 CPU profile of the server process during a
 * short extra run (not one of the measured ones), summarised as the top frames by self time and by
 * package, in µs per request, for RESULTS.md.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { runLoad, type LoadTarget } from './load.ts';
import type { ServerProcess } from './processes.ts';

interface ProfileNode {
  readonly id: number;
  readonly callFrame: { readonly functionName: string; readonly url: string; readonly lineNumber: number };
}

interface CpuProfile {
  readonly nodes: readonly ProfileNode[];
  readonly samples: readonly number[];
  readonly timeDeltas: readonly number[];
}

/** frames that are the profiler's or the idle loop's, not the server's work */
const NOT_WORK = new Set(['(idle)', '(root)', 'run', 'post']);

function where(url: string): string {
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(url);
  if (pkg?.[1]) return pkg[1];
  const ours = /\/(src|bench)\/(.*)$/.exec(url);
  if (ours) return `${ours[1]}/${ours[2]}`;
  if (url.startsWith('node:')) return 'node';
  return url ? path.basename(url) : '(native)';
}

export interface ProfileSummary {
  readonly requests: number;
  /** CPU the profile saw, per request */
  readonly busyUsPerRequest: number;
  readonly topFrames: { readonly frame: string; readonly usPerRequest: number }[];
  readonly byPackage: { readonly name: string; readonly usPerRequest: number }[];
}

export function summarizeProfile(profile: CpuProfile, requests: number, top = 12): ProfileSummary {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const frames = new Map<string, number>();
  const packages = new Map<string, number>();
  let busy = 0;
  profile.samples.forEach((id, i) => {
    const node = byId.get(id);
    const dt = profile.timeDeltas[i] ?? 0;
    if (!node) return;
    const { functionName, url, lineNumber } = node.callFrame;
    const name = functionName || '(anonymous)';
    if ((!url && NOT_WORK.has(name)) || url.startsWith('node:inspector')) return;
    busy += dt;
    const place = where(url);
    const frame = url
      ? `${name} (${place.startsWith('src/') || place.startsWith('bench/') ? place : `${place} ${path.basename(url)}`}:${lineNumber + 1})`
      : name;
    frames.set(frame, (frames.get(frame) ?? 0) + dt);
    const pkg = url
      ? place.startsWith('src/')
        ? 'src (ours)'
        : (place.split('/')[0] as string)
      : name.startsWith('(')
        ? name
        : '(native)';
    packages.set(pkg, (packages.get(pkg) ?? 0) + dt);
  });
  const perRequest = (us: number) => Math.round((us / Math.max(1, requests)) * 10) / 10;
  const sorted = (m: Map<string, number>) => [...m].sort((a, b) => b[1] - a[1]);
  return {
    requests,
    busyUsPerRequest: perRequest(busy),
    topFrames: sorted(frames)
      .slice(0, top)
      .map(([frame, us]) => ({ frame, usPerRequest: perRequest(us) })),
    byPackage: sorted(packages)
      .slice(0, 12)
      .map(([name, us]) => ({ name, usPerRequest: perRequest(us) })),
  };
}

/** Profiles `server` during `seconds` of `target`'s load (an extra, unmeasured run). */
export async function profileUnderLoad(
  server: ServerProcess<unknown>,
  target: LoadTarget,
  seconds: number,
  connections: number,
): Promise<ProfileSummary> {
  const file = path.join(os.tmpdir(), `tenant-connect-bench-${process.pid}-${Date.now()}.cpuprofile`);
  await server.profile('start');
  const run = await runLoad(target, { durationS: seconds, connections, repeat: 0 });
  await server.profile('stop', file);
  try {
    return summarizeProfile(JSON.parse(fs.readFileSync(file, 'utf8')) as CpuProfile, run.requests);
  } finally {
    fs.rmSync(file, { force: true });
  }
}

/** RESULTS.md notes: the top frames and packages, µs of CPU per request. */
export function profileNotes(variant: string, summary: ProfileSummary): string[] {
  const frames = summary.topFrames.map((f) => `${f.frame} ${f.usPerRequest}`).join('; ');
  const packages = summary.byPackage.map((p) => `${p.name} ${p.usPerRequest}`).join(', ');
  return [
    `CPU profile of ${variant} (an extra, unmeasured run of ${summary.requests} requests; the in-process profiler adds its own cost): ` +
      `${summary.busyUsPerRequest} µs of CPU per request on the main thread. By package (µs/request): ${packages}. ` +
      `Top frames by self time (µs/request): ${frames}.`,
  ];
}
