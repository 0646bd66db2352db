-- Every delivery attempt as it happened: when, how long, the response code, the error and the
-- first KiB of the response body, so an operator can see why a receiver refused. Written by the
-- delivery worker (owner) under RLS like every tenant-owned table; read by the admin API.
CREATE TABLE webhook_attempts (
  tenant_id     uuid NOT NULL,
  id            uuid NOT NULL DEFAULT gen_random_uuid(),
  delivery_id   uuid NOT NULL,
  attempted_at  timestamptz NOT NULL,
  duration_ms   integer NOT NULL CHECK (duration_ms >= 0),
  status_code   integer,
  error         text,
  response_body text CHECK (length(response_body) <= 1024),
  PRIMARY KEY (tenant_id, id),
  FOREIGN KEY (tenant_id, delivery_id) REFERENCES webhook_deliveries (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX webhook_attempts_delivery ON webhook_attempts (tenant_id, delivery_id, attempted_at);

ALTER TABLE webhook_attempts ENABLE ROW LEVEL SECURITY;
ALTER TABLE webhook_attempts FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON webhook_attempts AS RESTRICTIVE FOR ALL TO PUBLIC
  USING (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid)
  WITH CHECK (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid);
CREATE POLICY tenant_access ON webhook_attempts AS PERMISSIVE FOR ALL TO PUBLIC
  USING (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid)
  WITH CHECK (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid);
REVOKE ALL ON webhook_attempts FROM PUBLIC;

-- Fair claiming takes due work tenant by tenant: a tenant's backlog must not hold up the others.
CREATE INDEX webhook_schedule_tenant_due ON webhook_schedule (tenant_id, due_at);
