/**
 * Bookkeeping written off the request path: callers note things in memory, a timer hands what was
 * noted to `write` in one batch, and stop() writes the rest before the database closes. Writes run
 * one after another, and the timer takes nothing new while a batch is still being written, so a slow
 * database holds at most one batch besides what callers note (and bound). A failed batch is logged and
 * reported to `onFailed`, never retried, so a database outage cannot grow memory.
 */
import type { Logger } from 'pino';

export interface BatchedWrites {
  /** Writes everything noted so far (tests and shutdown call it directly). */
  flush(): Promise<void>;
  start(): void;
  stop(): Promise<void>;
}

export function createBatchedWrites<Batch>(options: {
  /** takes what was noted since the last call, or undefined when there is nothing */
  take: () => Batch | undefined;
  write: (batch: Batch) => Promise<void>;
  intervalMs: number;
  log: Logger;
  /** what the log line says could not be written */
  what: string;
  onFailed?: (batch: Batch) => void;
}): BatchedWrites {
  let timer: NodeJS.Timeout | undefined;
  let flushing: Promise<void> = Promise.resolve();
  let writing = 0;
  const writes: BatchedWrites = {
    flush(): Promise<void> {
      const batch = options.take();
      if (batch === undefined) return flushing;
      writing += 1;
      flushing = flushing.then(() =>
        options
          .write(batch)
          .catch((error: unknown) => {
            options.log.warn({ err: error }, `could not record ${options.what}`);
            options.onFailed?.(batch);
          })
          .finally(() => {
            writing -= 1;
          }),
      );
      return flushing;
    },
    start(): void {
      timer ??= setInterval(() => {
        if (writing === 0) void writes.flush();
      }, options.intervalMs).unref();
    },
    async stop(): Promise<void> {
      if (timer) clearInterval(timer);
      timer = undefined;
      await writes.flush();
    },
  };
  return writes;
}
