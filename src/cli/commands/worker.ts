/** worker: the webhook delivery worker alone, on the server's database (not an admin API client) */
import { defineCommand, type Command } from '../command.ts';
import { CliError } from '../errors.ts';

/** The first SIGINT or SIGTERM (a second one ends the process at once); cancel() stops listening. */
function stopSignal(): { readonly received: Promise<NodeJS.Signals>; cancel(): void } {
  let on: (signal: NodeJS.Signals) => void = () => {};
  const received = new Promise<NodeJS.Signals>((resolve) => {
    on = (signal) => {
      cancel();
      const force = () => process.exit(1);
      process.once('SIGINT', force);
      process.once('SIGTERM', force);
      resolve(signal);
    };
  });
  const cancel = () => {
    process.off('SIGINT', on);
    process.off('SIGTERM', on);
  };
  process.on('SIGINT', on);
  process.on('SIGTERM', on);
  return { received, cancel };
}

export const workerCommands: Command[] = [
  defineCommand({
    path: ['worker'],
    summary: "Deliver webhooks from this process, without the HTTP server (Postgres only; the server's configuration).",
    local: true,
    notes: [
      'Reads the environment the server reads: DATABASE_URL (required: the embedded database is',
      "single-process, the server delivers there), KEY_ENCRYPTION_KEY and KEY_ENCRYPTION_KEY_PREVIOUS (or DATA_DIR's",
      'generated key in development), WEBHOOK_LEASE_MS, WEBHOOK_TIMEOUT_MS, WEBHOOK_CONCURRENCY, WEBHOOK_POLL_MS,',
      'WEBHOOK_ALLOW_LOOPBACK, LOG_LEVEL. It does not migrate: start the server once first. Run any number of',
      'workers beside servers (WEBHOOK_WORKER=false on servers that should only serve); each delivery is leased to',
      'one. Logs JSON lines on stdout; SIGINT or SIGTERM stops it after the deliveries in flight.',
    ].join('\n'),
    async run(ctx) {
      // loaded here, so the other commands stay a plain API client (no database driver)
      const { startStandaloneWorker, WorkerStartError } = await import('../../worker.ts');
      const stop = stopSignal();
      let worker;
      try {
        worker = await startStandaloneWorker(ctx.env);
      } catch (error) {
        stop.cancel();
        if (error instanceof WorkerStartError) throw new CliError(error.message);
        throw error;
      }
      const signal = await stop.received;
      await worker.stop(signal);
    },
  }),
];
