fn main() -> std::process::ExitCode {
    sbom_lite::cli::main()
}
