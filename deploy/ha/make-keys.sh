#!/usr/bin/env bash
# Makes the log keys the HA deployment's rekor-lite processes share (every frontend of a log signs
# with the same key): secrets/rekor-v1-key.pem (ECDSA P-256) and secrets/rekor-v2-key.pem
# (Ed25519), PKCS#8 PEM, mode 0600, and a database password. Never commit secrets/.
set -euo pipefail
cd "$(dirname "$0")"
umask 077
mkdir -p secrets
[ -f secrets/rekor-v1-key.pem ] || openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out secrets/rekor-v1-key.pem
[ -f secrets/rekor-v2-key.pem ] || openssl genpkey -algorithm ED25519 -out secrets/rekor-v2-key.pem
[ -f secrets/postgres-password ] || openssl rand -hex 24 > secrets/postgres-password
echo "deploy/ha/make-keys.sh: keys in $(pwd)/secrets"
