//! `cairn`: everything lives in the library so tests and benchmarks share it.

/// mimalloc rather than glibc's malloc: serving allocates a little per input cell,
/// and glibc's allocator was about a third of a 1,000-row prediction's time.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    server::cli::main()
}
