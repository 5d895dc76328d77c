//! The sbom-lite command line, as a bin target of this test crate so that its tests can run it
//! (CARGO_BIN_EXE_*).
fn main() -> std::process::ExitCode {
    sbom_lite::cli::main()
}
