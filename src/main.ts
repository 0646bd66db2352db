/** Process entry point: configuration, boot, listen, and tell the user what is where. */
import http from 'node:http';
import { demoCredentialsPath } from './admin/operator/demo-seed.ts';
import { boot, type Booted } from './boot.ts';
import { ConfigError, loadConfig, type Config } from './config/config.ts';
import { createLogger } from './observability/logger.ts';
import { createMetricsServer } from './observability/metrics.ts';

function banner(config: Config, booted: Awaited<ReturnType<typeof boot>>): string {
  const { urls } = booted.app;
  const lines = [
    '',
    `tenant-connect is listening on ${config.bindAddress}:${config.port} (${booted.db.kind === 'pglite' ? `embedded database in ${config.dataDir}` : 'Postgres'})`,
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
  const log = createLogger(config.logLevel);
  let booted: Booted;
  try {
    booted = await boot(config, log);
  } catch (error) {
    // e.g. a key-encryption key that cannot decrypt what is stored: one line, not a stack trace
    if (error instanceof ConfigError) {
      process.stderr.write(`configuration error: ${error.message}\n`);
      process.exit(2);
    }
    throw error;
  }
  const server = http.createServer(booted.app.app.callback());
  server.keepAliveTimeout = 65_000; // longer than common load balancers' idle timeout
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.port, config.bindAddress, resolve);
  });
  let metricsServer: http.Server | undefined;
  if (config.metricsPort !== undefined) {
    const listening = createMetricsServer(booted.app.metrics);
    await new Promise<void>((resolve, reject) => {
      listening.once('error', reject);
      listening.listen(config.metricsPort, config.bindAddress, resolve);
    });
    metricsServer = listening;
  }
  process.stdout.write(banner(config, booted));

  const shutdown = (signal: string) => {
    log.info({ signal }, 'shutting down');
    metricsServer?.close();
    server.close(() => {
      booted.close().finally(() => process.exit(0));
    });
    server.closeIdleConnections();
    setTimeout(() => process.exit(1), 10_000).unref();
  };
  process.once('SIGINT', () => shutdown('SIGINT'));
  process.once('SIGTERM', () => shutdown('SIGTERM'));
}

main().catch((error: unknown) => {
  const code = (error as { code?: string }).code;
  if (code === 'EADDRINUSE') process.stderr.write(`error: port already in use; set PORT to a free port\n`);
  else if (code === 'ECONNREFUSED')
    process.stderr.write(`error: cannot reach the database at DATABASE_URL (${(error as Error).message}); is Postgres running?\n`);
  else process.stderr.write(`error: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});
