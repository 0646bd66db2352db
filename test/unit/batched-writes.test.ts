/** The off-the-request-path writer that last_used_at and the auth event log share. */
import pino from 'pino';
import { describe, expect, it, vi } from 'vitest';
import { createBatchedWrites } from '../../src/db/batched-writes.ts';

const log = pino({ level: 'silent' });

function noted() {
  let pending: number[] = [];
  return {
    note: (n: number) => pending.push(n),
    take: () => {
      if (pending.length === 0) return undefined;
      const batch = pending;
      pending = [];
      return batch;
    },
  };
}

describe('batched writes', () => {
  it('writes batches one after another, never overlapping, in the order they were taken', async () => {
    const { note, take } = noted();
    const order: string[] = [];
    let release: () => void = () => {};
    const writes = createBatchedWrites<number[]>({
      take,
      intervalMs: 60_000,
      log,
      what: 'numbers',
      write: async (batch) => {
        order.push(`start ${batch.join(',')}`);
        if (batch[0] === 1) await new Promise<void>((resolve) => (release = resolve));
        order.push(`end ${batch.join(',')}`);
      },
    });
    note(1);
    const first = writes.flush();
    note(2);
    note(3);
    const second = writes.flush();
    await Promise.resolve();
    expect(order).toEqual(['start 1']);
    release();
    await Promise.all([first, second]);
    expect(order).toEqual(['start 1', 'end 1', 'start 2,3', 'end 2,3']);
  });

  it('reports a failed batch and drops it, and the next batch is written', async () => {
    const { note, take } = noted();
    const failed: number[][] = [];
    const written: number[][] = [];
    const writes = createBatchedWrites<number[]>({
      take,
      intervalMs: 60_000,
      log,
      what: 'numbers',
      onFailed: (batch) => failed.push(batch),
      write: async (batch) => {
        if (batch.includes(13)) throw new Error('database refused');
        written.push(batch);
      },
    });
    note(13);
    await writes.flush();
    note(14);
    await writes.flush();
    expect(failed).toEqual([[13]]);
    expect(written).toEqual([[14]]);
  });

  it('flushes on its timer, takes nothing while a batch is still being written, and writes the rest on stop', async () => {
    vi.useFakeTimers();
    try {
      const { note, take } = noted();
      const written: number[][] = [];
      let release: () => void = () => {};
      const writes = createBatchedWrites<number[]>({
        take,
        intervalMs: 1000,
        log,
        what: 'numbers',
        write: async (batch) => {
          if (batch[0] === 1) await new Promise<void>((resolve) => (release = resolve));
          written.push(batch);
        },
      });
      writes.start();
      note(1);
      await vi.advanceTimersByTimeAsync(1000); // takes [1]; its write hangs
      note(2);
      await vi.advanceTimersByTimeAsync(3000); // three ticks while [1] is in flight: nothing taken
      expect(written).toEqual([]);
      release();
      note(3);
      await writes.stop();
      expect(written).toEqual([[1], [2, 3]]);
    } finally {
      vi.useRealTimers();
    }
  });
});
