/** Messages between the benchmark (parent) and the server processes it starts (children), over IPC. */

export const CHILD_OPTIONS_ENV = 'BENCH_CHILD_OPTIONS';

export type ChildMessage =
  | { readonly type: 'progress'; readonly message: string }
  | { readonly type: 'ready'; readonly info: unknown }
  | { readonly type: 'failed'; readonly message: string }
  | { readonly type: 'memory'; readonly report: MemoryReport }
  | { readonly type: 'profiled'; readonly action: 'start' | 'stop' }
  | { readonly type: 'heap-snapshot'; readonly file: string };

export type ParentMessage =
  | { readonly type: 'stop' }
  | { readonly type: 'memory' }
  /** start a V8 CPU profile, or stop it and write it to `file` (the steady state only, not boot) */
  | { readonly type: 'profile'; readonly action: 'start' }
  | { readonly type: 'profile'; readonly action: 'stop'; readonly file: string }
  /** write a V8 heap snapshot into `dir` (v8.writeHeapSnapshot) and answer with its file */
  | { readonly type: 'heap-snapshot'; readonly dir: string };

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
  /** anonymous resident memory (/proc/self/status RssAnon): the V8 heap, malloc's arenas, thread stacks */
  readonly rssAnonMb: number | undefined;
  /** file-backed resident memory (RssFile): the node binary's code and shared libraries */
  readonly rssFileMb: number | undefined;
  /** the V8 heap's spaces as committed (v8.getHeapSpaceStatistics space_size), in MiB; those above 1 MiB */
  readonly heapSpacesMb: Record<string, number>;
  /** threads of the process (/proc/self/status Threads): each may own a malloc arena */
  readonly threads: number | undefined;
  /** what the server adds, e.g. how many Providers its pool holds */
  readonly extra: Record<string, number>;
}
