import os from 'node:os';
import path from 'node:path';
import { Ajv } from 'ajv';

/**
 * Configuration comes only from environment variables, validated once at startup.
 * A bad value stops the process with one line naming the variable (ConfigError).
 */

export type EnvironmentName = string;

export interface EnvironmentConfig {
  /** e.g. "production" */
  readonly name: EnvironmentName;
  /** e.g. "connect.localhost"; lower-case, no trailing dot */
  readonly domain: string;
}

export interface Config {
  readonly nodeEnv: string;
  readonly port: number;
  readonly bindAddress: string;
  readonly http: HttpServerConfig;
  /** server processes under the supervising primary (WORKERS, auto resolved); 1 = no primary */
  readonly workers: number;
  readonly shutdownGraceMs: number;
  readonly dataDir: string;
  readonly databaseUrl: string | undefined;
  readonly databaseAppUrl: string | undefined;
  /** pool size, wait queue and timeouts of the Postgres connections (unused on PGlite) */
  readonly database: DatabaseSettings;
  readonly environments: readonly EnvironmentConfig[];
  readonly publicProtocol: 'http' | 'https';
  readonly publicPort: number;
  readonly trustProxy: boolean;
  readonly keyEncryptionKey: string | undefined;
  /** previous KEKs (base64url), only for decrypting what is not yet re-encrypted */
  readonly keyEncryptionKeyPrevious: readonly string[];
  readonly seedDemo: boolean;
  readonly logLevel: string;
  readonly providerPoolSize: number;
  readonly tenantCacheSize: number;
  readonly tenantCacheTtlMs: number;
  readonly tokenCacheSize: number;
  /** DPoP proof ids each instance remembers within their window (the APIs' replay check) */
  readonly dpopReplayCacheSize: number;
  readonly bootstrapAdmin: boolean;
  readonly metricsPort: number | undefined;
  readonly tenantPurgeAfterDays: number;
  readonly lastUsedFlushMs: number;
  readonly authEvents: { readonly enabled: boolean; readonly flushMs: number; readonly bufferSize: number };
  /** usage per tenant and client (src/db/usage-counts.ts): how often counts are written, how many entries wait */
  readonly usage: { readonly flushMs: number; readonly bufferSize: number };
  readonly jwksCacheSeconds: number;
  readonly keyRotationDelaySeconds: number;
  readonly keyRotationCheckMs: number;
  readonly webhooks: WebhookConfig;
  /** private_key_jwt: the longest life (exp - iat, or exp - now) a client assertion may have */
  readonly clientAssertionMaxLifetimeSeconds: number;
  /** the store the fleet's rate limits and token quotas are counted in; undefined: each instance counts alone */
  readonly redis: RedisConfig | undefined;
  readonly retention: RetentionConfig;
}

/** How long each kind of history is kept, and the background job that trims it. */
export interface RetentionConfig {
  /** run the retention job in this process (one instance at a time holds its lease) */
  readonly worker: boolean;
  readonly intervalMs: number;
  /** rows per DELETE: short transactions, so the events feed's horizon never waits long */
  readonly batchSize: number;
  readonly tombstoneDays: number;
  readonly eventDays: number;
  readonly deliveryDays: number;
  readonly attemptDays: number;
  readonly idempotencyKeyHours: number;
  readonly auditDays: number;
  readonly authEventDays: number;
  readonly usageDays: number;
  readonly usageHourlyDays: number;
}

/** Node's HTTP server limits, set deliberately rather than left at Node's defaults. */
export interface HttpServerConfig {
  readonly headersTimeoutMs: number;
  readonly requestTimeoutMs: number;
  readonly keepAliveTimeoutMs: number;
}

export interface DatabaseSettings {
  /** connections per pool (the runtime pool; the owner pool has a fifth of it, at least 2) */
  readonly poolSize: number;
  /** requests that may wait for a pooled connection; the next one is refused at once (503) */
  readonly poolQueue: number;
  /** connecting, or waiting in the queue for a pooled connection */
  readonly connectTimeoutMs: number;
  /** client side: how long to wait for a statement's answer before the connection is discarded */
  readonly queryTimeoutMs: number;
  /** server side: Postgres cancels a statement running longer (statement_timeout) */
  readonly statementTimeoutMs: number;
  /** server side: Postgres ends a session idle inside a transaction this long (its locks are freed) */
  readonly idleInTransactionTimeoutMs: number;
  /** TCP keepalive of every connection, and the heartbeat of the LISTEN connection */
  readonly keepAliveMs: number;
}

