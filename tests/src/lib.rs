//! sigstore-lite's end-to-end and interop tests live in `tests/` beside this file: the stack with
//! real sigstore-python and sigstore-js, images in a real registry, an independent OIDC provider,
//! and docker-compose checks. This library is empty.
