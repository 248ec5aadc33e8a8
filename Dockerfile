# syntax=docker/dockerfile:1
# Every service image, from this one Dockerfile. SERVICE is the cargo package to build, BIN its
# binary (default: SERVICE); the image is the stage image-<BIN> below, ships that one binary
# only, and is named after it. The payments package has a second binary, psp-simulator (the
# payment simulator dev runs instead of Stripe), which is an image of its own, so the payments
# image never contains the simulator.
#
# Build from the repository root (the Cargo workspace is the build context):
#   docker build --build-arg SERVICE=catalog -t catalog:dev .
#   docker run --rm -p 8081:8081 catalog:dev
#   docker build --build-arg SERVICE=payments --build-arg BIN=psp-simulator -t psp-simulator:dev .
#   docker run --rm -p 8090:8090 psp-simulator:dev
# CI (.github/workflows/main.yml) builds one image per image-<name> stage: SERVICE=<name> and
# BIN=<name>, except psp-simulator (SERVICE=payments, dev only: k8s/overlays/dev/psp-simulator).
#
# Stages: chef (toolchain + cargo-chef) -> planner (recipe of every manifest) -> builder
# (dependencies in their own cached layer, then the BIN binary); rds-ca (the Amazon RDS CA
# bundle); dashboard (the admin dashboard's static files: npm ci, then vite build) -> the
# distroless runtime stages -> image-<BIN>, chosen at the end. BuildKit builds only the stages
# the chosen one needs: only the gateway builds the dashboard, only the services with a
# database fetch the RDS CA bundle.
# Migrations are embedded in the binary (sqlx::migrate!), so only the binary (and, in the
# gateway, the dashboard's files) is copied.
# rust-toolchain.toml is excluded by .dockerignore: the image's pinned toolchain builds, instead
# of rustup fetching whatever "stable" is at build time. sqlx 0.9 needs rustc >= 1.94.

# The cargo package (required: without it the build stops at image-unset, saying so) and the
# binary of it to build, which also picks the image-<BIN> stage to end with.
ARG SERVICE=unset
ARG BIN=${SERVICE}

FROM rust:1.95.0-bookworm AS chef
WORKDIR /app
RUN cargo install cargo-chef --locked --version 0.1.77

FROM chef AS planner
COPY . .
RUN cargo chef prepare --recipe-path recipe.json

FROM chef AS builder
ARG SERVICE
ARG BIN
# Dependencies only: this layer is reused until Cargo.lock or a manifest changes.
COPY --from=planner /app/recipe.json recipe.json
RUN cargo chef cook --release --locked --recipe-path recipe.json --package "${SERVICE}" --bin "${BIN}"
COPY . .
RUN cargo build --release --locked --package "${SERVICE}" --bin "${BIN}"

# The Amazon RDS CA bundle (every region's root and intermediate CAs). The database URL verifies
# PostgreSQL's certificate and host name against it (sslmode=verify-full&sslrootcert=
# /etc/ssl/certs/rds-global-bundle.pem, k8s/components/external-secrets); sqlx's built-in webpki
# roots do not contain the RDS CAs. Fetched over HTTPS only and refused unless it holds
# certificates. The layer is cached: `docker build --no-cache-filter rds-ca ...` refreshes it.
FROM rust:1.95.0-bookworm AS rds-ca
RUN curl --fail --silent --show-error --location --proto '=https' --tlsv1.2 \
        --output /rds-global-bundle.pem \
        https://truststore.pki.rds.amazonaws.com/global/global-bundle.pem \
    && grep -q -- '-----BEGIN CERTIFICATE-----' /rds-global-bundle.pem

# The admin dashboard (gateway only). It is plain HTML/JS/CSS whatever the target architecture,
# so it is built on the build machine's platform (no emulation in multi-arch builds).
# Node 20.19+ (package.json engines).
FROM --platform=$BUILDPLATFORM node:20-bookworm-slim AS dashboard
WORKDIR /app
# Dependencies only: this layer is reused until package.json or the lockfile changes. No package
# needs an install script; --ignore-scripts keeps it that way.
COPY core-services/admin-dashboard/package.json core-services/admin-dashboard/package-lock.json ./
RUN npm ci --ignore-scripts --no-audit --no-fund
# Sources (the context has no node_modules: .dockerignore); the build type-checks, then writes dist/.
COPY core-services/admin-dashboard/ ./
RUN npm run build

# What every image has: glibc + libgcc + CA certificates, no shell, no package manager; TLS is
# rustls (no OpenSSL).
FROM gcr.io/distroless/cc-debian12:nonroot AS runtime
ARG VERSION=0.1.0
ARG REVISION=unknown
LABEL org.opencontainers.image.source="https://github.com/retail-platform/retail-platform" \
      org.opencontainers.image.vendor="retail-platform" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.base.name="gcr.io/distroless/cc-debian12:nonroot"
# mimalloc returns freed pages to the OS at once: an idle service never calls the allocator
# again, so pages left for its default 1 s purge delay would stay resident (+9 MB idle).
ENV MIMALLOC_PURGE_DELAY=0
USER 65532:65532

# The HTTP services.
FROM runtime AS runtime-http
# Containers must listen on every interface (the service default is 127.0.0.1 for local runs).
ENV APP__HTTP__HOST=0.0.0.0

# The HTTP services with a database: plus the RDS CA bundle (above).
FROM runtime-http AS runtime-rds
COPY --from=rds-ca /rds-global-bundle.pem /etc/ssl/certs/rds-global-bundle.pem

