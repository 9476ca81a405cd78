//! Standard output and standard error (SPEC 4: results to standard output, progress and
//! diagnostics to standard error), and what happens when either is closed.
//!
//! - **A closed standard output** (`cuttle doc list … | head -1`) ends the command quietly. Every
//!   result is written through [`Out`]: a write to a closed pipe fails with [`OutputClosed`],
//!   which the command passes up like any error (so whatever it holds, a transaction included, is
//!   dropped and cleaned up as usual), and `main` ends the process with [`CLOSED_STATUS`] and
//!   prints nothing. SIGPIPE stays ignored (Rust's default), so the process is never killed in
//!   the middle of anything.
//! - **An import** does not stop when its plan's output closes ([`Out::keep_going`]): the rest of
//!   the plan is dropped, the import commits (or fails, or a dry run rolls back) exactly as it would
//!   have, says so on standard error, and then ends with [`CLOSED_STATUS`]. So what an import does
//!   never depends on when the reader of its plan stopped reading (the text plan is printed only
//!   after the commit anyway; the JSON plan streams while the transaction is open).
//! - **Standard error** carries diagnostics only: when it cannot be written (a closed pipe), they
//!   are dropped and the command carries on ([`note!`]); nothing panics.

use std::io::{self, Write};
use std::sync::atomic::{AtomicBool, Ordering};

/// The exit status of a command whose standard output was closed: what a shell reports for a
/// process that SIGPIPE ended (128 + 13), so that `set -o pipefail` sees that not everything was
/// delivered.
pub const CLOSED_STATUS: u8 = 141;

/// Whether a write found standard output closed.
static CLOSED: AtomicBool = AtomicBool::new(false);

/// A write to standard output found it closed (the error inside the [`io::Error`]).
#[derive(Debug)]
pub struct OutputClosed;

impl std::fmt::Display for OutputClosed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("standard output was closed")
    }
}

impl std::error::Error for OutputClosed {}

/// Standard output, for results.
pub struct Out {
    inner: io::StdoutLock<'static>,
    keep_going: bool,
}

/// Standard output: a write to it once it is closed is an error ([`OutputClosed`]).
pub fn stdout() -> Out {
    Out {
        inner: io::stdout().lock(),
        keep_going: false,
    }
}

impl Out {
    /// Standard output for a command that must finish whatever happens to it (an import): once
    /// it is closed, what is written is dropped.
    pub fn keep_going() -> Out {
        Out {
            inner: io::stdout().lock(),
            keep_going: true,
        }
    }

    fn closed(&self, error: io::Error) -> io::Result<()> {
        if error.kind() != io::ErrorKind::BrokenPipe {
            return Err(error);
        }
        CLOSED.store(true, Ordering::Relaxed);
        if self.keep_going {
            Ok(())
        } else {
            Err(io::Error::new(io::ErrorKind::BrokenPipe, OutputClosed))
        }
    }
}

impl Write for Out {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.keep_going && CLOSED.load(Ordering::Relaxed) {
            return Ok(buf.len());
        }
        match self.inner.write(buf) {
            Err(e) => self.closed(e).map(|()| buf.len()),
            ok => ok,
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        if self.keep_going && CLOSED.load(Ordering::Relaxed) {
            return Ok(());
        }
        self.inner.flush().or_else(|e| self.closed(e))
    }
}

/// Whether standard output was found closed by a write.
pub fn was_closed() -> bool {
    CLOSED.load(Ordering::Relaxed)
}

/// Whether `error` is standard output found closed (anywhere in its chain).
pub fn is_closed(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| {
        cause.is::<OutputClosed>()
            || cause
                .downcast_ref::<io::Error>()
                .and_then(|e| e.get_ref())
                .is_some_and(|inner| inner.is::<OutputClosed>())
    })
}

/// Writes a line to standard error, like `eprintln!`, but drops it when standard error cannot
/// be written instead of panicking.
macro_rules! note {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), $($arg)*);
    }};
}
