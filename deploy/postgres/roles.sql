-- GridHub's two database roles (DESIGN.md §8: least-privilege database role).
--
--   owner  owns the schema: the migrations (gridhub db upgrade, Alembic) run as it,
--          through GRIDHUB_MIGRATION_DATABASE_URL;
--   app    what the gateway and the workers connect as (GRIDHUB_DATABASE_URL):
--          SELECT, INSERT, UPDATE, DELETE on the tables and use of the
--          sequences; it cannot create, alter or drop anything.
--
-- psql variables: dbname, owner, owner_password, app, app_password, e.g.
--   psql "$ADMIN_URL" -v ON_ERROR_STOP=1 -v dbname=gridhub \
--     -v owner=gridhub_owner -v owner_password="$OWNER_PASSWORD" \
--     -v app=gridhub_app -v app_password="$APP_PASSWORD" -f roles.sql
-- Run it connected to the database `dbname`, as a superuser or a role that is a
-- member of both roles (ALTER DEFAULT PRIVILEGES FOR ROLE owner needs that). It
-- is idempotent: run it again to rotate the passwords, or over a database that
-- one role used to own (its tables and sequences are handed to the owner role).
-- Used by deploy/postgres/initdb (compose) and deploy/kubernetes/postgres-roles.yaml.
\set ON_ERROR_STOP on

SELECT format('CREATE ROLE %I', :'owner')
WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'owner') \gexec
SELECT format('CREATE ROLE %I', :'app')
WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'app') \gexec

ALTER ROLE :"owner" WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS
  PASSWORD :'owner_password';
ALTER ROLE :"app" WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS
  PASSWORD :'app_password';

-- Only these two roles (and administrators) connect to the database.
REVOKE ALL ON DATABASE :"dbname" FROM PUBLIC;
GRANT CONNECT, TEMPORARY ON DATABASE :"dbname" TO :"owner";
GRANT CONNECT ON DATABASE :"dbname" TO :"app";

-- Nobody but the owner creates objects in the schema.
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
GRANT USAGE, CREATE ON SCHEMA public TO :"owner";
GRANT USAGE ON SCHEMA public TO :"app";

-- A database migrated before the roles were split: the tables (and with them
-- their sequences) move to the owner.
SELECT format('ALTER TABLE public.%I OWNER TO %I', tablename, :'owner')
FROM pg_tables
WHERE schemaname = 'public' AND tableowner <> :'owner' \gexec

-- What exists now, and everything the owner creates from now on.
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO :"app";
GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO :"app";
ALTER DEFAULT PRIVILEGES FOR ROLE :"owner" IN SCHEMA public
  GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO :"app";
ALTER DEFAULT PRIVILEGES FOR ROLE :"owner" IN SCHEMA public
  GRANT USAGE, SELECT ON SEQUENCES TO :"app";
