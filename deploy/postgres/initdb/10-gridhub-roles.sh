#!/usr/bin/env bash
# The postgres image runs this once, when it creates its data directory
# (/docker-entrypoint-initdb.d): the owner and app roles of ../roles.sql, with
# their passwords from DB_OWNER_PASSWORD and DB_APP_PASSWORD. POSTGRES_USER
# (the superuser) is for administration only; no GridHub process gets it.
# An existing data directory: run it by hand once (deploy/README.md, Security).
set -euo pipefail
: "${DB_OWNER_PASSWORD:?set DB_OWNER_PASSWORD}" "${DB_APP_PASSWORD:?set DB_APP_PASSWORD}"
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
  -v dbname="$POSTGRES_DB" \
  -v owner=gridhub_owner -v owner_password="$DB_OWNER_PASSWORD" \
  -v app=gridhub_app -v app_password="$DB_APP_PASSWORD" \
  -f /opt/gridhub/roles.sql
