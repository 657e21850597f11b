#!/usr/bin/env bash
# MySQL backups of the compose stack, run on the host from the project directory (where docker-compose.yml is):
#
#   docker/backup.sh full     consistent dump of dhan_trading (gzip), with the binlog position it starts from
#   docker/backup.sh binlog   rotate the binary log, then copy every closed binlog not copied yet
#
# Daily full + hourly binlog gives point-in-time recovery to within the hour (README: Deployment > Backups has
# the cron lines and the restore). BACKUP_DIR (default ./backups) receives full/ and binlog/; files older than
# KEEP_DAYS (default 14) are pruned. The root password stays inside the mysql container: it is read there from
# the container's environment into a client option file, never put on a command line.
set -euo pipefail

backup_dir=${BACKUP_DIR:-./backups}
keep_days=${KEEP_DAYS:-14}

# Runs a shell snippet in the mysql container; "$CNF" there is a temporary file (0600, removed after) with
# root's client options.
in_mysql() {
    docker compose exec -T mysql sh -c '
        umask 077
        CNF=$(mktemp)
        printf "[client]\nuser=root\npassword=\"%s\"\n" "$MYSQL_ROOT_PASSWORD" > "$CNF"
        rc=0
        eval "$1" || rc=$?
        rm -f "$CNF"
        exit "$rc"' sh "$1"
}

full() {
    mkdir -p "$backup_dir/full"
    local out
    out="$backup_dir/full/dhan_trading-$(date -u +%Y%m%dT%H%M%SZ).sql.gz"
    # --single-transaction: a consistent InnoDB snapshot without blocking the writer; --source-data=2: the
    # binlog file and position of that snapshot, as a comment near the top (where a restore replays from).
    # MariaDB's mysqldump (a MySQL-compatible image) knows the option by its older name, --master-data.
    # shellcheck disable=SC2016  # $CNF and $POS expand in the container
    in_mysql 'POS=--source-data=2; mysqldump --help | grep -q -- --source-data || POS=--master-data=2
              mysqldump --defaults-extra-file="$CNF" --single-transaction "$POS" --quick \
                  --routines --events --triggers --hex-blob --databases dhan_trading' \
        | gzip -6 > "$out.partial"
    mv "$out.partial" "$out"
    find "$backup_dir/full" -name 'dhan_trading-*.sql.gz' -mtime +"$keep_days" -delete
    echo "full backup: $out ($(du -h "$out" | cut -f1))"
}

binlog() {
    mkdir -p "$backup_dir/binlog"
    local logs current name copied=0
    # shellcheck disable=SC2016  # $CNF expands in the container
    logs=$(in_mysql 'mysql --defaults-extra-file="$CNF" -N -B -e "FLUSH BINARY LOGS; SHOW BINARY LOGS"' \
        | awk '{print $1}')
    current=$(printf '%s\n' "$logs" | tail -n 1)
    for name in $logs; do
        [ "$name" = "$current" ] && continue              # still being written
        [ -e "$backup_dir/binlog/$name" ] && continue     # copied by an earlier run
        docker compose exec -T mysql cat "/var/lib/mysql/$name" > "$backup_dir/binlog/$name.partial"
        mv "$backup_dir/binlog/$name.partial" "$backup_dir/binlog/$name"
        copied=$((copied + 1))
    done
    find "$backup_dir/binlog" -name 'binlog.*' -mtime +"$keep_days" -delete
    echo "binlog backup: $copied new file(s) in $backup_dir/binlog (current: $current)"
}

case "${1:-}" in
    full) full ;;
    binlog) binlog ;;
    *)
        echo "usage: docker/backup.sh full|binlog   (from the directory of docker-compose.yml)" >&2
        exit 2
        ;;
esac
