-- The login that requests connect as (DATABASE_APP_URL, through PgBouncer in production).
--
-- It owns nothing, cannot bypass row level security, and holds no privilege of its own
-- (NOINHERIT): each transaction switches to tenant_connect_app with SET LOCAL ROLE, which the
-- server does when it finds it has logged in as another role. Run it once per cluster, as a
-- superuser or a role with CREATEROLE, before or after the first migration; running it again
-- sets the password anew:
--
--   psql -v ON_ERROR_STOP=1 -v login_name=tenant_connect_login -v login_password='…' -f runtime-login.sql
--
-- docker-compose.yml runs it when Postgres is first initialised (init-runtime-login.sh), and CI
-- runs it before its PgBouncer pass.
SET tenant_connect.login_name = :'login_name';
SET tenant_connect.login_password = :'login_password';

DO $$
DECLARE
  login text := current_setting('tenant_connect.login_name');
  secret text := current_setting('tenant_connect.login_password');
BEGIN
  -- the runtime role, as the first migration creates it (it may not have run yet)
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'tenant_connect_app') THEN
    CREATE ROLE tenant_connect_app NOLOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS;
  END IF;
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = login) THEN
    EXECUTE format('CREATE ROLE %I LOGIN NOINHERIT NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS PASSWORD %L', login, secret);
  ELSE
    EXECUTE format('ALTER ROLE %I LOGIN NOINHERIT NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS PASSWORD %L', login, secret);
  END IF;
  EXECUTE format('GRANT tenant_connect_app TO %I', login);
  -- a login that owns something could read and change it without any tenant policy
  IF EXISTS (SELECT FROM pg_class c JOIN pg_roles r ON r.oid = c.relowner WHERE r.rolname = login) THEN
    RAISE EXCEPTION 'role % owns tables in this database: it must own nothing', login;
  END IF;
END
$$;

RESET tenant_connect.login_name;
RESET tenant_connect.login_password;
