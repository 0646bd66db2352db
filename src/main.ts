/**
 * Process entry point: configuration, the port, the data directory's lock, boot, and tell the
 * user what is where. What can refuse a start is checked before the rest of the code is even
 * loaded (boot and what it imports come in by dynamic import), so a refusal takes a moment.
 */
import cluster from 'node:cluster';
import type http from 'node:http';
import type { Booted, BootStep } from './boot.ts';
import { ConfigError, loadConfig, type Config } from './config/config.ts';
import { lockDataDir } from './db/data-dir-lock.ts';
import { createHttpServer } from './http/http-server.ts';
import { PROBLEM_TYPE_BASE } from './http/problem.ts';
import { describeListenError, describeStartupError } from './startup-errors.ts';

function banner(config: Config, booted: Booted, demoCredentialsPath: (dataDir: string) => string): string {
  const { urls } = booted.app;
  const lines = [
    '',
    `tenant-connect is listening on ${config.bindAddress}:${config.port} (${booted.db.kind === 'pglite' ? `embedded database in ${config.dataDir}` : 'Postgres'}${config.workers > 1 ? `, ${config.workers} worker processes` : ''})`,
    '',
  ];
  for (const environment of config.environments) {
    lines.push(`  ${environment.name}`);
    lines.push(`    token endpoint   ${urls.authenticationOrigin(environment)}/tenants/<tenant>/connect/token`);
    lines.push(`    discovery        ${urls.authenticationOrigin(environment)}/tenants/<tenant>/.well-known/openid-configuration`);
    lines.push(`    resource API     ${urls.tenantOrigin(environment, '<tenant>')}/api/v1/<collection>   (reference: /api/v1/docs)`);
    lines.push(`    admin API        ${urls.adminOrigin(environment)}/v1   (token: ${urls.platformIssuer(environment)}/connect/token)`);
  }
  lines.push('', `  health           /healthz (live) and /readyz (database) on every host`);
  if (config.metricsPort !== undefined)
    lines.push(`  metrics          http://${config.bindAddress}:${config.metricsPort}/metrics (Prometheus)`);
  const { admin } = booted;
  if (admin.file) {
    lines.push(
      '',
      `Platform admin credentials (scope platform:admin) are in ${admin.file} (mode 0600).`,
      '  The CLI reads them from there:  npm run cli -- tenants list   (npm run cli -- --help for every command)',
    );
  }
  if (admin.unknownToFile.length) {
    lines.push(
      '',
      `The platform of ${admin.unknownToFile.join(', ')} has admin clients already; their credentials are not in this DATA_DIR.`,
    );
  }
  if (booted.demoCredentials.length) {
    lines.push('', `Demo credentials (also in ${demoCredentialsPath(config.dataDir)}):`);
    for (const c of booted.demoCredentials)
      lines.push(`  ${c.environment.padEnd(11)} ${c.tenant.padEnd(7)} client_id=${c.client_id}  client_secret=${c.client_secret}`);
    const demo = booted.demoCredentials.find((c) => c.environment === 'sandbox' && c.tenant === 'acme') ?? booted.demoCredentials[0];
    if (demo) {
      lines.push(
        '',
        `Try it (${demo.tenant}, ${demo.environment}):`,
        `  TOKEN=$(curl -s -u '${demo.client_id}:${demo.client_secret}' -d grant_type=client_credentials \\`,
        `    ${demo.token_endpoint} | sed -E 's/.*"access_token":"([^"]+)".*/\\1/')`,
        `  curl -s -H "Authorization: Bearer $TOKEN" '${demo.api_base}/employees?limit=5'`,
      );
    }
  }
  if (booted.generatedKeyFile) {
    lines.push(
      '',
      `WARNING: signing keys are encrypted under a development key-encryption key generated into ${booted.generatedKeyFile}.`,
      '         Set KEY_ENCRYPTION_KEY (32 random bytes, base64url) for anything beyond development.',
    );
  }
  return `${lines.join('\n')}\n`;
}

/** Fails with one line naming the variable and the fix, after any progress lines; exit 2 like a
 * bad setting, never a stack trace. */
function stop(line: string): never {
  process.stderr.write(`${line}\n`);
  process.exit(2);
}

/** A listener that answers 503 "starting" until the app is ready to serve. */
function untilReady(): { listener: http.RequestListener; serve(app: http.RequestListener): void } {
  let handler: http.RequestListener = answerStarting;
  return {
    listener: (req, res) => handler(req, res),
    serve(app) {
      handler = app;
    },
  };
}

/** Binds a port before anything is created, so a port in use stops the start at once. */
async function listenFirst(server: http.Server, variable: 'PORT' | 'METRICS_PORT', config: Config, port: number): Promise<void> {
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, config.bindAddress, resolve);
    });
  } catch (error) {
    const line = describeListenError(error, variable, config.bindAddress, port);
    if (line) stop(`error: ${line}`);
    throw error;
  }
}

function answerStarting(_req: http.IncomingMessage, res: http.ServerResponse): void {
  // connection: close, so a body still arriving is not read, and the retry finds the app
  res
    .writeHead(503, { 'content-type': 'application/problem+json', 'retry-after': '1', 'cache-control': 'no-store', connection: 'close' })
    .end(
      JSON.stringify({
        type: `${PROBLEM_TYPE_BASE}service-unavailable`,
        title: 'Service Unavailable',
        status: 503,
        detail: 'The service is starting; retry shortly.',
      }),
    );
}

const PROGRESS: Record<BootStep, (config: Config) => string> = {
  'opening the database': (config) =>
    config.databaseUrl
      ? `connecting to Postgres at ${new URL(config.databaseUrl).host}`
      : `opening the embedded database in ${config.dataDir}`,
  migrating: () => 'migrating the schema',
  'seeding the demo tenants': () => 'seeding the demo tenants',
};

