/**
 * WORKERS > 1: this process serves nothing itself. It forks the workers (each one runs main.ts's
 * ordinary start on the shared port, node:cluster handing them connections in turn), restarts one
 * that dies as restart-policy.ts decides, logs each exit and restart, serves the workers' metrics
 * summed on METRICS_PORT, and on SIGTERM or SIGINT asks every worker to drain and waits for them.
 *
 * The first worker starts alone: it migrates, bootstraps the platform and seeds the demo, so the
 * others (started once it serves) find all of it done and race for nothing.
 */
import cluster, { type Worker } from 'node:cluster';
import type http from 'node:http';
import type { Logger } from 'pino';
import { AggregatorRegistry, type Registry } from 'prom-client';
import type { Config } from '../config/config.ts';
import { decideAfterExit, DEFAULT_RESTART_POLICY, type RestartPolicy } from './restart-policy.ts';

/** what a worker sends the primary once it serves */
export const WORKER_READY = 'tenant-connect:worker-ready';

/** In a worker: tell the primary this process serves (no-op outside a cluster). */
export function reportWorkerReady(): void {
  if (cluster.isWorker) process.send?.({ type: WORKER_READY });
}

/** In a worker: answer the primary's metrics requests from this registry (prom-client's cluster protocol). */
export function shareMetricsWithPrimary(registry: Registry): void {
  new AggregatorRegistry(); // installs the worker's side of the protocol
  AggregatorRegistry.setRegistries([registry]);
}

interface Slot {
  readonly index: number;
  worker: Worker | undefined;
  forkedAt: number;
  ready: boolean;
  crashesInARow: number;
  restartTimer: NodeJS.Timeout | undefined;
}

export interface PrimaryOptions {
  readonly log: Logger;
  readonly policy?: RestartPolicy;
}

export async function runPrimary(config: Config, options: PrimaryOptions): Promise<void> {
  const { log } = options;
  const policy = options.policy ?? DEFAULT_RESTART_POLICY;
  const slots: Slot[] = Array.from({ length: config.workers }, (_, index) => ({
    index,
    worker: undefined,
    forkedAt: 0,
    ready: false,
    crashesInARow: 0,
    restartTimer: undefined,
  }));
  let stopping = false;

  const exitAll = (code: number) => {
    for (const slot of slots) slot.worker?.process.kill('SIGTERM');
    process.exit(code);
  };

  /** Forks the slot's worker; resolves when it serves, or when it exits first. */
  const fork = (slot: Slot): Promise<void> =>
    new Promise((resolve) => {
      const worker = cluster.fork();
      Object.assign(slot, { worker, forkedAt: Date.now(), ready: false, restartTimer: undefined });
      worker.on('message', (message: { type?: string }) => {
        if (message?.type !== WORKER_READY) return;
        slot.ready = true;
        log.info({ worker: slot.index + 1, pid: worker.process.pid }, 'worker serves');
        resolve();
      });
      worker.once('exit', (code, signal) => {
        resolve();
        if (slot.worker !== worker) return;
        slot.worker = undefined;
        if (stopping) return;
        const exit = { code, signal, uptimeMs: Date.now() - slot.forkedAt, wasReady: slot.ready };
        const decision = decideAfterExit(exit, slot.crashesInARow, policy);
        if (decision.action === 'stop') {
          log.error({ worker: slot.index + 1, pid: worker.process.pid, code, signal }, decision.reason);
          exitAll(decision.exitCode);
          return;
        }
        slot.crashesInARow = decision.crashesInARow;
        log.warn(
          {
            worker: slot.index + 1,
            pid: worker.process.pid,
            code,
            signal,
            restartInMs: decision.delayMs,
            crashesInARow: decision.crashesInARow,
          },
          'worker exited; restarting it',
        );
        slot.restartTimer = setTimeout(() => void fork(slot), decision.delayMs);
      });
    });

  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal, graceMs: config.shutdownGraceMs }, 'stopping: every worker finishes its requests in flight');
    for (const slot of slots) {
      clearTimeout(slot.restartTimer);
      slot.worker?.process.kill('SIGTERM');
    }
    // each worker gives up on its own after SHUTDOWN_GRACE_MS; this only catches one that hangs
    setTimeout(() => {
      log.error('workers still running past SHUTDOWN_GRACE_MS; killing them');
      for (const slot of slots) slot.worker?.process.kill('SIGKILL');
      process.exit(1);
    }, config.shutdownGraceMs + 5000).unref();
    const waitForAll = () => {
      if (slots.every((slot) => !slot.worker)) process.exit(0);
    };
    cluster.on('exit', waitForAll);
    waitForAll();
  };
  process.once('SIGTERM', () => stop('SIGTERM'));
  process.once('SIGINT', () => stop('SIGINT'));

  const [first, ...rest] = slots;
  if (first) await fork(first);
  if (stopping) return;
  await Promise.all(rest.map(fork));
  log.info({ workers: config.workers, pid: process.pid }, 'every worker serves');
}

/** METRICS_PORT's requests in the primary: every worker's metrics, summed (prom-client asks each over IPC). */
export function serveClusterMetrics(): http.RequestListener {
  const aggregator = new AggregatorRegistry();
  return (req, res) => {
    if (req.url !== '/metrics' || (req.method !== 'GET' && req.method !== 'HEAD')) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('metrics are at /metrics\n');
      return;
    }
    aggregator.clusterMetrics().then(
      (text) => res.writeHead(200, { 'content-type': aggregator.contentType }).end(text),
      (error: unknown) => res.writeHead(500, { 'content-type': 'text/plain' }).end(`${String(error)}\n`),
    );
  };
}
