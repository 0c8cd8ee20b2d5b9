#!/bin/sh
# docker-entrypoint.sh of the redis stand-in, as the official image's: options or a .conf file as the
# first argument mean redis-server; started as root it drops to the redis user (uid 999).
set -e

if [ "${1#-}" != "$1" ] || [ "${1%.conf}" != "$1" ]; then
    set -- redis-server "$@"
fi

if [ "$1" = redis-server ] && [ "$(id -u)" = 0 ]; then
    find . \! -user redis -exec chown redis '{}' +
    exec setpriv --reuid=redis --regid=redis --init-groups "$0" "$@"
fi

# Dumps and AOF files readable by the server only, unless the caller chose a umask.
if [ "$(umask)" = 0022 ]; then
    umask 0077
fi

exec "$@"