# The images, one stage each: title, description and URL, the binary, port and entrypoint.
# Everything copied is owned by root and not writable by the service user; Kubernetes runs it
# with a read-only root fs. The binary keeps its name in /usr/local/bin (the users CLI runs as
# `/usr/local/bin/users promote-admin ...`, k8s/README.md).

FROM runtime-http AS image-gateway
LABEL org.opencontainers.image.title="gateway" \
      org.opencontainers.image.description="The one public door: routing, JWT verification, RBAC, rate limits, circuit breakers, merged OpenAPI." \
      org.opencontainers.image.url="https://github.com/retail-platform/retail-platform/tree/main/core-services/gateway"
COPY --from=builder /app/target/release/gateway /usr/local/bin/gateway
# The admin dashboard served at /admin (APP__ADMIN_UI_DIR): root-owned, readable (not writable)
# by the service user.
COPY --from=dashboard /app/dist /srv/admin
ENV APP__ADMIN_UI_DIR=/srv/admin
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/gateway"]

FROM runtime-rds AS image-catalog
LABEL org.opencontainers.image.title="catalog" \
      org.opencontainers.image.description="Products and categories: search, filters, keyset pagination, Redis cache-aside, admin writes." \
      org.opencontainers.image.url="https://github.com/retail-platform/retail-platform/tree/main/core-services/catalog"
COPY --from=builder /app/target/release/catalog /usr/local/bin/catalog
EXPOSE 8081
ENTRYPOINT ["/usr/local/bin/catalog"]

FROM runtime-rds AS image-inventory
LABEL org.opencontainers.image.title="inventory" \
      org.opencontainers.image.description="Stock per SKU and all-or-nothing reservations for orders; never oversells." \
      org.opencontainers.image.url="https://github.com/retail-platform/retail-platform/tree/main/core-services/inventory"
COPY --from=builder /app/target/release/inventory /usr/local/bin/inventory
EXPOSE 8082
ENTRYPOINT ["/usr/local/bin/inventory"]

FROM runtime-rds AS image-orders
LABEL org.opencontainers.image.title="orders" \
      org.opencontainers.image.description="Carts, checkout with idempotency keys, and the order saga." \
      org.opencontainers.image.url="https://github.com/retail-platform/retail-platform/tree/main/core-services/orders"
COPY --from=builder /app/target/release/orders /usr/local/bin/orders
EXPOSE 8083
ENTRYPOINT ["/usr/local/bin/orders"]

FROM runtime-rds AS image-payments
LABEL org.opencontainers.image.title="payments" \
      org.opencontainers.image.description="Payment intents per order, Stripe adapter, ledger and refunds." \
      org.opencontainers.image.url="https://github.com/retail-platform/retail-platform/tree/main/core-services/payments"
COPY --from=builder /app/target/release/payments /usr/local/bin/payments
EXPOSE 8084
ENTRYPOINT ["/usr/local/bin/payments"]

FROM runtime-rds AS image-users
LABEL org.opencontainers.image.title="users" \
      org.opencontainers.image.description="Accounts, login, JWT issuing with JWKS, sessions, profiles and preferences." \
      org.opencontainers.image.url="https://github.com/retail-platform/retail-platform/tree/main/core-services/users"
COPY --from=builder /app/target/release/users /usr/local/bin/users
EXPOSE 8085
ENTRYPOINT ["/usr/local/bin/users"]

# No database, so no RDS CA bundle.
FROM runtime-http AS image-bridge
LABEL org.opencontainers.image.title="bridge" \
      org.opencontainers.image.description="Moves every event from RabbitMQ to the SNS topic, acking only after SNS accepted it." \
      org.opencontainers.image.url="https://github.com/retail-platform/retail-platform/tree/main/core-services/bridge"
COPY --from=builder /app/target/release/bridge /usr/local/bin/bridge
EXPOSE 8086
ENTRYPOINT ["/usr/local/bin/bridge"]

# The payment simulator (SERVICE=payments BIN=psp-simulator): Stripe's API subset and signed
# webhooks, for dev (no database, so no RDS CA bundle; it reaches psp-webhook's function URL with
# the CA certificates of the base). It takes its address from APP__SIMULATOR__LISTEN, not
# APP__HTTP__HOST, so it starts from runtime, not runtime-http.
FROM runtime AS image-psp-simulator
LABEL org.opencontainers.image.title="psp-simulator" \
      org.opencontainers.image.description="Payment simulator for dev: the Stripe API subset payments uses, with signed webhook events to psp-webhook." \
      org.opencontainers.image.url="https://github.com/retail-platform/retail-platform/tree/main/core-services/payments"
COPY --from=builder /app/target/release/psp-simulator /usr/local/bin/psp-simulator
# Containers must listen on every interface (the simulator's default is 127.0.0.1:8090).
ENV APP__SIMULATOR__LISTEN=0.0.0.0:8090
EXPOSE 8090
ENTRYPOINT ["/usr/local/bin/psp-simulator"]

# No SERVICE given: stop with the reason instead of building something.
FROM rust:1.95.0-bookworm AS image-unset
RUN echo 'SERVICE is required: docker build --build-arg SERVICE=<cargo package> [--build-arg BIN=<binary>] .' >&2 \
    && exit 1

# The image: BIN's stage.
# hadolint ignore=DL3006
FROM image-${BIN}