export interface WebhookConfig {
  /** run the delivery worker in this process */
  readonly worker: boolean;
  /** development: subscriptions may point at http://localhost and loopback addresses */
  readonly allowLoopback: boolean;
  readonly leaseMs: number;
  readonly timeoutMs: number;
  readonly concurrency: number;
  readonly pollMs: number;
}

export interface RedisConfig {
  readonly url: string;
  /** connecting, and waiting for a command's answer: past it the request is counted in memory */
  readonly timeoutMs: number;
  /** prepended to every key, so instances of other deployments can share the Redis */
  readonly keyPrefix: string;
}

export class ConfigError extends Error {
  override name = 'ConfigError';
  readonly variable: string;
  constructor(variable: string, message: string) {
    super(`${variable}: ${message}`);
    this.variable = variable;
  }
}

interface OptionSpec {
  readonly description: string;
  readonly schema: Record<string, unknown>;
  readonly default?: string;
}

const HOSTNAME = '^(?=.{1,253}$)([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)(\\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*$';

/** Every option: its variable, a one-line description, its default. docs/configuration.md's table mirrors this. */
export const OPTIONS = {
  NODE_ENV: {
    description: 'development or production; production refuses demo data and generated keys',
    schema: { type: 'string', minLength: 1 },
    default: 'development',
  },
  PORT: {
    description: 'TCP port to listen on (all hosts on one port)',
    schema: { type: 'integer', minimum: 0, maximum: 65535 },
    default: '3000',
  },
  BIND_ADDRESS: { description: 'address to bind; 0.0.0.0 in containers', schema: { type: 'string', minLength: 1 }, default: '127.0.0.1' },
  HTTP_HEADERS_TIMEOUT_MS: {
    description: "time a client has to send a request's headers, then 408 and the connection closes (Node's default: 60 s)",
    schema: { type: 'integer', minimum: 1000 },
    default: '10000',
  },
  HTTP_REQUEST_TIMEOUT_MS: {
    description: "time a client has to send a whole request, body included (at most 1 MiB), then 408 (Node's default: 300 s)",
    schema: { type: 'integer', minimum: 1000 },
    default: '30000',
  },
  HTTP_KEEP_ALIVE_TIMEOUT_MS: {
    description:
      'how long an idle kept-alive connection stays open; longer than the idle timeout of the load balancer in front (AWS ALB: 60 s)',
    schema: { type: 'integer', minimum: 1000 },
    default: '65000',
  },
  WORKERS: {
    description:
      'server processes on PORT under one supervising primary: a number, or auto (one per available CPU); 1 on the embedded database',
    schema: { anyOf: [{ enum: ['auto'] }, { type: 'integer', minimum: 1, maximum: 256 }] },
    default: '1',
  },
  SHUTDOWN_GRACE_MS: {
    description: 'on SIGTERM: stop accepting, let requests in flight finish for at most this long, then exit',
    schema: { type: 'integer', minimum: 0 },
    default: '10000',
  },
  DATA_DIR: {
    description: 'where the embedded database, generated key-encryption key and demo credentials live',
    schema: { type: 'string', minLength: 1 },
    default: './data',
  },
  DATABASE_URL: {
    description: 'postgres://… of a real Postgres (migration owner); unset = embedded PGlite in DATA_DIR',
    schema: { type: 'string', pattern: '^postgres(ql)?://' },
  },
  DATABASE_APP_URL: {
    description: 'postgres://… for requests (PgBouncer), as a login that owns nothing, member of tenant_connect_app; default: DATABASE_URL',
    schema: { type: 'string', pattern: '^postgres(ql)?://' },
  },
  DATABASE_POOL_SIZE: {
    description:
      'Postgres connections per instance for requests (a separate owner pool, for admin work and workers, has a fifth, at least 2)',
    schema: { type: 'integer', minimum: 1, maximum: 1000 },
    default: '10',
  },
  DATABASE_POOL_QUEUE: {
    description: 'requests that may wait for a Postgres connection; past that a request is refused at once with 503',
    schema: { type: 'integer', minimum: 0 },
    default: '100',
  },
  DATABASE_CONNECT_TIMEOUT_MS: {
    description: 'longest wait to open a Postgres connection or to get one from the pool (then 503)',
    schema: { type: 'integer', minimum: 100 },
    default: '5000',
  },
  DATABASE_QUERY_TIMEOUT_MS: {
    description: 'longest wait for a statement to answer (then 503, the connection discarded): a silent database never hangs a request',
    schema: { type: 'integer', minimum: 100 },
    default: '5000',
  },
  DATABASE_STMT_TIMEOUT_MS: {
    description: 'Postgres cancels a statement running longer (statement_timeout); below DATABASE_QUERY_TIMEOUT_MS',
    schema: { type: 'integer', minimum: 100 },
    default: '4000',
  },
  DATABASE_IDLE_TX_TIMEOUT_MS: {
    description: 'Postgres ends a session idle inside a transaction this long, freeing its locks (idle_in_transaction_session_timeout)',
    schema: { type: 'integer', minimum: 100 },
    default: '5000',
  },
  DATABASE_KEEPALIVE_MS: {
    description: 'TCP keepalive delay of Postgres connections, and how often the LISTEN connection checks that the database answers',
    schema: { type: 'integer', minimum: 100 },
    default: '5000',
  },
  ENVIRONMENTS: {
    description: 'JSON object environment name → domain',
    schema: { type: 'string' },
    default: '{"production":"connect.localhost","sandbox":"connect-sandbox.localhost"}',
  },
  PUBLIC_PROTOCOL: {
    description: 'scheme of the public URLs (issuer, audience): http or https',
    schema: { enum: ['http', 'https'] },
    default: 'http',
  },
  PUBLIC_PORT: {
    description: 'port of the public URLs; omitted from URLs when 80/443; default PORT',
    schema: { type: 'integer', minimum: 1, maximum: 65535 },
  },
  TRUST_PROXY: {
    description: 'honour X-Forwarded-Host/-Proto/-For (only behind a proxy that sets them)',
    schema: { enum: ['true', 'false', '1', '0'] },
    default: 'false',
  },
  KEY_ENCRYPTION_KEY: {
    description: '32 random bytes, base64url; encrypts signing keys at rest (required in production)',
    schema: { type: 'string', pattern: '^[A-Za-z0-9_-]{43}=?$' },
  },
  KEY_ENCRYPTION_KEY_PREVIOUS: {
    description: 'comma-separated previous key-encryption keys: they only decrypt, until every signing key is re-encrypted',
    schema: { type: 'string', pattern: '^[A-Za-z0-9_-]{43}=?(,[A-Za-z0-9_-]{43}=?)*$' },
  },
  SEED_DEMO: {
    description: 'create the demo tenants and credentials on start (never in production)',
    schema: { enum: ['true', 'false', '1', '0'] },
  },
  LOG_LEVEL: {
    description: 'pino log level',
    schema: { enum: ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] },
    default: 'info',
  },
  PROVIDER_POOL_SIZE: {
    description: 'authorization servers (one per tenant and environment) kept in memory',
    schema: { type: 'integer', minimum: 1 },
    default: '1000',
  },
  TENANT_CACHE_SIZE: {
    description: 'tenants (with their effective rate limits), client records and key sets kept in memory (each)',
    schema: { type: 'integer', minimum: 1 },
    default: '10000',
  },
  TENANT_CACHE_TTL_MS: {
    description: 'safety net: how long a cached tenant or client record is trusted (changes invalidate at once)',
    schema: { type: 'integer', minimum: 0 },
    default: '300000',
  },
  TOKEN_CACHE_SIZE: {
    description: 'verified access tokens kept in memory until they expire',
    schema: { type: 'integer', minimum: 0 },
    default: '50000',
  },
  DPOP_REPLAY_CACHE_SIZE: {
    description:
      'DPoP proof ids the APIs remember per instance to refuse a replay, each for 65 s; above DPoP requests per second × 65, or the oldest are forgotten early',
    schema: { type: 'integer', minimum: 1000 },
    default: '200000',
  },
  METRICS_PORT: {
    description: 'serve Prometheus metrics at :METRICS_PORT/metrics on BIND_ADDRESS (unset: no metrics listener)',
    schema: { type: 'integer', minimum: 1, maximum: 65535 },
  },
  BOOTSTRAP_ADMIN: {
    description:
      'create a platform admin client on first start, credentials in DATA_DIR/admin-credentials.json (default: on, except in production; or npm start -- --bootstrap-admin)',
    schema: { enum: ['true', 'false', '1', '0'] },
  },
  TENANT_PURGE_AFTER_DAYS: {
    description: 'days a soft-deleted tenant must stay deleted before it may be purged',
    schema: { type: 'integer', minimum: 0 },
    default: '30',
  },
  LAST_USED_FLUSH_MS: {
    description: "how often clients' and secrets' last_used_at is written (at most once per interval per row)",
    schema: { type: 'integer', minimum: 100 },
    default: '10000',
  },
  // the auth event log (src/auth/auth-events.ts)
  AUTH_EVENTS: {
    description: 'record every token request outcome in the auth event log (GET /v1/tenants/{slug}/auth-events)',
    schema: { enum: ['true', 'false', '1', '0'] },
    default: 'true',
  },
  AUTH_EVENTS_FLUSH_MS: {
    description: 'how often buffered auth events are written to the database (one round trip, one insert per tenant with events)',
    schema: { type: 'integer', minimum: 100 },
    default: '2000',
  },
  AUTH_EVENTS_BUFFER_SIZE: {
    description: 'auth events held between flushes; more are dropped and counted (tenant_connect_auth_events_dropped_total)',
    schema: { type: 'integer', minimum: 1 },
    default: '20000',
  },
  // usage per tenant and client (src/db/usage-counts.ts)
  USAGE_FLUSH_MS: {
    description: 'how often the usage counts (tokens, API calls, webhook deliveries) are added to the database, in one statement',
    schema: { type: 'integer', minimum: 100 },
    default: '5000',
  },
  USAGE_BUFFER_SIZE: {
    description:
      'usage entries (tenant, client, hour) held between flushes and while the database is away; more are dropped and counted (tenant_connect_usage_dropped_total)',
    schema: { type: 'integer', minimum: 1 },
    default: '50000',
  },
  JWKS_CACHE_SECONDS: {
    description: 'max-age of the JWKS response: how long verifiers may use a key set before fetching it again',
    schema: { type: 'integer', minimum: 0 },
    default: '300',
  },
  KEY_ROTATION_DELAY_SECONDS: {
    description: 'default time a new signing key is published before it signs; at least JWKS_CACHE_SECONDS',
    schema: { type: 'integer', minimum: 0 },
    default: '600',
  },
  KEY_ROTATION_CHECK_MS: {
    description: 'how often each instance looks for staged signing keys that are due to be promoted',
    schema: { type: 'integer', minimum: 10 },
    default: '1000',
  },
  WEBHOOK_WORKER: {
    description: 'deliver webhooks from this process (any number of instances may; each delivery is leased to one)',
    schema: { enum: ['true', 'false', '1', '0'] },
    default: 'true',
  },
  WEBHOOK_ALLOW_LOOPBACK: {
    description:
      'let webhook subscriptions and client jwks_uri use http://localhost and loopback addresses (default: on, except in production); private ranges never',
    schema: { enum: ['true', 'false', '1', '0'] },
  },
  WEBHOOK_LEASE_MS: {
    description: 'how long a claimed delivery is held by one worker before another may take it again',
    schema: { type: 'integer', minimum: 1000 },
    default: '60000',
  },
  WEBHOOK_TIMEOUT_MS: {
    description: 'per delivery attempt, from connecting to the end of the response',
    schema: { type: 'integer', minimum: 100, maximum: 60000 },
    default: '10000',
  },
  WEBHOOK_CONCURRENCY: {
    description: 'webhook requests in flight at once per process',
    schema: { type: 'integer', minimum: 1, maximum: 1000 },
    default: '32',
  },
  WEBHOOK_POLL_MS: {
    description: 'how often a worker looks for due deliveries (new events wake it at once)',
    schema: { type: 'integer', minimum: 10 },
    default: '1000',
  },
  CLIENT_ASSERTION_MAX_LIFETIME_SECONDS: {
    description: 'private_key_jwt: the longest lifetime (exp - iat) a client assertion may have; longer ones are refused',
    schema: { type: 'integer', minimum: 5, maximum: 3600 },
    default: '60',
  },
  REDIS_URL: {
    description:
      'redis://… (or rediss://) shared by every instance: rate limits, auth-failure throttles, token quotas, DPoP proof ids count across the fleet; unset = per instance',
    schema: { type: 'string', pattern: '^rediss?://' },
  },
  REDIS_TIMEOUT_MS: {
    description:
      'longest wait to connect to Redis or for its answer; past it (or while Redis is down) the request is counted in this instance alone, never refused',
    schema: { type: 'integer', minimum: 10, maximum: 10000 },
    default: '250',
  },
  REDIS_KEY_PREFIX: {
    description: 'prefix of every Redis key this deployment writes (several deployments may share one Redis)',
    schema: { type: 'string', minLength: 1, maxLength: 100 },
    default: 'tenant-connect:',
  },
  RETENTION_WORKER: {
    description: 'run the retention job in this process (any number of instances may; one at a time holds its lease)',
    schema: { enum: ['true', 'false', '1', '0'] },
    default: 'true',
  },
  RETENTION_INTERVAL_MS: {
    description: 'how often the retention job trims expired history',
    schema: { type: 'integer', minimum: 1000 },
    default: '3600000',
  },
  RETENTION_BATCH_SIZE: {
    description: 'rows the retention job deletes per statement (each its own short transaction)',
    schema: { type: 'integer', minimum: 1, maximum: 100000 },
    default: '1000',
  },
  TOMBSTONE_RETENTION_DAYS: {
    description: 'days a deleted resource stays visible to include_deleted syncs; an older updated_since answers 410',
    schema: { type: 'integer', minimum: 1 },
    default: '30',
  },
  EVENT_RETENTION_DAYS: {
    description: 'days events stay in GET /api/v1/events (an event with a delivery still pending is kept)',
    schema: { type: 'integer', minimum: 1 },
    default: '30',
  },
  WEBHOOK_DELIVERY_RETENTION_DAYS: {
    description: 'days finished webhook deliveries (delivered or failed) are kept, with their attempts',
    schema: { type: 'integer', minimum: 1 },
    default: '30',
  },
  WEBHOOK_ATTEMPT_RETENTION_DAYS: {
    description: 'days the record of each webhook delivery attempt is kept',
    schema: { type: 'integer', minimum: 1 },
    default: '30',
  },
  IDEMPOTENCY_KEY_RETENTION_HOURS: {
    description: 'hours an Idempotency-Key and its response are kept; at least the 24 h a retry is answered from it',
    schema: { type: 'integer', minimum: 24 },
    default: '48',
  },
  AUDIT_RETENTION_DAYS: {
    description: 'days the admin audit log is kept',
    schema: { type: 'integer', minimum: 1 },
    default: '365',
  },
  AUTH_EVENT_RETENTION_DAYS: {
    description: 'days the auth event log (every token request, issued or refused) is kept',
    schema: { type: 'integer', minimum: 1 },
    default: '30',
  },
  USAGE_RETENTION_DAYS: {
    description: 'days the daily usage per tenant and client (GET /v1/usage) is kept: a year and a month, for year-over-year bills',
    schema: { type: 'integer', minimum: 1 },
    default: '400',
  },
  USAGE_HOURLY_RETENTION_DAYS: {
    description: "days the hourly usage is kept (client health's last 24 hours, a token quota's current hour)",
    schema: { type: 'integer', minimum: 2 },
    default: '7',
  },
} as const satisfies Record<string, OptionSpec>;

