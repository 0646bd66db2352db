-- Usage per tenant and client: tokens issued, resource API calls (with their 4xx and 429 answers)
-- and webhook delivery attempts, counted in memory by each instance and added here in batches
-- (src/db/usage-counts.ts) with INSERT … ON CONFLICT DO UPDATE SET n = n + EXCLUDED.n, so the
-- counts of any number of instances and workers add up.
--
-- Two grains: hours, for the client health view's last 24 hours and the current hour of a token
-- quota, kept briefly (USAGE_HOURLY_RETENTION_DAYS); UTC days, for GET /v1/usage and the current
-- day of a quota, kept long (USAGE_RETENTION_DAYS). Both are written by the same statement.
--
-- Platform tables, like the audit log: the platform meters its tenants, the tenants do not write
-- here. Only the owner (the flusher, the admin API, the retention job) reads or writes them, so the
-- runtime role has no grant and RLS would guard nothing. Purged with their tenant.
--
-- client_id is the OAuth client_id; '' where there is no client (webhook deliveries), since a
-- primary key column cannot be null. The admin API shows it as null.
CREATE TABLE usage_hourly (
  tenant_id          uuid NOT NULL REFERENCES tenants (id),
  client_id          text NOT NULL CHECK (length(client_id) <= 128),
  -- the start of a UTC hour (date_bin, unlike date_trunc, does not depend on the session's TimeZone)
  hour               timestamptz NOT NULL CHECK (date_bin('1 hour', hour, timestamptz 'epoch') = hour),
  tokens             bigint NOT NULL DEFAULT 0,
  api_calls          bigint NOT NULL DEFAULT 0,
  api_4xx            bigint NOT NULL DEFAULT 0,
  api_429            bigint NOT NULL DEFAULT 0,
  webhook_deliveries bigint NOT NULL DEFAULT 0,
  PRIMARY KEY (tenant_id, client_id, hour)
);
-- retention trims by hour across tenants
CREATE INDEX usage_hourly_hour ON usage_hourly (hour);
REVOKE ALL ON usage_hourly FROM PUBLIC;

CREATE TABLE usage_daily (
  tenant_id          uuid NOT NULL REFERENCES tenants (id),
  day                date NOT NULL,
  client_id          text NOT NULL CHECK (length(client_id) <= 128),
  tokens             bigint NOT NULL DEFAULT 0,
  api_calls          bigint NOT NULL DEFAULT 0,
  api_4xx            bigint NOT NULL DEFAULT 0,
  api_429            bigint NOT NULL DEFAULT 0,
  webhook_deliveries bigint NOT NULL DEFAULT 0,
  -- the client health view's last API call, however long ago (within USAGE_RETENTION_DAYS)
  last_api_call_at   timestamptz,
  PRIMARY KEY (tenant_id, day, client_id)
);
-- GET /v1/usage without a tenant pages the environment's days in this order; retention trims by day
CREATE INDEX usage_daily_day ON usage_daily (day, tenant_id, client_id);
REVOKE ALL ON usage_daily FROM PUBLIC;
