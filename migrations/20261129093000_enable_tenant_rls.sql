-- enable_tenant_rls(table): the isolation every tenant-owned table carries, declared once. Until
-- now each migration spelled it out (ENABLE and FORCE ROW LEVEL SECURITY, a restrictive and a
-- permissive policy on the transaction-local app.tenant_id); those migrations stay as they landed.
-- A table created from here on calls this in the migration that creates it:
--
--   SELECT enable_tenant_rls('new_table');
--
-- The policies read exactly as the earlier ones, so every table is guarded alike, and fail
-- closed: an unset setting reads NULL (or '' after a transaction-local set) and matches no row.
-- FORCE binds the owner too. A restrictive policy only narrows; the permissive one lets the same
-- rows through.
--
-- SECURITY INVOKER (the default): it runs with the rights of its caller, the migration role that
-- owns the table; nobody else may call it.
CREATE FUNCTION enable_tenant_rls(target regclass) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
  own_rows constant text := 'tenant_id = nullif(current_setting(''app.tenant_id'', true), '''')::uuid';
BEGIN
  EXECUTE format('ALTER TABLE %s ENABLE ROW LEVEL SECURITY', target);
  EXECUTE format('ALTER TABLE %s FORCE ROW LEVEL SECURITY', target);
  EXECUTE format('CREATE POLICY tenant_isolation ON %s AS RESTRICTIVE FOR ALL TO PUBLIC USING (%s) WITH CHECK (%s)',
                 target, own_rows, own_rows);
  EXECUTE format('CREATE POLICY tenant_access ON %s AS PERMISSIVE FOR ALL TO PUBLIC USING (%s) WITH CHECK (%s)',
                 target, own_rows, own_rows);
END
$$;
REVOKE ALL ON FUNCTION enable_tenant_rls(regclass) FROM PUBLIC;
