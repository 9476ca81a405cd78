//! `cuttle`: the command line (SPEC 4). Thin: parsing, printing, exit codes; the work is done by
//! the crates below.

mod cli;
mod commands;
mod import;
mod password;
mod progress;
mod wizard;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    match commands::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) if error.downcast_ref::<wizard::Cancelled>().is_some() => {
            eprintln!("{error}");
            ExitCode::from(130)
        }
        Err(error) => {
            eprintln!("error: {}", commands::describe_error(&error));
            ExitCode::FAILURE
        }
    }
}
