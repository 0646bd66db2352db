-- Deletions that sync, and the events feed.
--
-- Tombstones: a deleted resource leaves (collection, id, deleted_at, last version), so a sync job
-- reading `updated_since=…&include_deleted=true` learns of it. One table for every collection,
-- written by an AFTER DELETE trigger on each collection table, so no path that deletes a row
-- (a route today, a batch or an operator tomorrow) can forget it. Statement-level with a
-- transition table: a multi-row delete writes its tombstones in one INSERT. No foreign key to
-- tenants, like outbox_events: the row's tenant is the deleting transaction's own (RLS WITH CHECK).
CREATE TABLE tombstones (
  tenant_id  uuid NOT NULL,
  collection text NOT NULL,
  id         uuid NOT NULL,
  deleted_at timestamptz NOT NULL DEFAULT now(),
  version    integer NOT NULL,
  -- one index serves both readers, the include_deleted walk ((deleted_at, id) after the cursor,
  -- within a collection) and the retention job (deleted_at before a cutoff, collection by
  -- collection), so a 1,000-row delete writes its tombstones into one index, not three
  PRIMARY KEY (tenant_id, collection, deleted_at, id)
);
SELECT enable_tenant_rls('tombstones');
REVOKE ALL ON tombstones FROM PUBLIC;
GRANT SELECT, INSERT ON tombstones TO tenant_connect_app;

-- SECURITY INVOKER: it inserts as the role that deleted, under that transaction's app.tenant_id.
CREATE FUNCTION record_tombstones() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO tombstones (tenant_id, collection, id, version)
  SELECT tenant_id, TG_ARGV[0], id, version FROM gone_rows;
  RETURN NULL;
END
$$;

DO $$
DECLARE
  t text;
BEGIN
  FOREACH t IN ARRAY ARRAY['org_units', 'employees', 'contracts', 'activity_definitions', 'clockings', 'absences']
  LOOP
    EXECUTE format('CREATE TRIGGER %I AFTER DELETE ON %I REFERENCING OLD TABLE AS gone_rows '
                   'FOR EACH STATEMENT EXECUTE FUNCTION record_tombstones(%L)', t || '_tombstones', t, t);
  END LOOP;
END
$$;

-- A sandbox reset deletes every resource row without tombstones and moves the tenant's sync
-- horizon instead: an incremental sync from before resets_at must start over (410).
CREATE TABLE resource_resets (
  tenant_id uuid NOT NULL PRIMARY KEY,
  reset_at  timestamptz NOT NULL
);
SELECT enable_tenant_rls('resource_resets');
REVOKE ALL ON resource_resets FROM PUBLIC;
GRANT SELECT ON resource_resets TO tenant_connect_app;

-- The events feed's position. Event ids are made by the application before the INSERT, and
-- transactions commit out of order: a reader following the id would skip an event whose
-- transaction commits after a later id was read. txid is the writing transaction's id; the feed
-- reads in (txid, id) order and only events of transactions older than every transaction still
-- running (txid < pg_snapshot_xmin(pg_current_snapshot())), a set that no later commit can add to.
-- xid8, not the row's 32-bit xmin, which wraps around.
ALTER TABLE outbox_events ADD COLUMN txid xid8 NOT NULL DEFAULT pg_current_xact_id();
CREATE INDEX outbox_events_feed ON outbox_events (tenant_id, txid, id);

-- Retention: the job deletes expired rows tenant by tenant, in bounded batches, oldest first;
-- these indexes let each batch find them without reading the tenant's newer rows.
CREATE INDEX webhook_deliveries_expiry ON webhook_deliveries (tenant_id, created_at);
CREATE INDEX webhook_attempts_expiry ON webhook_attempts (tenant_id, attempted_at);

-- Leases of background jobs that one instance at a time should run (the retention job): a row a
-- holder renews while it works; another instance takes it over only once it has expired. A row,
-- not a session-level advisory lock, so it holds across transactions and behind PgBouncer.
CREATE TABLE job_leases (
  name       text PRIMARY KEY,
  holder     uuid NOT NULL,
  expires_at timestamptz NOT NULL
);
REVOKE ALL ON job_leases FROM PUBLIC;
