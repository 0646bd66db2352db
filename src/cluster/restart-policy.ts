/**
 * What the supervising primary does when one of its workers exits: the pure policy, apart from
 * node:cluster (primary.ts does the forking). A worker that crashes is started again after a delay
 * that doubles with each crash in a row, up to a ceiling; one that had run long enough counts as
 * healthy again, so a crash once a day restarts at once. A worker that refused to start (exit code
 * 2: a configuration or startup error it has printed as one line) is never restarted: the next one
 * would refuse the same way, so the primary stops with that code.
 */

export interface RestartPolicy {
  /** delay before the first restart after a healthy run */
  readonly initialDelayMs: number;
  /** the delay stops doubling here */
  readonly maxDelayMs: number;
  /** a worker that ran this long before exiting was healthy: its crash count starts again */
  readonly stableAfterMs: number;
}

export const DEFAULT_RESTART_POLICY: RestartPolicy = { initialDelayMs: 100, maxDelayMs: 30_000, stableAfterMs: 60_000 };

/** the exit code of a start refused with one line (src/main.ts's stop()) */
export const REFUSED_EXIT_CODE = 2;

export interface WorkerExit {
  readonly code: number | null;
  readonly signal: string | null;
  /** since the worker was forked */
  readonly uptimeMs: number;
  /** it had told the primary it serves */
  readonly wasReady: boolean;
}

export type ExitDecision =
  | { readonly action: 'restart'; readonly delayMs: number; readonly crashesInARow: number }
  | { readonly action: 'stop'; readonly exitCode: number; readonly reason: string };

/** `crashesInARow`: of this worker slot before this exit (0 after a healthy run). */
export function decideAfterExit(exit: WorkerExit, crashesInARow: number, policy: RestartPolicy = DEFAULT_RESTART_POLICY): ExitDecision {
  if (exit.code === REFUSED_EXIT_CODE && !exit.wasReady) {
    return { action: 'stop', exitCode: REFUSED_EXIT_CODE, reason: 'a worker refused to start (its line above says why)' };
  }
  const previous = exit.uptimeMs >= policy.stableAfterMs ? 0 : crashesInARow;
  const delayMs = Math.min(policy.maxDelayMs, policy.initialDelayMs * 2 ** Math.min(previous, 30));
  return { action: 'restart', delayMs, crashesInARow: previous + 1 };
}
