-- tenant-connect initial schema.
-- Isolation, in the schema itself: every tenant-owned table is keyed (tenant_id, id), every foreign
-- key between tenant-owned tables includes tenant_id, no unique constraint spans tenants, and a
-- policy scoped by the transaction-local setting app.tenant_id guards each table. The policy fails
-- closed: an unset setting reads NULL (or '' after a transaction-local set) and matches no row.

-- The runtime role: owns nothing, cannot bypass RLS, cannot log in unless an operator allows it.
-- Roles are cluster-wide; several databases (test runs) may create it at once.
DO $$
BEGIN
  CREATE ROLE tenant_connect_app NOLOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS;
EXCEPTION WHEN duplicate_object OR unique_violation THEN
  NULL;
END
$$;

CREATE TABLE tenants (
  id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  environment text NOT NULL CHECK (environment ~ '^[a-z][a-z0-9_-]{0,31}$'),
  slug        text NOT NULL CHECK (slug ~ '^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$'),
  name        text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
  status      text NOT NULL DEFAULT 'ACTIVE' CHECK (status IN ('PENDING', 'ACTIVE', 'SUSPENDED')),
  settings    jsonb NOT NULL DEFAULT '{}'::jsonb,
  deleted_at  timestamptz,
  created_at  timestamptz NOT NULL DEFAULT now(),
  updated_at  timestamptz NOT NULL DEFAULT now(),
  -- a slug stays taken after a soft delete, so a new tenant can never inherit old tokens' issuer
  UNIQUE (environment, slug)
);

CREATE TABLE clients (
  tenant_id     uuid NOT NULL REFERENCES tenants (id),
  id            uuid NOT NULL DEFAULT gen_random_uuid(),
  client_id     text NOT NULL CHECK (client_id ~ '^[A-Za-z0-9._~-]{1,128}$'),
  name          text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
  auth_methods  text[] NOT NULL DEFAULT ARRAY['client_secret_basic', 'client_secret_post']
                CHECK (auth_methods <@ ARRAY['client_secret_basic', 'client_secret_post', 'private_key_jwt']),
  jwks          jsonb,
  scopes        text[] NOT NULL DEFAULT '{}',
  access_token_ttl integer CHECK (access_token_ttl BETWEEN 60 AND 86400),
  disabled_at   timestamptz,
  last_used_at  timestamptz,
  created_at    timestamptz NOT NULL DEFAULT now(),
  updated_at    timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, id),
  UNIQUE (tenant_id, client_id)
);

-- Two secrets may be live at once while an integration rotates. Only a hash is stored.
CREATE TABLE client_secrets (
  tenant_id    uuid NOT NULL,
  id           uuid NOT NULL DEFAULT gen_random_uuid(),
  client_id    uuid NOT NULL,
  secret_hash  text NOT NULL,
  expires_at   timestamptz,
  last_used_at timestamptz,
  created_at   timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, id),
  FOREIGN KEY (tenant_id, client_id) REFERENCES clients (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX client_secrets_client ON client_secrets (tenant_id, client_id);

CREATE TABLE signing_keys (
  tenant_id   uuid NOT NULL REFERENCES tenants (id),
  kid         text NOT NULL,
  alg         text NOT NULL CHECK (alg IN ('ES256', 'EdDSA', 'PS256', 'RS256')),
  public_jwk  jsonb NOT NULL,
  -- AES-256-GCM under the key-encryption key; never stored in clear
  private_jwk_encrypted text NOT NULL,
  state       text NOT NULL CHECK (state IN ('next', 'current', 'retired')),
  not_before  timestamptz NOT NULL DEFAULT now(),
  not_after   timestamptz,
  created_at  timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, kid)
);
CREATE UNIQUE INDEX signing_keys_one_current ON signing_keys (tenant_id) WHERE state = 'current';

-- Resource collections. All (tenant_id, id)-keyed, with created_at, updated_at and version.
CREATE TABLE org_units (
  tenant_id  uuid NOT NULL REFERENCES tenants (id),
  id         uuid NOT NULL DEFAULT gen_random_uuid(),
  parent_id  uuid,
  code       text NOT NULL CHECK (length(code) BETWEEN 1 AND 64),
  name       text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  version    integer NOT NULL DEFAULT 1,
  PRIMARY KEY (tenant_id, id),
  UNIQUE (tenant_id, code),
  FOREIGN KEY (tenant_id, parent_id) REFERENCES org_units (tenant_id, id)
);

CREATE TABLE employees (
  tenant_id        uuid NOT NULL REFERENCES tenants (id),
  id               uuid NOT NULL DEFAULT gen_random_uuid(),
  employee_number  text NOT NULL CHECK (length(employee_number) BETWEEN 1 AND 64),
  first_name       text NOT NULL CHECK (length(first_name) BETWEEN 1 AND 200),
  last_name        text NOT NULL CHECK (length(last_name) BETWEEN 1 AND 200),
  email            text CHECK (length(email) <= 320),
  hire_date        date,
  termination_date date,
  org_unit_id      uuid,
  created_at       timestamptz NOT NULL DEFAULT now(),
  updated_at       timestamptz NOT NULL DEFAULT now(),
  version          integer NOT NULL DEFAULT 1,
  PRIMARY KEY (tenant_id, id),
  UNIQUE (tenant_id, employee_number),
  FOREIGN KEY (tenant_id, org_unit_id) REFERENCES org_units (tenant_id, id)
);
CREATE INDEX employees_updated ON employees (tenant_id, updated_at, id);