type OptionName = keyof typeof OPTIONS;

const ajv = new Ajv({ allErrors: false, coerceTypes: false });
const validators = Object.fromEntries(Object.entries(OPTIONS).map(([name, spec]) => [name, ajv.compile(spec.schema)])) as Record<
  OptionName,
  ReturnType<typeof ajv.compile>
>;

const environmentsValidator = ajv.compile({
  type: 'object',
  minProperties: 1,
  propertyNames: { pattern: '^[a-z][a-z0-9_-]{0,31}$' },
  additionalProperties: { type: 'string', pattern: HOSTNAME },
});

function describeSchema(schema: Record<string, unknown>): string {
  if (Array.isArray(schema.anyOf)) {
    const alternatives = schema.anyOf as Record<string, unknown>[];
    return alternatives.map((s) => (Array.isArray(s.enum) ? s.enum.join(', ') : describeSchema(s))).join(' or ');
  }
  if (Array.isArray(schema.enum)) return `one of ${schema.enum.join(', ')}`;
  if (schema.type === 'integer') {
    const range = [schema.minimum, schema.maximum].filter((x) => x !== undefined).join('..');
    return `an integer${range ? ` (${range})` : ''}`;
  }
  if (typeof schema.pattern === 'string') return `a string matching ${schema.pattern}`;
  return 'a non-empty string';
}

