//! `cuttle`: the command line (SPEC 4). Thin: parsing, printing, exit codes; the work is done by
//! the crates below.

mod cli;
mod commands;
mod import;
mod password;
mod progress;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    match commands::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {}", commands::describe_error(&error));
            ExitCode::FAILURE
        }
    }
}
