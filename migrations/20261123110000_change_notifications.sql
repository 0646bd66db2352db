-- Cross-instance cache invalidation: a change to a tenant, its clients, their secrets or its
-- signing keys notifies channel tenant_connect_changes with {kind, tenant[, environment, slug]}.
-- NOTIFY is delivered at commit, so no instance drops a cache entry for a change that rolls back,
-- and it fires whoever makes the change: the admin API, a script, or an operator in psql.
-- last_used_at bookkeeping is left out on purpose: it changes often and invalidates nothing.
CREATE FUNCTION notify_tenant_change() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  changed record;
  payload jsonb;
BEGIN
  IF TG_OP = 'DELETE' THEN changed := OLD; ELSE changed := NEW; END IF;
  IF TG_TABLE_NAME = 'tenants' THEN
    payload := jsonb_build_object('kind', 'tenant', 'tenant', changed.id, 'environment', changed.environment, 'slug', changed.slug);
  ELSIF TG_TABLE_NAME = 'signing_keys' THEN
    payload := jsonb_build_object('kind', 'keys', 'tenant', changed.tenant_id);
  ELSE
    payload := jsonb_build_object('kind', 'client', 'tenant', changed.tenant_id);
  END IF;
  PERFORM pg_notify('tenant_connect_changes', payload::text);
  RETURN NULL;
END
$$;

CREATE TRIGGER tenants_changed AFTER INSERT OR DELETE OR UPDATE OF environment, slug, name, status, settings, deleted_at
  ON tenants FOR EACH ROW EXECUTE FUNCTION notify_tenant_change();
CREATE TRIGGER clients_changed AFTER INSERT OR DELETE OR UPDATE OF client_id, name, auth_methods, jwks, scopes, access_token_ttl, disabled_at
  ON clients FOR EACH ROW EXECUTE FUNCTION notify_tenant_change();
CREATE TRIGGER client_secrets_changed AFTER INSERT OR DELETE OR UPDATE OF secret_hash, expires_at
  ON client_secrets FOR EACH ROW EXECUTE FUNCTION notify_tenant_change();
CREATE TRIGGER signing_keys_changed AFTER INSERT OR DELETE OR UPDATE OF state, not_before, not_after, public_jwk, private_jwk_encrypted
  ON signing_keys FOR EACH ROW EXECUTE FUNCTION notify_tenant_change();