/** WORKERS > 1: the supervising primary, which serves only the workers' summed metrics. */
async function supervise(config: Config): Promise<void> {
  const metricsEndpoint = untilReady();
  if (config.metricsPort !== undefined) {
    const metricsServer = createHttpServer(config.http);
    metricsServer.on('request', metricsEndpoint.listener);
    await listenFirst(metricsServer, 'METRICS_PORT', config, config.metricsPort);
  }
  const [{ runPrimary, serveClusterMetrics }, { createLogger }] = await Promise.all([
    import('./cluster/primary.ts'),
    import('./observability/logger.ts'),
  ]);
  metricsEndpoint.serve(serveClusterMetrics());
  await runPrimary(config, { log: createLogger(config.logLevel).child({ component: 'primary' }) });
}

async function main(): Promise<void> {
  let config: Config;
  try {
    // `npm start -- --bootstrap-admin`: create the platform admin client even in production
    config = loadConfig(process.argv.includes('--bootstrap-admin') ? { ...process.env, BOOTSTRAP_ADMIN: 'true' } : process.env);
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`configuration error: ${error.message}\n`);
      process.exit(2);
    }
    throw error;
  }
  if (config.workers > 1 && cluster.isPrimary) return supervise(config);
  const app = untilReady();
  const server = createHttpServer(config.http);
  server.on('request', app.listener);
  // a worker under the primary listens only once it serves: the primary hands connections to every
  // listening worker in turn, and a worker still booting would answer its share 503
  if (!cluster.isWorker) await listenFirst(server, 'PORT', config, config.port);
  const metricsEndpoint = untilReady();
  let metricsServer: http.Server | undefined;
  // in a worker, the primary serves METRICS_PORT with every worker's metrics
  if (config.metricsPort !== undefined && !cluster.isWorker) {
    metricsServer = createHttpServer(config.http);
    metricsServer.on('request', metricsEndpoint.listener);
    await listenFirst(metricsServer, 'METRICS_PORT', config, config.metricsPort);
  }
  let releaseDataDir = () => {};
  if (!config.databaseUrl) {
    // the embedded database serves one process: a second one on this directory stops here
    try {
      const lock = lockDataDir(config.dataDir);
      releaseDataDir = () => lock.release();
      process.once('exit', releaseDataDir); // every exit but SIGKILL; a stale lock is ignored anyway
    } catch (error) {
      const line = describeStartupError(error, config);
      if (line) stop(`error: ${line}`);
      throw error;
    }
  }
  const [{ boot }, { createLogger }, { serveMetrics }, { demoCredentialsPath, loadDemoOrganisation, seedDemo }] = await Promise.all([
    import('./boot.ts'),
    import('./observability/logger.ts'),
    import('./observability/metrics.ts'),
    import('./admin/operator/demo-seed.ts'),
  ]);
  const log = createLogger(config.logLevel);
  let step: BootStep | undefined;
  let booted: Booted;
  try {
    booted = await boot(config, log, {
      seed: seedDemo,
      loadDemoOrganisation,
      onProgress(next) {
        step = next;
        // under a primary, the first worker speaks for all of them
        if (!cluster.isWorker || cluster.worker?.id === 1) process.stdout.write(`${PROGRESS[next](config)}…\n`);
      },
    });
  } catch (error) {
    // e.g. a key-encryption key that cannot decrypt what is stored: one line, not a stack trace
    if (error instanceof ConfigError) stop(`configuration error: ${error.message}`);
    const line = describeStartupError(error, config);
    if (line) stop(`error: ${line}`);
    if (step === 'opening the database' && !config.databaseUrl) {
      stop(
        `error: DATA_DIR: the embedded database cannot be opened in ${config.dataDir} (${String((error as Error).message ?? error).split('\n')[0]}); ` +
          'set DATA_DIR to a writable directory on a local file system',
      );
    }
    throw error;
  }
  // the handlers come before the banner: whoever reads the banner may signal at once, and a
  // SIGTERM before them would end the process unhandled (the lock file left behind)
  let stopping = false;
  const shutdown = (signal: string) => {
    if (stopping) return; // SIGINT from a terminal reaches the primary's workers too, which then add SIGTERM
    stopping = true;
    log.info({ signal }, 'shutting down');
    metricsServer?.close();
    server.close(() => {
      // released once the database is closed (the exit hook covers the grace timeout's exit)
      booted.close().finally(() => {
        releaseDataDir();
        process.exit(0);
      });
    });
    server.closeIdleConnections();
    setTimeout(() => process.exit(1), config.shutdownGraceMs).unref();
  };
  process.once('SIGINT', () => shutdown('SIGINT'));
  process.once('SIGTERM', () => shutdown('SIGTERM'));
  app.serve(booted.app.app.callback());
  metricsEndpoint.serve(serveMetrics(booted.app.metrics));
  if (cluster.isWorker) {
    await listenFirst(server, 'PORT', config, config.port);
    const { reportWorkerReady, shareMetricsWithPrimary } = await import('./cluster/primary.ts');
    shareMetricsWithPrimary(booted.app.metrics.registry);
    // the first worker tells the user what is where; the others and restarts only serve
    if (cluster.worker?.id === 1) process.stdout.write(banner(config, booted, demoCredentialsPath));
    reportWorkerReady();
  } else {
    process.stdout.write(banner(config, booted, demoCredentialsPath));
  }
}

main().catch((error: unknown) => {
  // not the operator's to fix (describeStartupError knows those): a bug, with its stack
  process.stderr.write(`error: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});
