#!/bin/bash
# STAND-IN (docker/standin) for the mysql image's docker-entrypoint.sh, on Debian's MariaDB 10.11. It honours
# what docker-compose.yml relies on from the official image, and nothing more:
#   - the command may be server options alone (--log-bin=binlog ...): they go to the server;
#   - started as root, it hands /var/lib/mysql (a volume) and /run/mysqld to the mysql user and runs as it;
#   - an empty data directory is initialised first: root's password from MYSQL_ROOT_PASSWORD (root@localhost
#     and root@'%'), MYSQL_DATABASE created, MYSQL_USER@'%' with MYSQL_PASSWORD and ALL on that database,
#     then /docker-entrypoint-initdb.d/*.sh, *.sql, *.sql.gz in name order. Meanwhile the server listens only
#     on a private socket, so a TCP health check stays unhealthy until the real server is up.
# Passwords travel on stdin or in a 0600 option file that is removed afterwards, never in argv or the output.
set -euo pipefail

datadir=/var/lib/mysql
init_socket=/run/mysqld/init.sock

say() { echo "standin-entrypoint: $*" >&2; }

if [ "${1:0:1}" = - ]; then
    set -- mariadbd "$@"
fi
case "$1" in
    mysqld | mariadbd) ;;
    *) exec "$@" ;;
esac

if [ "$(id -u)" = 0 ]; then
    mkdir -p /run/mysqld
    chown mysql:mysql /run/mysqld
    find "$datadir" \! -user mysql -exec chown mysql:mysql '{}' +
    exec setpriv --reuid=mysql --regid=mysql --init-groups "$0" "$@"
fi

sql_string() { printf "'%s'" "$(printf '%s' "$1" | sed -e 's/\\/\\\\/g' -e "s/'/\\\\'/g")"; }
sql_name() { printf '`%s`' "$(printf '%s' "$1" | sed 's/`/``/g')"; }

# Runs "$@" quietly; on failure prints what it said and stops.
quiet() {
    local out
    if ! out=$("$@" 2>&1); then
        printf '%s\n' "$out" >&2
        say "failed: $1"
        exit 1
    fi
}

users_sql() {
    local root_pw
    root_pw=$(sql_string "$MYSQL_ROOT_PASSWORD")
    echo "SET @@SESSION.SQL_LOG_BIN=0;"
    # mariadb-install-db also makes password-less root@127.0.0.1, root@::1 and root@<container name>
    echo "DELETE FROM mysql.global_priv WHERE User='' OR (User='root' AND Host<>'localhost');"
    echo "DELETE FROM mysql.proxies_priv WHERE Host<>'localhost';"
    echo "FLUSH PRIVILEGES;"
    echo "ALTER USER 'root'@'localhost' IDENTIFIED BY $root_pw;"
    echo "CREATE USER 'root'@'%' IDENTIFIED BY $root_pw;"
    echo "GRANT ALL ON *.* TO 'root'@'%' WITH GRANT OPTION;"
    if [ -n "${MYSQL_DATABASE:-}" ]; then
        echo "CREATE DATABASE IF NOT EXISTS $(sql_name "$MYSQL_DATABASE");"
    fi
    if [ -n "${MYSQL_USER:-}" ] && [ -n "${MYSQL_PASSWORD:-}" ]; then
        echo "CREATE USER $(sql_string "$MYSQL_USER")@'%' IDENTIFIED BY $(sql_string "$MYSQL_PASSWORD");"
        if [ -n "${MYSQL_DATABASE:-}" ]; then
            echo "GRANT ALL ON $(sql_name "$MYSQL_DATABASE").* TO $(sql_string "$MYSQL_USER")@'%';"
        fi
    fi
    echo "FLUSH PRIVILEGES;"
}

run_initdb_scripts() {
    local cnf=$1 f
    local db=()
    [ -n "${MYSQL_DATABASE:-}" ] && db=("$MYSQL_DATABASE")
    for f in /docker-entrypoint-initdb.d/*; do
        case "$f" in
            *.sh) say "running $f"; if [ -x "$f" ]; then "$f"; else . "$f"; fi ;;
            *.sql) say "running $f"; mariadb --defaults-extra-file="$cnf" "${db[@]}" < "$f" ;;
            *.sql.gz) say "running $f"; gunzip -c "$f" | mariadb --defaults-extra-file="$cnf" "${db[@]}" ;;
            */\*) ;;  # empty directory
            *) say "ignoring $f" ;;
        esac
    done
}

initialise() {
    if [ -z "${MYSQL_ROOT_PASSWORD:-}" ]; then
        say "the data directory is empty and MYSQL_ROOT_PASSWORD is not set: cannot initialise the database"
        exit 1
    fi
    say "initialising an empty $datadir"
    quiet mariadb-install-db --datadir="$datadir" --auth-root-authentication-method=normal --skip-test-db
    "$@" --skip-networking --socket="$init_socket" &
    local pid=$! i
    for i in $(seq 60); do
        mariadb-admin --socket="$init_socket" -uroot ping --silent >/dev/null 2>&1 && break
        kill -0 "$pid" 2>/dev/null || { say "the server stopped during initialisation"; exit 1; }
        [ "$i" = 60 ] && { say "the server did not answer within 60 s of initialisation"; exit 1; }
        sleep 1
    done
    users_sql | mariadb --protocol=socket --socket="$init_socket" -uroot
    local cnf
    cnf=$(umask 077 && mktemp /run/mysqld/init-XXXXXX.cnf)
    printf '[client]\nuser=root\npassword="%s"\nsocket=%s\n' "$MYSQL_ROOT_PASSWORD" "$init_socket" > "$cnf"
    run_initdb_scripts "$cnf"
    mariadb-admin --defaults-extra-file="$cnf" shutdown
    rm -f "$cnf"
    wait "$pid"
    say "initialised; starting the server"
}

if [ ! -d "$datadir/mysql" ]; then
    initialise "$@"
fi
exec "$@"
