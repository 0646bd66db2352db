/**
 * The child side of a server process: read the options the parent passed, report progress and
 * readiness over IPC, and shut down cleanly when told to (or when the parent goes away).
 */
import { CHILD_OPTIONS_ENV, type ChildMessage, type ParentMessage } from './protocol.ts';

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

/** Runs `start`, reports what it returns as ready, and runs the returned close on 'stop'. */
export function serveChild<I>(start: () => Promise<{ info: I; close: () => Promise<void> }>): void {
  start().then(
    ({ info, close }) => {
      let closing = false;
      const stop = () => {
        if (closing) return;
        closing = true;
        setTimeout(() => process.exit(1), 5_000).unref();
        close().finally(() => process.exit(0));
      };
      process.on('message', (message: ParentMessage) => {
        if (message.type === 'stop') stop();
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
