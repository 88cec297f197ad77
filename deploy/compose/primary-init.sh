#!/bin/sh
# Run once by the postgres image when it creates the primary's data directory (it runs every
# script in /docker-entrypoint-initdb.d/): a role the replica streams the WAL as, and the
# pg_hba.conf line that lets it connect for replication (the image allows only local ones).
set -eu
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" <<SQL
CREATE ROLE replicator WITH REPLICATION LOGIN PASSWORD '${REPLICATION_PASSWORD}';
SQL
echo "host replication replicator all scram-sha-256" >> "$PGDATA/pg_hba.conf"
