-- Idempotency-Key support for POST on the resource API: the first response to a key is kept
-- (24 h) and replayed to retries of the same request by the same client. The key row is written
-- in the same transaction as the change it guards, so a concurrent retry waits for the first
-- attempt to commit or roll back instead of applying the change twice.
CREATE TABLE idempotency_keys (
  tenant_id        uuid NOT NULL REFERENCES tenants (id),
  client_id        text NOT NULL,
  key              text NOT NULL CHECK (length(key) BETWEEN 1 AND 255),
  request_hash     text NOT NULL,
  response_status  integer,
  response_headers jsonb,
  response_body    jsonb,
  created_at       timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, client_id, key)
);
CREATE INDEX idempotency_keys_created ON idempotency_keys (tenant_id, created_at);

ALTER TABLE idempotency_keys ENABLE ROW LEVEL SECURITY;
ALTER TABLE idempotency_keys FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON idempotency_keys AS RESTRICTIVE FOR ALL TO PUBLIC
  USING (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid)
  WITH CHECK (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid);
CREATE POLICY tenant_access ON idempotency_keys AS PERMISSIVE FOR ALL TO PUBLIC
  USING (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid)
  WITH CHECK (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid);

REVOKE ALL ON idempotency_keys FROM PUBLIC;
GRANT SELECT, INSERT, UPDATE, DELETE ON idempotency_keys TO tenant_connect_app;
