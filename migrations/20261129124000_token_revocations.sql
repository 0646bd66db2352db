-- Access tokens are JWTs that no table stores, so revoking one means listing it until it expires:
-- revoked_tokens holds a tenant's revoked jti values until the token's exp, client_token_cutoffs
-- the second up to which every token of one client is revoked (iat <= issued_before) until the
-- longest token issued by then has expired. Every instance keeps both in memory, per tenant, and
-- hears each insert through the change notifications (channel tenant_connect_changes) at commit.

CREATE TABLE revoked_tokens (
  tenant_id uuid NOT NULL REFERENCES tenants (id),
  jti text NOT NULL CHECK (length(jti) BETWEEN 1 AND 256),
  -- the client the token was issued to; null when an operator revoked a jti alone
  client_id text,
  expires_at timestamptz NOT NULL,
  revoked_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, jti)
);
CREATE INDEX revoked_tokens_expiry ON revoked_tokens (tenant_id, expires_at);
SELECT enable_tenant_rls('revoked_tokens');
-- the revocation endpoint runs as the runtime role, scoped to its tenant
GRANT SELECT, INSERT, UPDATE, DELETE ON revoked_tokens TO tenant_connect_app;

-- No foreign key to clients: a client deleted and created again under the same client_id must not
-- bring the tokens revoked before back to life.
CREATE TABLE client_token_cutoffs (
  tenant_id uuid NOT NULL REFERENCES tenants (id),
  client_id text NOT NULL,
  issued_before timestamptz NOT NULL,
  expires_at timestamptz NOT NULL,
  PRIMARY KEY (tenant_id, client_id)
);
SELECT enable_tenant_rls('client_token_cutoffs');
-- written by the admin API (as the owner); read by every instance's bearer check
GRANT SELECT ON client_token_cutoffs TO tenant_connect_app;

CREATE FUNCTION notify_token_revocation() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_TABLE_NAME = 'revoked_tokens' THEN
    PERFORM pg_notify('tenant_connect_changes', jsonb_build_object(
      'kind', 'revoked_token', 'tenant', NEW.tenant_id, 'id', NEW.jti,
      'exp', floor(extract(epoch FROM NEW.expires_at))::bigint)::text);
  ELSE
    PERFORM pg_notify('tenant_connect_changes', jsonb_build_object(
      'kind', 'client_cutoff', 'tenant', NEW.tenant_id, 'id', NEW.client_id,
      'issued_before', floor(extract(epoch FROM NEW.issued_before))::bigint,
      'exp', floor(extract(epoch FROM NEW.expires_at))::bigint)::text);
  END IF;
  RETURN NULL;
END
$$;

CREATE TRIGGER revoked_tokens_changed AFTER INSERT OR UPDATE OF expires_at ON revoked_tokens
  FOR EACH ROW EXECUTE FUNCTION notify_token_revocation();
CREATE TRIGGER client_token_cutoffs_changed AFTER INSERT OR UPDATE OF issued_before, expires_at ON client_token_cutoffs
  FOR EACH ROW EXECUTE FUNCTION notify_token_revocation();
