#!/usr/bin/env bash
# Build a local Python base image from Debian packages, for machines that cannot pull
# from Docker Hub. The result stands in for the official python slim image: Debian
# bookworm (minbase) with python3, python3-venv and ca-certificates.
#
#   BASE_IMAGE   tag to create            (default whatsapp-connect-bridge-base:bookworm)
#   MIRROR       Debian mirror            (default http://deb.debian.org/debian)
#   CA_BUNDLE    CA bundle copied in, so TLS through this machine's proxies works
#                                         (default /etc/ssl/certs/ca-certificates.crt)
# Needs root (debootstrap) and a running Docker engine.
set -euo pipefail

# An engine must answer; start the installed one if it is not running.
"$(dirname "$0")/engine.sh" >/dev/null

BASE_IMAGE=${BASE_IMAGE:-whatsapp-connect-bridge-base:bookworm}
MIRROR=${MIRROR:-http://deb.debian.org/debian}
CA_BUNDLE=${CA_BUNDLE:-/etc/ssl/certs/ca-certificates.crt}

if docker image inspect "$BASE_IMAGE" >/dev/null 2>&1 && [[ -z ${REBUILD:-} ]]; then
    echo "base image $BASE_IMAGE already present (REBUILD=1 to rebuild)"
    exit 0
fi

root=$(mktemp -d "${TMPDIR:-/tmp}/bridge-base.XXXXXX")
trap 'rm -rf "$root"' EXIT

debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates \
    bookworm "$root" "$MIRROR"

# mktemp made the directory 0700, and tar records it as the image's "/": open it up, or
# nothing but root could resolve a path in the container.
chmod 0755 "$root"
if [[ -f $CA_BUNDLE ]]; then
    cp "$CA_BUNDLE" "$root/etc/ssl/certs/ca-certificates.crt"
fi
# What a container never needs: package caches, docs and locales.
rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/* \
    "$root"/usr/share/doc/* "$root"/usr/share/man/* "$root"/usr/share/locale/*

tar -C "$root" -c . | docker import \
    --change 'ENV LANG=C.UTF-8' \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'CMD ["python3"]' \
    - "$BASE_IMAGE"
docker image ls "$BASE_IMAGE"
