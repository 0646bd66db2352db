/** Messages between the benchmark (parent) and the server processes it starts (children), over IPC. */

export const CHILD_OPTIONS_ENV = 'BENCH_CHILD_OPTIONS';

export type ChildMessage =
  | { readonly type: 'progress'; readonly message: string }
  | { readonly type: 'ready'; readonly info: unknown }
  | { readonly type: 'failed'; readonly message: string }
  | { readonly type: 'memory'; readonly report: MemoryReport }
  | { readonly type: 'profiled'; readonly action: 'start' | 'stop' };

export type ParentMessage =
  | { readonly type: 'stop' }
  | { readonly type: 'memory' }
  /** start a V8 CPU profile, or stop it and write it to `file` (the steady state only, not boot) */
  | { readonly type: 'profile'; readonly action: 'start' }
  | { readonly type: 'profile'; readonly action: 'stop'; readonly file: string };

/**
 * A server process's memory, measured by the process itself on request (a benchmark diagnostic
 * over IPC, never an HTTP endpoint): after a full garbage collection, so it counts what is
 * retained rather than what the collector has not reclaimed yet.
 */
export interface MemoryReport {
  readonly rssMb: number;
  readonly heapUsedMb: number;
  readonly heapTotalMb: number;
  readonly externalMb: number;
  readonly arrayBuffersMb: number;
  /** what the server adds, e.g. how many Providers its pool holds */
  readonly extra: Record<string, number>;
}
