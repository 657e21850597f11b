#!/bin/sh
# STAND-IN (docker/standin) for the redis image's docker-entrypoint.sh: options alone run redis-server; as
# root it hands /data to the redis user and runs the server as that user; files it creates are private.
set -e
case "$1" in
    -*|*.conf) set -- redis-server "$@" ;;
esac
if [ "$1" = redis-server ] && [ "$(id -u)" = 0 ]; then
    find . \! -user redis -exec chown redis '{}' +
    exec setpriv --reuid=redis --regid=redis --init-groups "$0" "$@"
fi
[ "$(umask)" = 0022 ] && umask 0077
exec "$@"
