//! The `certus` command line. Exit codes (also in the README):
//! `verify`: 0 unsat (holds), 1 sat (violated), 2 error, 3 unknown or timeout;
//! `bench`: 0 no wrong answer, 1 some wrong answer, 2 error; other commands: 0 ok, 2 error.

mod cli;

use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    let args = cli::Cli::parse();
    match cli::run(args) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(cli::EXIT_ERROR)
        }
    }
}
