//! The `regbuf-fuzz` binary: the command line of [`regbuf_fuzz::cli`].
//!
//! Kept to one call so that everything the binary does is in the library,
//! where tests reach it; the exit code is the one the command returns.

fn main() {
    std::process::exit(regbuf_fuzz::cli::main_with(std::env::args_os()));
}
