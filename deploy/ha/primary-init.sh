#!/bin/sh
# Run once by the postgres image on the primary's first start: the standby may stream from it.
set -eu
echo "host replication all all scram-sha-256" >> "$PGDATA/pg_hba.conf"
psql -v ON_ERROR_STOP=1 -U postgres -c "CREATE DATABASE rekor_v1" -c "CREATE DATABASE rekor_v2"
