/**
 * The child side of a server process: read the options the parent passed, report progress and
 * readiness over IPC, and shut down cleanly when told to (or when the parent goes away).
 */
import fs from 'node:fs';
import path from 'node:path';
import { Session } from 'node:inspector/promises';
import v8 from 'node:v8';
import { CHILD_OPTIONS_ENV, type ChildMessage, type MemoryReport, type ParentMessage } from './protocol.ts';

export function childOptions<T>(): T {
  const raw = process.env[CHILD_OPTIONS_ENV];
  if (!raw) throw new TypeError(`${CHILD_OPTIONS_ENV} is not set: this module is started by bench/run.ts`);
  return JSON.parse(raw) as T;
}

function send(message: ChildMessage): void {
  process.send?.(message);
}

export function progress(message: string): void {
  send({ type: 'progress', message });
}

const MB = 1024 * 1024;
const mb = (bytes: number) => Math.round((bytes / MB) * 10) / 10;

/** A field of /proc/self/status (Linux), in kB or as a count; undefined elsewhere. */
function statusField(name: 'RssAnon' | 'RssFile' | 'Threads'): number | undefined {
  try {
    const match = new RegExp(`^${name}:\\s+(\\d+)`, 'm').exec(fs.readFileSync('/proc/self/status', 'utf8'));
    return match?.[1] ? Number(match[1]) : undefined;
  } catch {
    return undefined;
  }
}

const kbToMb = (kb: number | undefined) => (kb === undefined ? undefined : Math.round((kb / 1024) * 10) / 10);

/** process.memoryUsage() after a full collection (the parent starts children with --expose-gc). */
function memoryReport(extra: Record<string, number>): MemoryReport {
  const gc = (globalThis as { gc?: () => void }).gc;
  // twice: the first pass runs finalizers whose garbage the second one frees
  gc?.();
  gc?.();
  const usage = process.memoryUsage();
  return {
    rssMb: mb(usage.rss),
    heapUsedMb: mb(usage.heapUsed),
    heapTotalMb: mb(usage.heapTotal),
    externalMb: mb(usage.external),
    arrayBuffersMb: mb(usage.arrayBuffers),
    rssAnonMb: kbToMb(statusField('RssAnon')),
    rssFileMb: kbToMb(statusField('RssFile')),
    heapSpacesMb: Object.fromEntries(
      v8
        .getHeapSpaceStatistics()
        .filter((space) => space.space_size > MB)
        .map((space) => [space.space_name, mb(space.space_size)]),
    ),
    threads: statusField('Threads'),
    extra,
  };
}

let profiler: Session | undefined;

async function profile(message: Extract<ParentMessage, { type: 'profile' }>): Promise<void> {
  if (message.action === 'start') {
    profiler = new Session();
    profiler.connect();
    await profiler.post('Profiler.enable');
    await profiler.post('Profiler.start');
  } else if (profiler) {
    const { profile: result } = await profiler.post('Profiler.stop');
    fs.writeFileSync(message.file, JSON.stringify(result));
    profiler.disconnect();
    profiler = undefined;
  }
  send({ type: 'profiled', action: message.action });
}

export interface ChildServer<I> {
  readonly info: I;
  close(): Promise<void>;
  /** numbers the memory report adds (e.g. Providers pooled) */
  diagnostics?(): Record<string, number>;
}

/**
 * Runs `start`, reports what it returns as ready, runs the returned close on 'stop', and answers
 * 'memory' with a MemoryReport.
 */
export function serveChild<I>(start: () => Promise<ChildServer<I>>): void {
  start().then(
    ({ info, close, diagnostics }) => {
      let closing = false;
      const stop = () => {
        if (closing) return;
        closing = true;
        setTimeout(() => process.exit(1), 5_000).unref();
        close().finally(() => process.exit(0));
      };
      process.on('message', (message: ParentMessage) => {
        if (message.type === 'stop') stop();
        else if (message.type === 'memory') send({ type: 'memory', report: memoryReport(diagnostics?.() ?? {}) });
        else if (message.type === 'profile') void profile(message);
        else if (message.type === 'heap-snapshot')
          send({
            type: 'heap-snapshot',
            file: v8.writeHeapSnapshot(path.join(message.dir, `server-${process.pid}-${Date.now()}.heapsnapshot`)),
          });
      });
      process.on('disconnect', stop);
      send({ type: 'ready', info });
    },
    (error: unknown) => {
      send({ type: 'failed', message: error instanceof Error ? (error.stack ?? error.message) : String(error) });
      setTimeout(() => process.exit(1), 100);
    },
  );
}
