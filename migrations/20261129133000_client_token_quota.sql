-- A client's own token quota ({per_hour, per_day, mode}), replacing its tenant's token_quota
-- setting as a whole; NULL: the tenant's applies. Validated by the admin API's schema.
ALTER TABLE clients ADD COLUMN token_quota jsonb
  CONSTRAINT clients_token_quota_is_object CHECK (token_quota IS NULL OR jsonb_typeof(token_quota) = 'object');

-- A change of the quota must reach every instance's cached client record, like the other
-- columns the token endpoint reads (last_used_at stays out: it is written on every use; the
-- DPoP binding has a trigger of its own, clients_dpop_changed).
DROP TRIGGER clients_changed ON clients;
CREATE TRIGGER clients_changed AFTER INSERT OR DELETE OR UPDATE OF client_id, name, auth_methods, jwks, jwks_uri, scopes, access_token_ttl, token_quota, disabled_at
  ON clients FOR EACH ROW EXECUTE FUNCTION notify_tenant_change();
