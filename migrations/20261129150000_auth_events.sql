-- The auth event log: one row per token request, issued or refused with a stable reason
-- (src/catalog/auth-event-reasons.ts), so "did client X get a token, and if not, why?" has an
-- answer. Written in batches off the request path by the runtime role (insert only); read by the
-- admin API. Never a secret or a token: the client id as presented (only when it has the shape of
-- a client id), the caller's address, the scopes and the token's jti.
CREATE TABLE auth_events (
  tenant_id   uuid NOT NULL REFERENCES tenants (id),
  id          uuid NOT NULL,
  occurred_at timestamptz NOT NULL,
  client_id   text CHECK (client_id ~ '^[A-Za-z0-9._~-]{1,128}$'),
  outcome     text NOT NULL CHECK (outcome IN ('issued', 'refused')),
  reason      text CHECK (reason ~ '^[a-z_]{1,64}$'),
  source_ip   text CHECK (length(source_ip) <= 64),
  scopes      text[] NOT NULL DEFAULT '{}',
  jti         text CHECK (length(jti) <= 128),
  PRIMARY KEY (tenant_id, id),
  CHECK ((outcome = 'issued') = (reason IS NULL))
);
-- lists are newest first by the time-ordered id (the primary key), per client for client filters
-- and the client health view, and by time for retention
CREATE INDEX auth_events_client ON auth_events (tenant_id, client_id, id);
CREATE INDEX auth_events_occurred_at ON auth_events (occurred_at);

SELECT enable_tenant_rls('auth_events');
REVOKE ALL ON auth_events FROM PUBLIC;
GRANT INSERT ON auth_events TO tenant_connect_app;
