#!/usr/bin/env bash
# Build the bridge image and print its size.
#
#   IMAGE        tag                    (default whatsapp-connect-bridge:local)
#   TARGET       Dockerfile stage       (default runtime; "sandbox" adds the embedded AWS)
#   BASE_IMAGE   base image; when unset, the local Debian-built base is used if
#                `make base-image` made one, otherwise the Dockerfile's default
#                (the official python slim image)
#   REBUILD      set: build even when the image is up to date with its inputs
set -euo pipefail
cd "$(dirname "$0")/.."

# An engine must answer; start the installed one if it is not running.
"$(dirname "$0")/engine.sh" >/dev/null

IMAGE=${IMAGE:-whatsapp-connect-bridge:local}
TARGET=${TARGET:-runtime}
LOCAL_BASE=${LOCAL_BASE:-whatsapp-connect-bridge-base:bookworm}

args=(--network host --target "$TARGET")
base=${BASE_IMAGE:-}
if [[ -z $base ]] && docker image inspect "$LOCAL_BASE" >/dev/null 2>&1; then
    base=$LOCAL_BASE
fi
if [[ -n $base ]]; then
    args+=(--build-arg "BASE_IMAGE=$base")
fi

# Everything the build reads: the Dockerfile, the context it copies (.dockerignore lets in
# exactly pyproject.toml, uv.lock and service/), the target and the base image.
# When the image carries the same digest the build is skipped: the legacy builder, even
# with every layer cached, checksums each stage's whole virtualenv again (20-35 s on the
# vfs driver). REBUILD=1 builds regardless.
inputs=$(
    {
        sha256sum Dockerfile .dockerignore pyproject.toml uv.lock
        find service -type f ! -path '*/__pycache__/*' ! -name '*.pyc' -print0 \
            | sort -z | xargs -0 sha256sum
        echo "target=$TARGET base=${base:-default} $(docker image inspect --format '{{.Id}}' \
            "${base:-python:3.12-slim-bookworm}" 2>/dev/null || true)"
    } | sha256sum | cut -d' ' -f1
)
label=io.github.whatsapp-connect-bridge.build-inputs
if [[ -z ${REBUILD:-} ]] && [[ $(docker image inspect --format "{{index .Config.Labels \"$label\"}}" \
    "$IMAGE" 2>/dev/null) == "$inputs" ]]; then
    echo "$IMAGE ($TARGET) is up to date with its inputs (REBUILD=1 to build anyway)"
else
    docker build "${args[@]}" --label "$label=$inputs" -t "$IMAGE" .
fi
size=$(docker image inspect --format '{{.Size}}' "$IMAGE")
echo "built $IMAGE ($TARGET): $((size / 1000000)) MB"
