-- The operator plane: the platform issuer, signing-key rotation, the audit log, and change
-- notifications that name exactly what changed.

-- The platform issuer (authentication.<domain>/platform) is a tenant row of its own kind, so it
-- reuses the same machinery (Provider, clients, keys). Its slug is reserved for customers.
ALTER TABLE tenants ADD COLUMN kind text NOT NULL DEFAULT 'tenant' CHECK (kind IN ('tenant', 'platform'));
ALTER TABLE tenants ADD CONSTRAINT tenants_platform_slug CHECK (kind = 'tenant' OR slug = 'platform');

-- Rotation: a 'next' key is published (JWKS) and becomes 'current' at promote_at; the key it
-- replaces becomes 'retired' at retired_at and stays published until not_after, when every token
-- it signed has expired.
ALTER TABLE signing_keys ADD COLUMN promote_at timestamptz;
ALTER TABLE signing_keys ADD COLUMN retired_at timestamptz;
ALTER TABLE signing_keys ADD CONSTRAINT signing_keys_next_has_promote_at CHECK (state <> 'next' OR promote_at IS NOT NULL);
CREATE INDEX signing_keys_due ON signing_keys (promote_at) WHERE state = 'next';

-- The promotion schedule, readable across tenants by the rotation worker (signing_keys itself is
-- behind RLS, and the worker must not scan every tenant to find the few keys that are due). One
-- row per staged key; the worker claims due rows with FOR UPDATE SKIP LOCKED, so any number of
-- instances promote each key exactly once.
CREATE TABLE key_promotions (
  tenant_id  uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  kid        text NOT NULL,
  promote_at timestamptz NOT NULL,
  PRIMARY KEY (tenant_id, kid)
);
CREATE INDEX key_promotions_due ON key_promotions (promote_at);
REVOKE ALL ON key_promotions FROM PUBLIC;

-- Every admin change, written in the transaction of the change itself. Not tenant-scoped by RLS:
-- only the owner (the admin API) reads or writes it, and a purged tenant's history outlives it
-- (no foreign key on purpose). Secrets never enter before/after.
CREATE TABLE audit_events (
  id              uuid PRIMARY KEY, -- UUIDv7: ordered by time
  occurred_at     timestamptz NOT NULL DEFAULT now(),
  environment     text NOT NULL,
  tenant_id       uuid,
  tenant_slug     text,
  actor_client_id text NOT NULL,
  actor_issuer    text NOT NULL,
  action          text NOT NULL,
  target_type     text NOT NULL,
  target_id       text NOT NULL,
  before          jsonb,
  after           jsonb,
  request_id      text NOT NULL
);
CREATE INDEX audit_events_environment ON audit_events (environment, id);
CREATE INDEX audit_events_tenant ON audit_events (tenant_id, id);
REVOKE ALL ON audit_events FROM PUBLIC;

-- Notifications now carry the id of what changed: the tenant's id, the client's client_id, or
-- the key's kid, so an instance drops exactly that entry. A secret names its client; when the
-- client row is already gone (cascade), id is null and the tenant's client entries are dropped.
CREATE OR REPLACE FUNCTION notify_tenant_change() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  changed record;
  payload jsonb;
BEGIN
  IF TG_OP = 'DELETE' THEN changed := OLD; ELSE changed := NEW; END IF;
  IF TG_TABLE_NAME = 'tenants' THEN
    payload := jsonb_build_object('kind', 'tenant', 'tenant', changed.id, 'id', changed.id,
                                  'environment', changed.environment, 'slug', changed.slug);
  ELSIF TG_TABLE_NAME = 'signing_keys' THEN
    payload := jsonb_build_object('kind', 'keys', 'tenant', changed.tenant_id, 'id', changed.kid);
  ELSIF TG_TABLE_NAME = 'clients' THEN
    payload := jsonb_build_object('kind', 'client', 'tenant', changed.tenant_id, 'id', changed.client_id);
  ELSE
    payload := jsonb_build_object('kind', 'client', 'tenant', changed.tenant_id, 'id',
      (SELECT c.client_id FROM clients c WHERE c.tenant_id = changed.tenant_id AND c.id = changed.client_id));
  END IF;
  PERFORM pg_notify('tenant_connect_changes', payload::text);
  RETURN NULL;
END
$$;

DROP TRIGGER signing_keys_changed ON signing_keys;
CREATE TRIGGER signing_keys_changed AFTER INSERT OR DELETE OR UPDATE OF state, not_before, not_after, promote_at, public_jwk, private_jwk_encrypted
  ON signing_keys FOR EACH ROW EXECUTE FUNCTION notify_tenant_change();
