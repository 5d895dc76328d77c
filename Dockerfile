# Builds every sigstore-lite binary; docker-compose.yml runs one service per container.
FROM rust:1-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked \
    -p rekor-lite -p tsa-lite -p fulcio-lite -p mock-oidc -p sigstore-lite -p cosign-keyless

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates curl \
 && rm -rf /var/lib/apt/lists/*
COPY --from=build /src/target/release/rekor-lite /src/target/release/tsa-lite \
     /src/target/release/fulcio-lite \
     /src/target/release/mock-oidc /src/target/release/sigstore-lite \
     /src/target/release/cosign-keyless /usr/local/bin/
USER 65534:65534
