#!/usr/bin/env bash
# First start of docker-compose.yml's PostgreSQL (an empty data volume): one role and one
# database per service, each database closed to every other role. The official image runs
# this once, from /docker-entrypoint-initdb.d, as the superuser; later starts skip it, so
# a changed *_DB_PASSWORD needs `ALTER ROLE <service> PASSWORD '...'` (docs/operations.md).
set -euo pipefail

for service in auth registration vault; do
  variable="$(tr '[:lower:]' '[:upper:]' <<<"$service")_DB_PASSWORD"
  password="${!variable:-}"
  if [ -z "$password" ]; then
    echo "init-databases: $variable is empty" >&2
    exit 1
  fi
  # psql variables quote the name (:"name") and the password (:'password') for us.
  psql --no-psqlrc -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres \
       --set=name="$service" --set=password="$password" <<'SQL'
CREATE ROLE :"name" LOGIN PASSWORD :'password';
CREATE DATABASE :"name" OWNER :"name";
REVOKE ALL ON DATABASE :"name" FROM PUBLIC;
SQL
  echo "init-databases: database and role '$service' created"
done
