-- Webhooks: subscriptions, the transactional outbox, deliveries, and the cross-tenant delivery
-- schedule the workers claim.
--
-- A change and its events commit together: the request's transaction inserts into outbox_events
-- (as the runtime role, under RLS). A statement-level trigger fans the new events out, in the same
-- transaction, to a delivery per matching enabled subscription and a row in webhook_schedule, so a
-- rolled back change leaves nothing and a committed one is never without its deliveries.

CREATE TABLE webhook_subscriptions (
  tenant_id   uuid NOT NULL REFERENCES tenants (id),
  id          uuid NOT NULL,
  url         text NOT NULL CHECK (length(url) BETWEEN 1 AND 2048),
  -- exact types ("employee.created"), a resource's wildcard ("employee.*") or everything ("*"),
  -- nothing else: the fan-out matches them with one array overlap
  event_types text[] NOT NULL CHECK (cardinality(event_types) BETWEEN 1 AND 64 AND
    array_to_string(event_types, ',') ~ '^(\*|[a-z_]+\.\*|[a-z_]+\.[a-z_]+)(,(\*|[a-z_]+\.\*|[a-z_]+\.[a-z_]+))*$'),
  description text NOT NULL DEFAULT '' CHECK (length(description) <= 500),
  enabled     boolean NOT NULL DEFAULT true,
  -- why the platform disabled it (e.g. the receiver answered 410 Gone); null when enabled by hand
  disabled_reason text,
  -- whsec_… under the key-encryption key: the secret is used in clear to sign, so it is encrypted, not hashed
  secret_encrypted          text NOT NULL,
  -- the secret before the last rotation, still signing (second signature) until previous_expires_at
  previous_secret_encrypted text,
  previous_expires_at       timestamptz,
  created_at  timestamptz NOT NULL DEFAULT now(),
  updated_at  timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, id),
  CHECK ((previous_secret_encrypted IS NULL) = (previous_expires_at IS NULL))
);

-- The outbox: one row per event, written in the transaction of the change that causes it. No
-- foreign key to tenants on purpose: it is written in bulk (1,000 rows with a clocking batch) and
-- the per-row check cost a third of the insert; the row's tenant is the transaction's own
-- (WITH CHECK on app.tenant_id), and a purge deletes a tenant's events before the tenant.
CREATE TABLE outbox_events (
  tenant_id   uuid NOT NULL,
  id          uuid NOT NULL, -- UUIDv7; the webhook-id of every delivery of this event
  type        text NOT NULL CHECK (type ~ '^[a-z_]+\.[a-z_]+$'),
  occurred_at timestamptz NOT NULL DEFAULT now(),
  data        jsonb NOT NULL,
  PRIMARY KEY (tenant_id, id)
);