function read(env: NodeJS.ProcessEnv, name: OptionName): string | undefined {
  const raw = env[name];
  const spec: OptionSpec = OPTIONS[name];
  const value = raw === undefined || raw === '' ? spec.default : raw;
  if (value === undefined) return undefined;
  const numeric =
    spec.schema.type === 'integer' || (spec.schema.anyOf as { type?: string }[] | undefined)?.some((s) => s.type === 'integer');
  const typed = numeric && /^-?\d+$/.test(value) ? Number(value) : value;
  if (!validators[name](typed)) {
    throw new ConfigError(name, `expected ${describeSchema(spec.schema)}, got ${JSON.stringify(raw)}`);
  }
  return value;
}

const bool = (value: string | undefined): boolean => value === 'true' || value === '1';

function parseEnvironments(raw: string): EnvironmentConfig[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    throw new ConfigError('ENVIRONMENTS', 'expected a JSON object like {"production":"example.com","sandbox":"examplesandbox.com"}');
  }
  const normalized =
    parsed && typeof parsed === 'object' && !Array.isArray(parsed)
      ? Object.fromEntries(Object.entries(parsed).map(([k, v]) => [k, typeof v === 'string' ? v.toLowerCase().replace(/\.$/, '') : v]))
      : parsed;
  if (!environmentsValidator(normalized)) {
    throw new ConfigError(
      'ENVIRONMENTS',
      'expected a JSON object of environment names (lower-case) to hostnames, e.g. {"production":"example.com"}',
    );
  }
  const environments = Object.entries(normalized as Record<string, string>).map(([name, domain]) => ({ name, domain }));
  // A domain inside another would make "<x>.<domain>" ambiguous between a tenant and an environment.
  for (const a of environments) {
    for (const b of environments) {
      if (a !== b && (a.domain === b.domain || a.domain.endsWith(`.${b.domain}`))) {
        throw new ConfigError('ENVIRONMENTS', `domains must not overlap: ${a.name}=${a.domain} and ${b.name}=${b.domain}`);
      }
    }
  }
  return environments;
}

