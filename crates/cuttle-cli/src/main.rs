//! `cuttle`: the command line (SPEC 4). Thin: parsing, printing, exit codes; the work is done by
//! the crates below.

#[macro_use]
mod output;

mod cli;
mod commands;
mod hints;
mod import;
mod password;
mod progress;
mod serve;
mod wizard;

use std::process::ExitCode;

use clap::Parser;

/// An import or an export makes and drops millions of small JSON values across threads, where
/// mimalloc is markedly faster than the system allocator (about a fifth of an import's time
/// went to glibc's malloc and free). The feature `system-allocator` keeps the system's, which
/// heap profilers such as heaptrack see into (`cargo build --release --features
/// system-allocator`).
#[cfg(not(feature = "system-allocator"))]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    if let Err(usage) = cli.check() {
        usage.exit();
    }
    match commands::run(cli) {
        // A closed standard output ends a command quietly (see `output`).
        Ok(()) if output::was_closed() => ExitCode::from(output::CLOSED_STATUS),
        Ok(()) => ExitCode::SUCCESS,
        Err(error) if output::is_closed(&error) => ExitCode::from(output::CLOSED_STATUS),
        Err(error) if error.downcast_ref::<wizard::Cancelled>().is_some() => {
            note!("{error}");
            ExitCode::from(130)
        }
        Err(error) => {
            note!("error: {}", commands::describe_error(&error));
            // A request that contradicts itself is wrong usage, as clap's own refusals are.
            match error.downcast_ref::<cuttle_service::Error>() {
                Some(e) if e.kind == cuttle_service::ErrorKind::Usage => ExitCode::from(2),
                _ => ExitCode::FAILURE,
            }
        }
    }
}
