-- An index for every foreign key that had none leading with its columns. Deleting a parent row
-- (an activity definition, an org unit) makes Postgres look for child rows that still refer to it
-- (`WHERE tenant_id = $1 AND activity_definition_id = $2`); without an index on those columns that
-- lookup read every row of the tenant in the child table, 2 million clockings for a large tenant,
-- inside the DELETE's transaction. test/integration/migrations.test.ts fails when a foreign key
-- without such an index is added.
--
-- Partial where the column may be NULL: a NULL never refers to a parent, so those rows need no
-- entry (most clockings name no activity), and the lookup's `= $2` implies IS NOT NULL, so the
-- planner proves the partial index applies.
--
-- IF NOT EXISTS: on a large deployment, build these first with CREATE INDEX CONCURRENTLY under the
-- same names (this migration runs in a transaction and would block writes while it builds them).
CREATE INDEX IF NOT EXISTS clockings_by_activity_definition_id
  ON clockings (tenant_id, activity_definition_id) WHERE activity_definition_id IS NOT NULL;
CREATE INDEX IF NOT EXISTS absences_by_activity_definition_id ON absences (tenant_id, activity_definition_id);
CREATE INDEX IF NOT EXISTS contracts_by_org_unit_id ON contracts (tenant_id, org_unit_id) WHERE org_unit_id IS NOT NULL;
