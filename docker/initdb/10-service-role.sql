-- Run once by the postgres image on a fresh volume (/docker-entrypoint-initdb.d), as the
-- image's superuser `debtcases`, which owns the events tables after `debtcases db setup`.
-- The service runs as `debtcases_service`: after `debtcases db setup` it may only read
-- and append events (no UPDATE, DELETE, TRUNCATE, no owning or altering the tables).
-- Idempotent, and written for any database name (tests run it on a throwaway database).
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'debtcases_service') THEN
        CREATE ROLE debtcases_service LOGIN PASSWORD 'debtcases_service'
            NOSUPERUSER NOCREATEDB NOCREATEROLE;
    END IF;
    EXECUTE format('GRANT CONNECT ON DATABASE %I TO debtcases_service', current_database());
END
$$;
