/**
 * Starts a server (ours or a baseline) as a child process on the pinned Node, waits for it to say
 * it is ready, and stops it. A child process has its own CPU and memory, read from /proc.
 */
import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { log } from './console.ts';
import { CHILD_OPTIONS_ENV, type ChildMessage, type MemoryReport, type ParentMessage } from './protocol.ts';

export interface ServerProcess<I> {
  readonly name: string;
  readonly pid: number;
  readonly info: I;
  /** the process's own memory after a full GC (see MemoryReport) */
  memory(): Promise<MemoryReport>;
  /** a V8 CPU profile of the process between start and stop (written to `file` on stop) */
  profile(action: 'start'): Promise<void>;
  profile(action: 'stop', file: string): Promise<void>;
  /** a V8 heap snapshot of the process now, written into `dir`; resolves to its file */
  heapSnapshot(dir: string): Promise<string>;
  stop(): Promise<void>;
}

const READY_TIMEOUT_MS = 15 * 60_000;

/** BENCH_CPU_PROF=<dir>: V8 CPU profiles of every server process, written there when it stops. */
function profileFlags(name: string): string[] {
  const dir = process.env.BENCH_CPU_PROF;
  return dir ? ['--cpu-prof', `--cpu-prof-dir=${dir}`, `--cpu-prof-name=${name}-${Date.now()}.cpuprofile`] : [];
}

/** `env`: variables this process gets besides the benchmark's own (e.g. a malloc of its own via LD_PRELOAD) */
export async function startServerProcess<I>(
  name: string,
  script: URL,
  options: unknown,
  env: Record<string, string> = {},
): Promise<ServerProcess<I>> {
  const child = fork(fileURLToPath(script), [], {
    execPath: process.execPath,
    // --expose-gc: only so a memory report can collect first; nothing else calls gc()
    execArgv: ['--disable-warning=ExperimentalWarning', '--expose-gc', ...profileFlags(name)],
    env: { ...process.env, ...env, [CHILD_OPTIONS_ENV]: JSON.stringify(options), NODE_ENV: 'development' },
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
  });
  let output = '';
  const keep = (chunk: Buffer) => {
    output = (output + chunk.toString('utf8')).slice(-20_000);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));

  const memoryWaiters: ((report: MemoryReport) => void)[] = [];
  const profileWaiters: (() => void)[] = [];
  const snapshotWaiters: ((file: string) => void)[] = [];
  const info = await new Promise<I>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${name}: not ready after ${READY_TIMEOUT_MS / 1000} s`)), READY_TIMEOUT_MS);
    child.on('message', (message: ChildMessage) => {
      if (message.type === 'progress') log(`  [${name}] ${message.message}`);
      else if (message.type === 'memory') memoryWaiters.shift()?.(message.report);
      else if (message.type === 'profiled') profileWaiters.shift()?.();
      else if (message.type === 'heap-snapshot') snapshotWaiters.shift()?.(message.file);
      else if (message.type === 'ready') {
        clearTimeout(timer);
        resolve(message.info as I);
      } else {
        clearTimeout(timer);
        reject(new Error(`${name} failed to start: ${message.message}`));
      }
    });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`${name} exited before it was ready (code ${code}, signal ${signal})\n${output}`));
    });
  });

  if (child.pid === undefined) throw new Error(`${name}: no pid`);
  const pid = child.pid;
  return {
    name,
    pid,
    info,
    memory() {
      return new Promise<MemoryReport>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`${name}: no memory report after 30 s`)), 30_000);
        memoryWaiters.push((report) => {
          clearTimeout(timer);
          resolve(report);
        });
        const ask: ParentMessage = { type: 'memory' };
        child.send(ask);
      });
    },
    profile(action: 'start' | 'stop', file?: string) {
      return new Promise<void>((resolve) => {
        profileWaiters.push(resolve);
        const ask: ParentMessage = action === 'start' ? { type: 'profile', action } : { type: 'profile', action, file: file as string };
        child.send(ask);
      });
    },
    heapSnapshot(dir: string) {
      return new Promise<string>((resolve, reject) => {
        // a snapshot of a heap of a few hundred MB takes seconds to write
        const timer = setTimeout(() => reject(new Error(`${name}: no heap snapshot after 5 min`)), 5 * 60_000);
        snapshotWaiters.push((file) => {
          clearTimeout(timer);
          resolve(file);
        });
        const ask: ParentMessage = { type: 'heap-snapshot', dir };
        child.send(ask);
      });
    },
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const stop: ParentMessage = { type: 'stop' };
      child.send(stop);
      const killer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(killer);
    },
  };
}
