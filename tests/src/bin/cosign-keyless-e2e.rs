//! The cosign-keyless command line, as a bin target of this test crate so that its tests can run
//! it (CARGO_BIN_EXE_*) without the client crate depending on the servers.
fn main() {
    cosign_keyless::cli::main();
}
