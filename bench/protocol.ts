/** Messages between the benchmark (parent) and the server processes it starts (children), over IPC. */

export const CHILD_OPTIONS_ENV = 'BENCH_CHILD_OPTIONS';

export type ChildMessage =
  | { readonly type: 'progress'; readonly message: string }
  | { readonly type: 'ready'; readonly info: unknown }
  | { readonly type: 'failed'; readonly message: string };

export type ParentMessage = { readonly type: 'stop' };