function loadHttpServerConfig(env: NodeJS.ProcessEnv): HttpServerConfig {
  const headersTimeoutMs = Number(read(env, 'HTTP_HEADERS_TIMEOUT_MS'));
  const requestTimeoutMs = Number(read(env, 'HTTP_REQUEST_TIMEOUT_MS'));
  // Node refuses a headers timeout longer than the request timeout; say which variable
  if (requestTimeoutMs < headersTimeoutMs) {
    throw new ConfigError(
      'HTTP_REQUEST_TIMEOUT_MS',
      `must be at least HTTP_HEADERS_TIMEOUT_MS (${headersTimeoutMs}), got ${requestTimeoutMs}`,
    );
  }
  return { headersTimeoutMs, requestTimeoutMs, keepAliveTimeoutMs: Number(read(env, 'HTTP_KEEP_ALIVE_TIMEOUT_MS')) };
}

function loadDatabaseSettings(env: NodeJS.ProcessEnv): DatabaseSettings {
  const queryTimeoutMs = Number(read(env, 'DATABASE_QUERY_TIMEOUT_MS'));
  const statementTimeoutMs = Number(read(env, 'DATABASE_STMT_TIMEOUT_MS'));
  // the server must cancel a slow statement before the client gives up on the connection: a
  // cancelled statement leaves a usable connection and a clear error, a client timeout neither
  if (statementTimeoutMs >= queryTimeoutMs) {
    throw new ConfigError(
      'DATABASE_STMT_TIMEOUT_MS',
      `must be below DATABASE_QUERY_TIMEOUT_MS (${queryTimeoutMs}), got ${statementTimeoutMs}`,
    );
  }
  return {
    poolSize: Number(read(env, 'DATABASE_POOL_SIZE')),
    poolQueue: Number(read(env, 'DATABASE_POOL_QUEUE')),
    connectTimeoutMs: Number(read(env, 'DATABASE_CONNECT_TIMEOUT_MS')),
    queryTimeoutMs,
    statementTimeoutMs,
    idleInTransactionTimeoutMs: Number(read(env, 'DATABASE_IDLE_TX_TIMEOUT_MS')),
    keepAliveMs: Number(read(env, 'DATABASE_KEEPALIVE_MS')),
  };
}

