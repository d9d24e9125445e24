#!/bin/sh
# The container's command: `serve` with the role given (Dockerfile).
#
# Started as root (the image's default), it first gives the data directory
# to the user hub, as a directory that `docker run -v` created on the host is
# root's, and then runs Hub as that user. Started as any other user (a
# Kubernetes securityContext, `docker run --user`), it runs Hub as that user.
set -e
if [ "$(id -u)" = 0 ]; then
    mkdir -p "$HUB_DATA_DIR"
    find "$HUB_DATA_DIR" \! -user hub -exec chown hub:hub '{}' +
    exec setpriv --reuid=hub --regid=hub --init-groups "$0" "$@"
fi
exec python3 /app/manage.py serve "$@"
