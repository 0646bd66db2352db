-- private_key_jwt (RFC 7523): a client's public keys, inline (the jwks column of the initial
-- schema) or by URL, and the assertion ids already seen.
ALTER TABLE clients ADD COLUMN jwks_uri text CHECK (length(jwks_uri) BETWEEN 1 AND 2000);
ALTER TABLE clients ADD CONSTRAINT clients_one_key_source CHECK (jwks IS NULL OR jwks_uri IS NULL);
-- a client that authenticates with a private key has somewhere to find its public keys
ALTER TABLE clients ADD CONSTRAINT clients_private_key_jwt_keys
  CHECK (NOT ('private_key_jwt' = ANY (auth_methods)) OR jwks IS NOT NULL OR jwks_uri IS NOT NULL);

-- the change notification now covers the new column too (a set-keys call must reach every instance)
DROP TRIGGER clients_changed ON clients;
CREATE TRIGGER clients_changed
  AFTER INSERT OR DELETE OR UPDATE OF client_id, name, auth_methods, jwks, jwks_uri, scopes, access_token_ttl, disabled_at
  ON clients FOR EACH ROW EXECUTE FUNCTION notify_tenant_change();

-- Every client assertion's jti, once (RFC 7523 §3 item 7). Written by the token endpoint as the
-- runtime role in the tenant's transaction, so it is tenant data under row level security like
-- clients: the namespace is the tenant, then the client (oidc-provider's id is sha256(iss || jti),
-- which alone would let client "a" with jti "bc" collide with client "ab" with jti "c").
-- A row is needed only until the assertion's exp (an expired assertion is refused anyway); each
-- insert deletes a few expired rows of its tenant (src/auth/assertion-replay.ts).
CREATE TABLE client_assertion_jtis (
  tenant_id  uuid NOT NULL REFERENCES tenants (id),
  client_id  text NOT NULL,
  jti_hash   text NOT NULL,
  expires_at timestamptz NOT NULL,
  PRIMARY KEY (tenant_id, client_id, jti_hash)
);
CREATE INDEX client_assertion_jtis_expiry ON client_assertion_jtis (tenant_id, expires_at);
SELECT enable_tenant_rls('client_assertion_jtis');
GRANT SELECT, INSERT, DELETE ON client_assertion_jtis TO tenant_connect_app;