/** WORKERS, with auto resolved to the CPUs this process may use; the embedded database serves one process. */
function loadWorkers(env: NodeJS.ProcessEnv, databaseUrl: string | undefined): number {
  const raw = read(env, 'WORKERS') as string;
  const workers = raw === 'auto' ? os.availableParallelism() : Number(raw);
  if (workers > 1 && !databaseUrl) {
    const resolved = raw === 'auto' ? ` (auto: ${workers} CPUs)` : '';
    throw new ConfigError(
      'WORKERS',
      `${workers} processes${resolved} need a Postgres: the embedded database serves one process; set DATABASE_URL, or WORKERS=1`,
    );
  }
  return workers;
}

/** The defaults, for code that opens a database without a configuration (tests, tools). */
export const DEFAULT_DATABASE_SETTINGS: DatabaseSettings = loadDatabaseSettings({});

function loadWebhookConfig(env: NodeJS.ProcessEnv, production: boolean): WebhookConfig {
  const allowLoopback = read(env, 'WEBHOOK_ALLOW_LOOPBACK');
  const leaseMs = Number(read(env, 'WEBHOOK_LEASE_MS'));
  const timeoutMs = Number(read(env, 'WEBHOOK_TIMEOUT_MS'));
  if (leaseMs <= timeoutMs) {
    throw new ConfigError('WEBHOOK_LEASE_MS', `must be longer than WEBHOOK_TIMEOUT_MS (${timeoutMs}), or a slow attempt loses its lease`);
  }
  return {
    worker: bool(read(env, 'WEBHOOK_WORKER')),
    allowLoopback: allowLoopback === undefined ? !production : bool(allowLoopback),
    leaseMs,
    timeoutMs,
    concurrency: Number(read(env, 'WEBHOOK_CONCURRENCY')),
    pollMs: Number(read(env, 'WEBHOOK_POLL_MS')),
  };
}

