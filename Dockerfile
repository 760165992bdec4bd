# The harness as a container: the worker daemon (`harness worker`) for fleets on ECS,
# Kubernetes or any container host; any other command with an explicit argument list,
# e.g. `docker run IMAGE run scenarios/smoke.toml` after overriding the entry point.
#
#   docker build -t dsql-lambda-harness .
#   docker run -p 7700:7700 -v /path/to/secret:/run/secrets/harness-worker:ro dsql-lambda-harness
#
# The daemon takes its settings from the environment (see `harness worker --help`):
# HARNESS_WORKER_LISTEN (default below: every interface, port 7700), HARNESS_WORKER_SECRET_FILE
# (required beyond loopback; mount the shared secret there), HARNESS_WORKER_NAME
# (default: host name and port), HARNESS_LOG_FORMAT=json for log collectors.

FROM rust:1.94-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p harness --bin harness \
    && install -D -m 0755 target/release/harness /out/harness

FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates=20230311* \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --no-create-home --shell /usr/sbin/nologin harness
COPY --from=build /out/harness /usr/local/bin/harness
USER 10001
# HARNESS_WORKER_SECRET_FILE is where the secret is mounted, not the secret itself.
# hadolint ignore=DL3064
ENV HARNESS_WORKER_LISTEN=0.0.0.0:7700 \
    HARNESS_WORKER_SECRET_FILE=/run/secrets/harness-worker \
    HARNESS_LOG_FORMAT=json
EXPOSE 7700
ENTRYPOINT ["/usr/local/bin/harness"]
CMD ["worker"]