CREATE TABLE webhook_deliveries (
  tenant_id        uuid NOT NULL,
  id               uuid NOT NULL DEFAULT gen_random_uuid(),
  subscription_id  uuid NOT NULL,
  event_id         uuid NOT NULL,
  status           text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'delivered', 'failed')),
  attempts         integer NOT NULL DEFAULT 0,
  next_attempt_at  timestamptz,
  last_attempt_at  timestamptz,
  last_status_code integer,
  last_error       text,
  delivered_at     timestamptz,
  created_at       timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, id),
  FOREIGN KEY (tenant_id, subscription_id) REFERENCES webhook_subscriptions (tenant_id, id) ON DELETE CASCADE,
  FOREIGN KEY (tenant_id, event_id) REFERENCES outbox_events (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX webhook_deliveries_subscription ON webhook_deliveries (tenant_id, subscription_id, created_at, id);
CREATE INDEX webhook_deliveries_event ON webhook_deliveries (tenant_id, event_id);

DO $$
DECLARE
  t text;
BEGIN
  FOREACH t IN ARRAY ARRAY['webhook_subscriptions', 'outbox_events', 'webhook_deliveries']
  LOOP
    EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
    EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', t);
    EXECUTE format(
      'CREATE POLICY tenant_isolation ON %I AS RESTRICTIVE FOR ALL TO PUBLIC '
      'USING (tenant_id = nullif(current_setting(''app.tenant_id'', true), '''')::uuid) '
      'WITH CHECK (tenant_id = nullif(current_setting(''app.tenant_id'', true), '''')::uuid)', t);
    EXECUTE format(
      'CREATE POLICY tenant_access ON %I AS PERMISSIVE FOR ALL TO PUBLIC '
      'USING (tenant_id = nullif(current_setting(''app.tenant_id'', true), '''')::uuid) '
      'WITH CHECK (tenant_id = nullif(current_setting(''app.tenant_id'', true), '''')::uuid)', t);
  END LOOP;
END
$$;

-- The delivery schedule, readable across tenants by the workers (like key_promotions): one row per
-- delivery that still has an attempt to make, due at due_at. A worker claims due rows with
-- FOR UPDATE SKIP LOCKED and moves due_at forward by its lease, so another worker takes the
-- delivery again only if the first one has not finished it when the lease runs out; lease_id
-- names the claim, so a late worker cannot record over a newer claim.
CREATE TABLE webhook_schedule (
  tenant_id   uuid NOT NULL,
  delivery_id uuid NOT NULL,
  due_at      timestamptz NOT NULL,
  lease_id    uuid,
  PRIMARY KEY (tenant_id, delivery_id),
  FOREIGN KEY (tenant_id, delivery_id) REFERENCES webhook_deliveries (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX webhook_schedule_due ON webhook_schedule (due_at);
REVOKE ALL ON webhook_schedule FROM PUBLIC;

-- Fan-out, in the transaction that wrote the events: a delivery per (event, enabled matching
-- subscription) when the tenant has webhooks enabled, and its schedule row. A subscription
-- matches type "r.a" when its patterns hold "*", "r.a" or "r.*" (an array overlap, not a
-- function call per row). SECURITY DEFINER
-- because the runtime role may only insert events; it runs with the caller's app.tenant_id and
-- names the tenant of each event itself. webhook.test events are addressed to one subscription
-- by the admin API and are not fanned out.
CREATE FUNCTION webhook_fan_out() RETURNS trigger
  LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
BEGIN
  WITH created AS (
    INSERT INTO webhook_deliveries (tenant_id, subscription_id, event_id, next_attempt_at)
    SELECT e.tenant_id, s.id, e.id, e.occurred_at
      FROM new_events e
      JOIN tenants t ON t.id = e.tenant_id
      JOIN webhook_subscriptions s ON s.tenant_id = e.tenant_id AND s.enabled
        AND s.event_types && ARRAY['*', e.type, split_part(e.type, '.', 1) || '.*']
     WHERE e.type <> 'webhook.test'
       AND coalesce((t.settings #>> '{webhooks,enabled}')::boolean, true)
    RETURNING tenant_id, id, next_attempt_at
  )
  INSERT INTO webhook_schedule (tenant_id, delivery_id, due_at)
  SELECT tenant_id, id, next_attempt_at FROM created;
  RETURN NULL;
END
$$;
REVOKE ALL ON FUNCTION webhook_fan_out() FROM PUBLIC;
CREATE TRIGGER outbox_events_fan_out AFTER INSERT ON outbox_events
  REFERENCING NEW TABLE AS new_events FOR EACH STATEMENT EXECUTE FUNCTION webhook_fan_out();

-- Wake the workers at commit when there is something new to deliver (they poll as a fallback).
CREATE FUNCTION notify_webhook_work() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF EXISTS (SELECT 1 FROM new_rows) THEN
    PERFORM pg_notify('tenant_connect_webhooks', '');
  END IF;
  RETURN NULL;
END
$$;
CREATE TRIGGER webhook_schedule_notify AFTER INSERT ON webhook_schedule
  REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION notify_webhook_work();

-- The runtime role writes events in the request's transaction (and may read its tenant's); the
-- subscriptions, deliveries and schedule are the admin API's and the workers' (owner) alone.
REVOKE ALL ON webhook_subscriptions, outbox_events, webhook_deliveries FROM PUBLIC;
GRANT SELECT, INSERT ON outbox_events TO tenant_connect_app;
