-- Every list the resource API offers is read in index order, however many rows the tenant has.
-- A list is `WHERE tenant_id = $1 [AND filters] ORDER BY <sort column>, id LIMIT n`, after a keyset
-- cursor `(<sort column>, id) > (…)`. An index on (tenant_id, <sort column>, id) serves each sort in
-- both directions (a backward scan for descending) and the range filters on that column
-- (updated_since on updated_at, from/to on the timestamp or the dates); an equality filter
-- (employee_id, org_unit_id, parent_id, kind, status) needs (tenant_id, <filter column>, <sort
-- column>, id) for each sort. Without them a page of a tenant with a million clockings read and
-- sorted all of them (about 1 s a page). test/integration/list-indexes.test.ts derives these from
-- the collection definitions and fails when one is missing.
--
-- Not served, on purpose: a range filter with a sort on another column (e.g. updated_since with
-- sort=id). No single index gives both; the planner walks the sort's index and filters, or reads
-- the range and sorts it. A sync walks updated_since with sort=updated_at, which is served.
-- A code or employee number is unique within a tenant, so the unique (tenant_id, code) indexes
-- already give that order; id never breaks a tie there.
--
-- IF NOT EXISTS: on a large deployment, build these first with CREATE INDEX CONCURRENTLY under the
-- same names (this migration runs in a transaction and would block writes while it builds them).

-- org_units
CREATE INDEX IF NOT EXISTS org_units_by_name ON org_units (tenant_id, name, id);
CREATE INDEX IF NOT EXISTS org_units_by_created_at ON org_units (tenant_id, created_at, id);
CREATE INDEX IF NOT EXISTS org_units_by_updated_at ON org_units (tenant_id, updated_at, id);
CREATE INDEX IF NOT EXISTS org_units_by_parent_id ON org_units (tenant_id, parent_id, id);
CREATE INDEX IF NOT EXISTS org_units_by_parent_id_code ON org_units (tenant_id, parent_id, code, id);
CREATE INDEX IF NOT EXISTS org_units_by_parent_id_name ON org_units (tenant_id, parent_id, name, id);
CREATE INDEX IF NOT EXISTS org_units_by_parent_id_created_at ON org_units (tenant_id, parent_id, created_at, id);
CREATE INDEX IF NOT EXISTS org_units_by_parent_id_updated_at ON org_units (tenant_id, parent_id, updated_at, id);

-- employees
CREATE INDEX IF NOT EXISTS employees_by_last_name ON employees (tenant_id, last_name, id);
CREATE INDEX IF NOT EXISTS employees_by_created_at ON employees (tenant_id, created_at, id);
CREATE INDEX IF NOT EXISTS employees_by_org_unit_id ON employees (tenant_id, org_unit_id, id);
CREATE INDEX IF NOT EXISTS employees_by_org_unit_id_employee_number ON employees (tenant_id, org_unit_id, employee_number, id);
CREATE INDEX IF NOT EXISTS employees_by_org_unit_id_last_name ON employees (tenant_id, org_unit_id, last_name, id);
CREATE INDEX IF NOT EXISTS employees_by_org_unit_id_created_at ON employees (tenant_id, org_unit_id, created_at, id);
CREATE INDEX IF NOT EXISTS employees_by_org_unit_id_updated_at ON employees (tenant_id, org_unit_id, updated_at, id);

-- contracts
CREATE INDEX IF NOT EXISTS contracts_by_start_date ON contracts (tenant_id, start_date, id);
CREATE INDEX IF NOT EXISTS contracts_by_created_at ON contracts (tenant_id, created_at, id);
CREATE INDEX IF NOT EXISTS contracts_by_updated_at ON contracts (tenant_id, updated_at, id);
CREATE INDEX IF NOT EXISTS contracts_by_end_date ON contracts (tenant_id, end_date, id);
CREATE INDEX IF NOT EXISTS contracts_by_employee_id ON contracts (tenant_id, employee_id, id);
CREATE INDEX IF NOT EXISTS contracts_by_employee_id_start_date ON contracts (tenant_id, employee_id, start_date, id);
CREATE INDEX IF NOT EXISTS contracts_by_employee_id_created_at ON contracts (tenant_id, employee_id, created_at, id);
CREATE INDEX IF NOT EXISTS contracts_by_employee_id_updated_at ON contracts (tenant_id, employee_id, updated_at, id);

