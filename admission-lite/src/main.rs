fn main() {
    std::process::exit(admission_lite::cli::main());
}
