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

/// An import or an export makes and drops millions of small JSON values across threads, where
/// mimalloc is markedly faster than the system allocator (about a fifth of an import's time
/// went to glibc's malloc and free).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

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
