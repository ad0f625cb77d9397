-- Gatepost central on PostgreSQL: one login role that owns one database.
--
-- Run as the postgres superuser on the database server:
--   sudo -u postgres psql -v role=gatepost -v db=gatepost -v password="$(openssl rand -base64 24)" \
--        -f deploy/postgresql/setup.sql
-- or use deploy/postgresql/setup.sh, which makes the password and prints central's URL.
--
-- Central owns its schema: `gatepost central migrate` (Alembic) creates and
-- upgrades the tables as this role, so no table grants are needed here.
-- Nobody else may connect to the database or create objects in it.

\set ON_ERROR_STOP on

CREATE ROLE :"role" LOGIN PASSWORD :'password' NOSUPERUSER NOCREATEDB NOCREATEROLE;
-- Never a statement that holds the ingest workers' row locks for ever.
ALTER ROLE :"role" SET idle_in_transaction_session_timeout = '60s';
ALTER ROLE :"role" SET timezone = 'UTC';

CREATE DATABASE :"db" OWNER :"role" ENCODING 'UTF8' TEMPLATE template0;
REVOKE ALL ON DATABASE :"db" FROM PUBLIC;
GRANT CONNECT, TEMPORARY ON DATABASE :"db" TO :"role";

\connect :"db"
-- PostgreSQL < 15 lets every role create tables in "public"; take that away.
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
ALTER SCHEMA public OWNER TO :"role";
