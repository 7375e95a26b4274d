# syntax=docker/dockerfile:1
# The webhook-inbox image: `receiver`, `processor`, `api` and `inboxctl` on Debian bookworm, run as
# a non-root user. One image for all; the command picks the role (default: receiver).
#
#   DOCKER_BUILDKIT=1 docker build -t webhook-inbox .
#   docker run --rm -v ./inbox.toml:/etc/webhook-inbox/inbox.toml:ro -e INBOX_CONFIG=/etc/webhook-inbox/inbox.toml \
#     -e DATABASE_URL=postgres://... -e INBOX__RECEIVER__BIND=0.0.0.0:8080 -p 8080:8080 webhook-inbox  # receiver
#   docker run --rm ... -e INBOX__PROCESSOR__METRICS_ADDR=0.0.0.0:9090 webhook-inbox processor       # processor
#   docker run --rm ... -e INBOX__API__BIND=0.0.0.0:8081 -e BILLING_API_KEY=... -p 8081:8081 webhook-inbox api  # host API
#   docker run --rm ... webhook-inbox inboxctl migrate                                               # migrations
#
# No configuration file is baked in: mount one (INBOX_CONFIG) or use INBOX__SECTION__KEY variables.
# How this file is checked without a Docker engine: deploy/README.md ("Checking the Dockerfile").

ARG RUST_VERSION=1.95
ARG DEBIAN_RELEASE=bookworm

# ---- builder: the production build, exactly `make release` (see Makefile) ----
FROM rust:${RUST_VERSION}-${DEBIAN_RELEASE} AS builder
# libssl-dev + pkg-config: libpq is built with OpenSSL (feature inbox-persistence/postgres-tls);
# make runs the Makefile (already in the rust image; listed so the step says what it needs).
RUN apt-get update \
 && apt-get install -y --no-install-recommends libssl-dev pkg-config make \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
# The whole workspace; .dockerignore keeps target/, .git and local state out of the context.
COPY . .
# Cache mounts keep the crates.io registry and the target directory between builds (BuildKit).
# The binaries are copied out of the cached target directory inside the same step.
RUN --mount=type=cache,target=/usr/local/cargo/registry,sharing=locked \
    --mount=type=cache,target=/usr/local/cargo/git,sharing=locked \
    --mount=type=cache,target=/src/target,sharing=locked \
    make release \
 && install -D -m 0755 -t /out target/release/receiver target/release/processor target/release/api target/release/inboxctl

# ---- runtime: slim Debian, TLS roots, libssl for libpq, curl for compose health checks ----
FROM debian:${DEBIAN_RELEASE}-slim AS runtime
ARG APP_UID=10001
# curl serves only `docker compose` health checks (HTTP GET /readyz); Kubernetes probes
# need nothing in the image. Debian package versions are not pinned: the security archive replaces
# them, so a pin would break rebuilds (see .hadolint.yaml).
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates libssl3 curl \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid "${APP_UID}" inbox \
 && useradd --system --uid "${APP_UID}" --gid "${APP_UID}" --home-dir /var/lib/webhook-inbox \
      --no-create-home --shell /usr/sbin/nologin inbox \
 && mkdir -p /var/lib/webhook-inbox/var /etc/webhook-inbox \
 && chown -R "${APP_UID}:${APP_UID}" /var/lib/webhook-inbox
COPY --from=builder /out/ /usr/local/bin/
# The working directory is only written to by the built-in SQLite default (var/inbox.db), for a
# one-container try-out; deployments use PostgreSQL and a read-only root filesystem.
WORKDIR /var/lib/webhook-inbox
USER ${APP_UID}:${APP_UID}
# No ENV for the listen addresses: environment variables override the configuration file, so
# an ENV here would silently win over `bind` in a mounted file. The built-in defaults listen on
# loopback only: set receiver.bind = "0.0.0.0:8080" and processor.metrics_addr = "0.0.0.0:9090"
# (file or INBOX__RECEIVER__BIND / INBOX__PROCESSOR__METRICS_ADDR), as compose and deploy/ do.
# 8080: receiver (webhooks, /healthz, /readyz); 8081: api (/v1, /healthz, /readyz); 9090: /metrics
# (and the processor's /healthz, /readyz).
EXPOSE 8080 8081 9090
LABEL org.opencontainers.image.title="webhook-inbox" \
      org.opencontainers.image.description="Receives payment webhooks once, applies them in order: receiver, processor, inboxctl" \
      org.opencontainers.image.licenses="Apache-2.0"
# The binaries handle SIGTERM themselves (drain, then exit 0) and start no children, so they run
# as PID 1 directly: no shell, no init wrapper.
CMD ["receiver"]
