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

/// mimalloc 3 gives memory back to the system a second after it is freed (its `purge_delay`).
/// An import frees its stages' structures in turn, and its key derivation's 64 MiB, so with that
/// default its resident memory counts what it no longer holds: the large sample's import from a
/// directory peaked at 168 MiB, and at 135 MiB with 50 ms, at no cost in time that could be
/// measured (mimalloc 2 used 10 ms).
#[cfg(not(feature = "system-allocator"))]
fn tune_allocator() {
    // SAFETY: sets an option of the allocator, which takes effect for later purges; it exists in
    // the bundled mimalloc (a unit test checks its default).
    unsafe { libmimalloc_sys::mi_option_set(PURGE_DELAY, 50) };
}

/// `mi_option_purge_delay` in `mimalloc.h` (its position in `mi_option_e`), which
/// `libmimalloc-sys` does not name.
#[cfg(not(feature = "system-allocator"))]
const PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

#[cfg(feature = "system-allocator")]
fn tune_allocator() {}

fn main() -> ExitCode {
    tune_allocator();
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

#[cfg(all(test, not(feature = "system-allocator")))]
mod tests {
    use super::*;

    #[test]
    fn the_allocator_option_set_is_the_one_meant() {
        let get = |option| unsafe { libmimalloc_sys::mi_option_get(option) };
        // The bundled mimalloc's default, which says that the position names this option.
        assert_eq!(get(PURGE_DELAY), 1000);
        tune_allocator();
        assert_eq!(get(PURGE_DELAY), 50);
    }
}
