#!/bin/sh
# The streaming standby's first start: copy the primary (pg_basebackup -R writes the standby
# settings), then run as a hot standby. Later starts reuse the copy.
set -eu
if [ ! -s "$PGDATA/PG_VERSION" ]; then
  until pg_isready -h postgres-primary -U postgres; do sleep 1; done
  PGPASSWORD="$(cat /run/secrets/postgres-password)" \
    pg_basebackup -h postgres-primary -U postgres -D "$PGDATA" -R -X stream -c fast
  chmod 0700 "$PGDATA"
fi
exec postgres -c hot_standby=on
