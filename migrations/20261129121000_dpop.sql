-- DPoP (RFC 9449).
--
-- A client registered with dpop_bound_access_tokens must prove possession of a key at the token
-- endpoint. Its change notifies like the client's other columns; a trigger of its own, so the
-- existing clients_changed trigger (and its column list) stays as it landed.
ALTER TABLE clients ADD COLUMN dpop_bound_access_tokens boolean NOT NULL DEFAULT false;
CREATE TRIGGER clients_dpop_changed AFTER UPDATE OF dpop_bound_access_tokens
  ON clients FOR EACH ROW EXECUTE FUNCTION notify_tenant_change();

-- The token endpoint's replay detection (oidc-provider's ReplayDetection.unique(iss, jti, exp)):
-- a proof's jti, seen once per tenant and client until it expires. Claimed with
-- INSERT … ON CONFLICT DO NOTHING RETURNING, so two instances (or two Providers of the pool)
-- racing on one proof cannot both win. `id` is SHA-256 of the client id and the jti, so a
-- caller-chosen jti of any length costs a fixed-size row; rows past expires_at are deleted by the
-- instance that next claims one for the tenant.
CREATE TABLE oauth_replay_detections (
  tenant_id  uuid NOT NULL REFERENCES tenants (id),
  id         text NOT NULL CHECK (length(id) = 43),
  expires_at timestamptz NOT NULL,
  PRIMARY KEY (tenant_id, id)
);
CREATE INDEX oauth_replay_detections_expiry ON oauth_replay_detections (tenant_id, expires_at);
SELECT enable_tenant_rls('oauth_replay_detections');
REVOKE ALL ON oauth_replay_detections FROM PUBLIC;
GRANT SELECT, INSERT, UPDATE, DELETE ON oauth_replay_detections TO tenant_connect_app;
