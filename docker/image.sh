#!/usr/bin/env bash
# Build the bridge image and print its size.
#
#   IMAGE        tag                    (default whatsapp-connect-bridge:local)
#   TARGET       Dockerfile stage       (default runtime; "sandbox" adds the embedded AWS)
#   BASE_IMAGE   base image; when unset, the local Debian-built base is used if
#                `make base-image` made one, otherwise the Dockerfile's default
#                (the official python slim image)
set -euo pipefail
cd "$(dirname "$0")/.."

# An engine must answer; start the installed one if it is not running.
"$(dirname "$0")/engine.sh" >/dev/null

IMAGE=${IMAGE:-whatsapp-connect-bridge:local}
TARGET=${TARGET:-runtime}
LOCAL_BASE=${LOCAL_BASE:-whatsapp-connect-bridge-base:bookworm}

args=(--network host --target "$TARGET" -t "$IMAGE")
if [[ -n ${BASE_IMAGE:-} ]]; then
    args+=(--build-arg "BASE_IMAGE=$BASE_IMAGE")
elif docker image inspect "$LOCAL_BASE" >/dev/null 2>&1; then
    args+=(--build-arg "BASE_IMAGE=$LOCAL_BASE")
fi
docker build "${args[@]}" .
size=$(docker image inspect --format '{{.Size}}' "$IMAGE")
echo "built $IMAGE ($TARGET): $((size / 1000000)) MB"