-- activity_definitions
CREATE INDEX IF NOT EXISTS activity_definitions_by_name ON activity_definitions (tenant_id, name, id);
CREATE INDEX IF NOT EXISTS activity_definitions_by_created_at ON activity_definitions (tenant_id, created_at, id);
CREATE INDEX IF NOT EXISTS activity_definitions_by_updated_at ON activity_definitions (tenant_id, updated_at, id);
CREATE INDEX IF NOT EXISTS activity_definitions_by_kind ON activity_definitions (tenant_id, kind, id);
CREATE INDEX IF NOT EXISTS activity_definitions_by_kind_code ON activity_definitions (tenant_id, kind, code, id);
CREATE INDEX IF NOT EXISTS activity_definitions_by_kind_name ON activity_definitions (tenant_id, kind, name, id);
CREATE INDEX IF NOT EXISTS activity_definitions_by_kind_created_at ON activity_definitions (tenant_id, kind, created_at, id);
CREATE INDEX IF NOT EXISTS activity_definitions_by_kind_updated_at ON activity_definitions (tenant_id, kind, updated_at, id);

-- clockings
CREATE INDEX IF NOT EXISTS clockings_by_occurred_at ON clockings (tenant_id, occurred_at, id);
CREATE INDEX IF NOT EXISTS clockings_by_created_at ON clockings (tenant_id, created_at, id);
CREATE INDEX IF NOT EXISTS clockings_by_updated_at ON clockings (tenant_id, updated_at, id);
CREATE INDEX IF NOT EXISTS clockings_by_employee_id ON clockings (tenant_id, employee_id, id);
CREATE INDEX IF NOT EXISTS clockings_by_employee_id_occurred_at ON clockings (tenant_id, employee_id, occurred_at, id);
CREATE INDEX IF NOT EXISTS clockings_by_employee_id_created_at ON clockings (tenant_id, employee_id, created_at, id);
CREATE INDEX IF NOT EXISTS clockings_by_employee_id_updated_at ON clockings (tenant_id, employee_id, updated_at, id);

-- absences
CREATE INDEX IF NOT EXISTS absences_by_start_date ON absences (tenant_id, start_date, id);
CREATE INDEX IF NOT EXISTS absences_by_created_at ON absences (tenant_id, created_at, id);
CREATE INDEX IF NOT EXISTS absences_by_updated_at ON absences (tenant_id, updated_at, id);
CREATE INDEX IF NOT EXISTS absences_by_end_date ON absences (tenant_id, end_date, id);
CREATE INDEX IF NOT EXISTS absences_by_employee_id ON absences (tenant_id, employee_id, id);
CREATE INDEX IF NOT EXISTS absences_by_employee_id_start_date ON absences (tenant_id, employee_id, start_date, id);
CREATE INDEX IF NOT EXISTS absences_by_employee_id_created_at ON absences (tenant_id, employee_id, created_at, id);
CREATE INDEX IF NOT EXISTS absences_by_employee_id_updated_at ON absences (tenant_id, employee_id, updated_at, id);
CREATE INDEX IF NOT EXISTS absences_by_status ON absences (tenant_id, status, id);
CREATE INDEX IF NOT EXISTS absences_by_status_start_date ON absences (tenant_id, status, start_date, id);
CREATE INDEX IF NOT EXISTS absences_by_status_created_at ON absences (tenant_id, status, created_at, id);
CREATE INDEX IF NOT EXISTS absences_by_status_updated_at ON absences (tenant_id, status, updated_at, id);
-- superseded: the (tenant_id, employee_id, …, id) indexes above serve everything these served,
-- foreign key checks on delete included
DROP INDEX IF EXISTS contracts_employee;
DROP INDEX IF EXISTS clockings_employee_time;
DROP INDEX IF EXISTS absences_employee;