CREATE TABLE contracts (
  tenant_id    uuid NOT NULL REFERENCES tenants (id),
  id           uuid NOT NULL DEFAULT gen_random_uuid(),
  employee_id  uuid NOT NULL,
  org_unit_id  uuid,
  start_date   date NOT NULL,
  end_date     date CHECK (end_date IS NULL OR end_date >= start_date),
  weekly_hours numeric(5, 2) CHECK (weekly_hours BETWEEN 0 AND 168),
  created_at   timestamptz NOT NULL DEFAULT now(),
  updated_at   timestamptz NOT NULL DEFAULT now(),
  version      integer NOT NULL DEFAULT 1,
  PRIMARY KEY (tenant_id, id),
  FOREIGN KEY (tenant_id, employee_id) REFERENCES employees (tenant_id, id),
  FOREIGN KEY (tenant_id, org_unit_id) REFERENCES org_units (tenant_id, id)
);
CREATE INDEX contracts_employee ON contracts (tenant_id, employee_id);

CREATE TABLE activity_definitions (
  tenant_id  uuid NOT NULL REFERENCES tenants (id),
  id         uuid NOT NULL DEFAULT gen_random_uuid(),
  code       text NOT NULL CHECK (length(code) BETWEEN 1 AND 64),
  name       text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
  kind       text NOT NULL CHECK (kind IN ('work', 'absence', 'break', 'other')),
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  version    integer NOT NULL DEFAULT 1,
  PRIMARY KEY (tenant_id, id),
  UNIQUE (tenant_id, code)
);

CREATE TABLE clockings (
  tenant_id     uuid NOT NULL REFERENCES tenants (id),
  id            uuid NOT NULL DEFAULT gen_random_uuid(),
  employee_id   uuid NOT NULL,
  occurred_at   timestamptz NOT NULL,
  utc_offset_minutes smallint NOT NULL DEFAULT 0 CHECK (utc_offset_minutes BETWEEN -840 AND 840),
  direction     text NOT NULL CHECK (direction IN ('in', 'out')),
  activity_definition_id uuid,
  source_device text CHECK (length(source_device) <= 200),
  created_at    timestamptz NOT NULL DEFAULT now(),
  updated_at    timestamptz NOT NULL DEFAULT now(),
  version       integer NOT NULL DEFAULT 1,
  PRIMARY KEY (tenant_id, id),
  FOREIGN KEY (tenant_id, employee_id) REFERENCES employees (tenant_id, id),
  FOREIGN KEY (tenant_id, activity_definition_id) REFERENCES activity_definitions (tenant_id, id)
);
CREATE INDEX clockings_employee_time ON clockings (tenant_id, employee_id, occurred_at);

CREATE TABLE absences (
  tenant_id   uuid NOT NULL REFERENCES tenants (id),
  id          uuid NOT NULL DEFAULT gen_random_uuid(),
  employee_id uuid NOT NULL,
  activity_definition_id uuid NOT NULL,
  start_date  date NOT NULL,
  end_date    date NOT NULL CHECK (end_date >= start_date),
  start_half_day boolean NOT NULL DEFAULT false,
  end_half_day   boolean NOT NULL DEFAULT false,
  status      text NOT NULL DEFAULT 'requested' CHECK (status IN ('requested', 'approved', 'rejected', 'cancelled')),
  created_at  timestamptz NOT NULL DEFAULT now(),
  updated_at  timestamptz NOT NULL DEFAULT now(),
  version     integer NOT NULL DEFAULT 1,
  PRIMARY KEY (tenant_id, id),
  FOREIGN KEY (tenant_id, employee_id) REFERENCES employees (tenant_id, id),
  FOREIGN KEY (tenant_id, activity_definition_id) REFERENCES activity_definitions (tenant_id, id)
);
CREATE INDEX absences_employee ON absences (tenant_id, employee_id, start_date);

-- Row level security on every tenant-owned table, in the migration that creates it.
DO $$
DECLARE
  t text;
BEGIN
  FOREACH t IN ARRAY ARRAY['clients', 'client_secrets', 'signing_keys', 'org_units', 'employees',
                           'contracts', 'activity_definitions', 'clockings', 'absences']
  LOOP
    EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
    EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', t);
    EXECUTE format(
      'CREATE POLICY tenant_isolation ON %I AS RESTRICTIVE FOR ALL TO PUBLIC '
      'USING (tenant_id = nullif(current_setting(''app.tenant_id'', true), '''')::uuid) '
      'WITH CHECK (tenant_id = nullif(current_setting(''app.tenant_id'', true), '''')::uuid)', t);
    -- a restrictive policy only narrows; this permissive one lets the same rows through
    EXECUTE format(
      'CREATE POLICY tenant_access ON %I AS PERMISSIVE FOR ALL TO PUBLIC '
      'USING (tenant_id = nullif(current_setting(''app.tenant_id'', true), '''')::uuid) '
      'WITH CHECK (tenant_id = nullif(current_setting(''app.tenant_id'', true), '''')::uuid)', t);
  END LOOP;
END
$$;

-- What the runtime role may do: read tenants (the host names one before any tenant scope exists),
-- read its own clients and keys, read and write resource rows. No TRUNCATE, no DDL, owns nothing.
REVOKE ALL ON ALL TABLES IN SCHEMA public FROM PUBLIC;
GRANT USAGE ON SCHEMA public TO tenant_connect_app;
GRANT SELECT ON tenants TO tenant_connect_app;
GRANT SELECT ON clients, client_secrets, signing_keys TO tenant_connect_app;
GRANT UPDATE (last_used_at) ON clients, client_secrets TO tenant_connect_app;
GRANT SELECT, INSERT, UPDATE, DELETE
  ON org_units, employees, contracts, activity_definitions, clockings, absences TO tenant_connect_app;
