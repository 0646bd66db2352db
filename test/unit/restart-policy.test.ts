import { describe, expect, it } from 'vitest';
import { decideAfterExit, DEFAULT_RESTART_POLICY, REFUSED_EXIT_CODE, type RestartPolicy } from '../../src/cluster/restart-policy.ts';

const policy: RestartPolicy = { initialDelayMs: 100, maxDelayMs: 1000, stableAfterMs: 60_000 };
const crash = (uptimeMs: number, wasReady = true) => ({ code: null, signal: 'SIGKILL', uptimeMs, wasReady });

describe('the restart policy of the supervising primary', () => {
  it('restarts a crashed worker after a delay that doubles with each crash in a row, up to the ceiling', () => {
    const delays: number[] = [];
    let crashes = 0;
    for (let i = 0; i < 6; i++) {
      const decision = decideAfterExit(crash(500), crashes, policy);
      if (decision.action !== 'restart') throw new Error('expected a restart');
      delays.push(decision.delayMs);
      crashes = decision.crashesInARow;
    }
    expect(delays).toEqual([100, 200, 400, 800, 1000, 1000]);
    expect(crashes).toBe(6);
  });

  it('forgets earlier crashes once a worker has run for stableAfterMs', () => {
    expect(decideAfterExit(crash(60_000), 5, policy)).toEqual({ action: 'restart', delayMs: 100, crashesInARow: 1 });
    expect(decideAfterExit(crash(59_999), 5, policy)).toEqual({ action: 'restart', delayMs: 1000, crashesInARow: 6 });
  });

  it('stops the primary with exit code 2 when a worker refused to start (a configuration or startup error)', () => {
    expect(decideAfterExit({ code: REFUSED_EXIT_CODE, signal: null, uptimeMs: 300, wasReady: false }, 0, policy)).toEqual({
      action: 'stop',
      exitCode: 2,
      reason: 'a worker refused to start (its line above says why)',
    });
  });

  it('restarts a worker that exits with 2 after it served (not a refused start), and one that crashes while starting', () => {
    expect(decideAfterExit({ code: 2, signal: null, uptimeMs: 5000, wasReady: true }, 0, policy)).toMatchObject({ action: 'restart' });
    expect(decideAfterExit({ code: 1, signal: null, uptimeMs: 300, wasReady: false }, 0, policy)).toMatchObject({ action: 'restart' });
  });

  it('keeps the delay finite however many crashes came before', () => {
    const decision = decideAfterExit(crash(0), 10_000, DEFAULT_RESTART_POLICY);
    expect(decision).toEqual({ action: 'restart', delayMs: DEFAULT_RESTART_POLICY.maxDelayMs, crashesInARow: 10_001 });
  });
});