function loadRetentionConfig(env: NodeJS.ProcessEnv): RetentionConfig {
  return {
    worker: bool(read(env, 'RETENTION_WORKER')),
    intervalMs: Number(read(env, 'RETENTION_INTERVAL_MS')),
    batchSize: Number(read(env, 'RETENTION_BATCH_SIZE')),
    tombstoneDays: Number(read(env, 'TOMBSTONE_RETENTION_DAYS')),
    eventDays: Number(read(env, 'EVENT_RETENTION_DAYS')),
    deliveryDays: Number(read(env, 'WEBHOOK_DELIVERY_RETENTION_DAYS')),
    attemptDays: Number(read(env, 'WEBHOOK_ATTEMPT_RETENTION_DAYS')),
    idempotencyKeyHours: Number(read(env, 'IDEMPOTENCY_KEY_RETENTION_HOURS')),
    auditDays: Number(read(env, 'AUDIT_RETENTION_DAYS')),
    authEventDays: Number(read(env, 'AUTH_EVENT_RETENTION_DAYS')),
    usageDays: Number(read(env, 'USAGE_RETENTION_DAYS')),
    usageHourlyDays: Number(read(env, 'USAGE_HOURLY_RETENTION_DAYS')),
  };
}

function loadRedisConfig(env: NodeJS.ProcessEnv): RedisConfig | undefined {
  const url = read(env, 'REDIS_URL');
  if (url === undefined) return undefined;
  return { url, timeoutMs: Number(read(env, 'REDIS_TIMEOUT_MS')), keyPrefix: read(env, 'REDIS_KEY_PREFIX') as string };
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const nodeEnv = read(env, 'NODE_ENV') ?? 'development';
  const port = Number(read(env, 'PORT'));
  const production = nodeEnv === 'production';
  const keyEncryptionKey = read(env, 'KEY_ENCRYPTION_KEY');
  if (production && !keyEncryptionKey) {
    throw new ConfigError(
      'KEY_ENCRYPTION_KEY',
      'required when NODE_ENV=production (32 random bytes, base64url: `node -e "console.log(crypto.randomBytes(32).toString(\'base64url\'))"`)',
    );
  }
  const seedDemoRaw = read(env, 'SEED_DEMO');
  const seedDemo = seedDemoRaw === undefined ? !production : bool(seedDemoRaw);
  if (production && seedDemo) {
    throw new ConfigError('SEED_DEMO', 'demo tenants and credentials are never created when NODE_ENV=production');
  }
  const publicPortRaw = read(env, 'PUBLIC_PORT');
  const bootstrapAdminRaw = read(env, 'BOOTSTRAP_ADMIN');
  const metricsPortRaw = read(env, 'METRICS_PORT');
  const jwksCacheSeconds = Number(read(env, 'JWKS_CACHE_SECONDS'));
  const keyRotationDelaySeconds = Number(read(env, 'KEY_ROTATION_DELAY_SECONDS'));
  // a key must be published for longer than verifiers may cache the key set without it, or
  // tokens signed by it fail at verifiers still holding the old set
  if (keyRotationDelaySeconds < jwksCacheSeconds) {
    throw new ConfigError(
      'KEY_ROTATION_DELAY_SECONDS',
      `must be at least JWKS_CACHE_SECONDS (${jwksCacheSeconds}), got ${keyRotationDelaySeconds}`,
    );
  }
  const previousKeys = read(env, 'KEY_ENCRYPTION_KEY_PREVIOUS');
  return {
    nodeEnv,
    port,
    bindAddress: read(env, 'BIND_ADDRESS') as string,
    http: loadHttpServerConfig(env),
    workers: loadWorkers(env, read(env, 'DATABASE_URL')),
    shutdownGraceMs: Number(read(env, 'SHUTDOWN_GRACE_MS')),
    dataDir: path.resolve(read(env, 'DATA_DIR') as string),
    databaseUrl: read(env, 'DATABASE_URL'),
    databaseAppUrl: read(env, 'DATABASE_APP_URL'),
    database: loadDatabaseSettings(env),
    environments: parseEnvironments(read(env, 'ENVIRONMENTS') as string),
    publicProtocol: read(env, 'PUBLIC_PROTOCOL') as 'http' | 'https',
    publicPort: publicPortRaw === undefined ? port : Number(publicPortRaw),
    trustProxy: bool(read(env, 'TRUST_PROXY')),
    keyEncryptionKey,
    keyEncryptionKeyPrevious: previousKeys ? previousKeys.split(',') : [],
    seedDemo,
    logLevel: read(env, 'LOG_LEVEL') as string,
    providerPoolSize: Number(read(env, 'PROVIDER_POOL_SIZE')),
    tenantCacheSize: Number(read(env, 'TENANT_CACHE_SIZE')),
    tenantCacheTtlMs: Number(read(env, 'TENANT_CACHE_TTL_MS')),
    tokenCacheSize: Number(read(env, 'TOKEN_CACHE_SIZE')),
    dpopReplayCacheSize: Number(read(env, 'DPOP_REPLAY_CACHE_SIZE')),
    metricsPort: metricsPortRaw === undefined ? undefined : Number(metricsPortRaw),
    bootstrapAdmin: bootstrapAdminRaw === undefined ? !production : bool(bootstrapAdminRaw),
    tenantPurgeAfterDays: Number(read(env, 'TENANT_PURGE_AFTER_DAYS')),
    lastUsedFlushMs: Number(read(env, 'LAST_USED_FLUSH_MS')),
    authEvents: {
      enabled: bool(read(env, 'AUTH_EVENTS')),
      flushMs: Number(read(env, 'AUTH_EVENTS_FLUSH_MS')),
      bufferSize: Number(read(env, 'AUTH_EVENTS_BUFFER_SIZE')),
    },
    usage: { flushMs: Number(read(env, 'USAGE_FLUSH_MS')), bufferSize: Number(read(env, 'USAGE_BUFFER_SIZE')) },
    jwksCacheSeconds,
    keyRotationDelaySeconds,
    keyRotationCheckMs: Number(read(env, 'KEY_ROTATION_CHECK_MS')),
    webhooks: loadWebhookConfig(env, production),
    clientAssertionMaxLifetimeSeconds: Number(read(env, 'CLIENT_ASSERTION_MAX_LIFETIME_SECONDS')),
    redis: loadRedisConfig(env),
    retention: loadRetentionConfig(env),
  };
}
