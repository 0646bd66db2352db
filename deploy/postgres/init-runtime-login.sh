#!/bin/sh
# Run by the postgres image when it first initialises its data directory (docker-entrypoint-initdb.d):
# creates the runtime login that PgBouncer logs in as (runtime-login.sql says what it may do).
set -eu
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
  -v login_name="${RUNTIME_LOGIN_NAME:-tenant_connect_login}" \
  -v login_password="${RUNTIME_LOGIN_PASSWORD:?set RUNTIME_LOGIN_PASSWORD}" \
  -f /etc/tenant-connect/runtime-login.sql
