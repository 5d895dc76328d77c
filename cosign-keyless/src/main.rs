fn main() {
    cosign_keyless::cli::main();
}
