//! The `certus` command line. Exit codes (also in the README):
//! `verify`: 0 unsat (holds), 1 sat (violated), 2 error, 3 unknown or timeout;
//! `bench`: 0 no wrong answer, 1 some wrong answer, 2 error; other commands: 0 ok, 2 error.

mod cli;

use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    // Die quietly on a closed pipe (`certus ... | head`) like other Unix tools, instead of
    // panicking inside `println!`.
    #[cfg(unix)]
    // SAFETY: restoring the default disposition of SIGPIPE before any thread starts.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    let args = cli::Cli::parse();
    match cli::run(args) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(cli::EXIT_ERROR)
        }
    }
}
