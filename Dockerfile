# Builds every sigstore-lite binary; docker-compose.yml runs one service per container.
FROM rust:1-bookworm AS build
WORKDIR /src
COPY . .
# Stripped release binaries (no debug info in the image).
ENV CARGO_PROFILE_RELEASE_DEBUG=0 CARGO_PROFILE_RELEASE_STRIP=symbols
RUN cargo build --release --locked \
    -p rekor-lite -p tsa-lite -p fulcio-lite -p mock-oidc -p sigstore-lite -p cosign-keyless \
    -p admission-lite -p sbom-lite

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates curl \
 && rm -rf /var/lib/apt/lists/*
COPY --from=build /src/target/release/rekor-lite /src/target/release/tsa-lite \
     /src/target/release/fulcio-lite \
     /src/target/release/mock-oidc /src/target/release/sigstore-lite \
     /src/target/release/cosign-keyless /src/target/release/admission-lite \
     /src/target/release/sbom-lite /usr/local/bin/
# A fresh named volume takes the ownership of the directory it is mounted on: owned by the
# user the services run as, so that they can write their keys and stores there.
RUN mkdir -p /data && chown 65534:65534 /data && chmod 0700 /data
USER 65534:65534
