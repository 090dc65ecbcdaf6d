# WhatsApp ⇄ Amazon Connect bridge.
#
#   docker build -t whatsapp-connect-bridge:local .                 production image
#   docker build --target sandbox -t whatsapp-connect-bridge:sandbox .   + embedded AWS/simulator
#
# BASE_IMAGE is any Debian-like image with python3 (>= 3.11) and python3-venv. The default
# is the official slim image; machines that cannot pull from Docker Hub build a stand-in
# from Debian packages with `make base-image` (docker/base-image.sh) and `make image` uses
# it. Builder and runtime stages must share the base: the venv links to its interpreter.
ARG BASE_IMAGE=python:3.12-slim-bookworm

# ------------------------------------------------------------------ builder
FROM ${BASE_IMAGE} AS builder
ARG UV_VERSION=0.13.9
# UV_NATIVE_TLS: trust the system CA bundle (corporate proxies add their CA there).
ENV UV_PYTHON_DOWNLOADS=never \
    UV_PYTHON=python3 \
    UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_NATIVE_TLS=1 \
    UV_NO_CACHE=1 \
    UV_PROJECT_ENVIRONMENT=/app/.venv \
    PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python3 -m venv /opt/uv \
    && /opt/uv/bin/pip install --no-cache-dir "uv==${UV_VERSION}"
WORKDIR /src
# Dependencies first, in layers of their own: they change far less often than the code.
COPY pyproject.toml uv.lock ./
RUN /opt/uv/bin/uv sync --locked --no-default-groups --no-install-project --no-editable

# The project's metadata names README.md; the package is built with an empty one, so an
# edit of the docs neither rebuilds the image nor changes the CDK image asset.

# The sandbox adds moto's server (the embedded AWS) on top of the same locked set.
FROM builder AS builder-sandbox
RUN /opt/uv/bin/uv sync --locked --no-default-groups --no-install-project --no-editable \
        --extra sandbox
COPY service ./service
RUN touch README.md \
    && /opt/uv/bin/uv sync --locked --no-default-groups --no-editable --extra sandbox

FROM builder AS builder-runtime
COPY service ./service
RUN touch README.md \
    && /opt/uv/bin/uv sync --locked --no-default-groups --no-editable

# ------------------------------------------------------------------ common runtime base
FROM ${BASE_IMAGE} AS runtime-base
# A fixed numeric uid/gid, so Kubernetes/ECS policies can require runAsNonRoot by id.
RUN groupadd --system --gid 10001 bridge \
    && useradd --system --uid 10001 --gid bridge --no-create-home --home-dir /nonexistent \
       --shell /usr/sbin/nologin bridge
# Bytecode is compiled at build time; with a read-only root filesystem nothing may be
# written next to the code at run time.
ENV PATH=/app/.venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    BRIDGE_ADMIN_HOST=0.0.0.0 \
    BRIDGE_ADMIN_PORT=8080 \
    BRIDGE_LOG_FORMAT=json
WORKDIR /app
EXPOSE 8080

# ------------------------------------------------------------------ sandbox
FROM runtime-base AS sandbox
COPY --from=builder-sandbox /app/.venv /app/.venv
USER 10001:10001
ENTRYPOINT ["python", "-m", "service"]
CMD ["--help"]

# ------------------------------------------------------------------ runtime (default)
FROM runtime-base AS runtime
COPY --from=builder-runtime /app/.venv /app/.venv
USER 10001:10001
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-m", "service", "healthcheck"]
# Exec form: the bridge is PID 1 and receives SIGTERM itself; it installs its own handlers
# and has no child processes to reap, so no init shim is needed.
ENTRYPOINT ["python", "-m", "service"]
CMD ["run"]
