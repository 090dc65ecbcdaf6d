#!/usr/bin/env bash
# Make sure a Docker engine answers; start one if this machine has dockerd but it is not
# running (CI machines and sandboxes where no service manager starts it).
#
# Exit 0: an engine answers; if this script started it, it prints the engine's pid (the
# caller stops it when done). Exit 1: none can be started (the reason is on stderr).
#   DOCKER_STATE_DIR   where a started engine keeps its log (default .docker-engine)
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v docker >/dev/null 2>&1; then
    echo "no docker client on PATH" >&2
    exit 1
fi
if docker info >/dev/null 2>&1; then
    exit 0
fi
if ! command -v dockerd >/dev/null 2>&1; then
    echo "no Docker engine answers and dockerd is not installed" >&2
    exit 1
fi
if [[ $(id -u) -ne 0 ]]; then
    echo "no Docker engine answers and starting dockerd needs root" >&2
    exit 1
fi
state=${DOCKER_STATE_DIR:-.docker-engine}
mkdir -p "$state"
# vfs works on any filesystem (overlay-on-overlay does not); it is slower, not different.
# Its own session, no terminal: it must not hold the caller's output open or get its
# signals.
pidfile=$(pwd)/$state/dockerd.pid
setsid dockerd --storage-driver=vfs --pidfile "$pidfile" </dev/null >"$state/dockerd.log" 2>&1 &
for _ in $(seq 1 60); do
    if docker info >/dev/null 2>&1; then
        echo "started dockerd (log: $state/dockerd.log)" >&2
        cat "$pidfile"
        exit 0
    fi
    sleep 0.5
done
echo "dockerd did not answer within 30 s; see $state/dockerd.log:" >&2
tail -5 "$state/dockerd.log" >&2
exit 1
