#!/bin/sh
# The streaming replica: on first start, copy the primary with pg_basebackup -R (which writes
# standby.signal and primary_conninfo, so PostgreSQL starts as a hot standby following the
# primary), then hand over to the postgres image's own entrypoint. Later starts find the data
# directory and just start the standby.
set -eu
if [ ! -s "$PGDATA/PG_VERSION" ]; then
    mkdir -p "$PGDATA"
    chown postgres:postgres "$PGDATA"
    chmod 700 "$PGDATA"
    until su-exec postgres pg_isready -h "$PRIMARY_HOST" -U replicator -q; do sleep 1; done
    PGPASSWORD="$REPLICATION_PASSWORD" su-exec postgres \
        pg_basebackup -h "$PRIMARY_HOST" -U replicator -D "$PGDATA" -R -X stream -c fast
fi
exec docker-entrypoint.sh postgres -c hot_standby=on
