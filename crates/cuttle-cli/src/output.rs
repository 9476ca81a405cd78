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

/// A writer for text meant for a terminal: what is written to it goes on with every character a
/// terminal must not be sent as it is escaped (see [`cuttle_domain::names::visible_lines`]).
/// Takes what `write!` gives it (whole `str` pieces); bytes that are not UTF-8 go on as they are.
pub struct Visible<W>(pub W);

impl<W: Write> Write for Visible<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match std::str::from_utf8(buf) {
            Ok(text) => self
                .0
                .write_all(cuttle_domain::names::visible_lines(text).as_bytes())
                .map(|()| buf.len()),
            Err(_) => self.0.write(buf),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        self.0.flush()
    }
}

/// JSON as a terminal may be sent it: the same data (a parser reads back exactly the value), with
/// every character that [`cuttle_domain::names::is_unseen`] written as a `\u` escape where
/// `serde_json` would leave it as it is (the C1 controls, the bidirectional controls, invisible
/// characters; it escapes the C0 controls itself).
pub fn json(value: &impl serde::Serialize, pretty: bool) -> String {
    let mut out = Vec::new();
    let result = if pretty {
        let mut ser = serde_json::Serializer::with_formatter(
            &mut out,
            Escaping(serde_json::ser::PrettyFormatter::new()),
        );
        value.serialize(&mut ser)
    } else {
        let mut ser = serde_json::Serializer::with_formatter(
            &mut out,
            Escaping(serde_json::ser::CompactFormatter),
        );
        value.serialize(&mut ser)
    };
    result.expect("a JSON value serializes");
    String::from_utf8(out).expect("JSON is UTF-8")
}

/// A formatter that escapes what [`json`] says, and is `F` otherwise.
struct Escaping<F>(F);

impl<F: serde_json::ser::Formatter> serde_json::ser::Formatter for Escaping<F> {
    fn write_string_fragment<W: ?Sized + Write>(
        &mut self,
        writer: &mut W,
        fragment: &str,
    ) -> io::Result<()> {
        let mut start = 0;
        for (at, c) in fragment.char_indices() {
            if cuttle_domain::names::is_unseen(c) {
                writer.write_all(&fragment.as_bytes()[start..at])?;
                let mut units = [0u16; 2];
                for unit in c.encode_utf16(&mut units) {
                    write!(writer, "\\u{unit:04x}")?;
                }
                start = at + c.len_utf8();
            }
        }
        writer.write_all(&fragment.as_bytes()[start..])
    }
    fn begin_array<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.0.begin_array(w)
    }
    fn end_array<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.0.end_array(w)
    }
    fn begin_array_value<W: ?Sized + Write>(&mut self, w: &mut W, first: bool) -> io::Result<()> {
        self.0.begin_array_value(w, first)
    }
    fn end_array_value<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.0.end_array_value(w)
    }
    fn begin_object<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.0.begin_object(w)
    }
    fn end_object<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.0.end_object(w)
    }
    fn begin_object_key<W: ?Sized + Write>(&mut self, w: &mut W, first: bool) -> io::Result<()> {
        self.0.begin_object_key(w, first)
    }
    fn begin_object_value<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.0.begin_object_value(w)
    }
    fn end_object_value<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.0.end_object_value(w)
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
/// be written instead of panicking; and escapes what a terminal must not be sent as it is
/// (escape sequences, bidirectional controls, invisible characters: a hostile export's file
/// names are in messages), keeping the message's own lines.
macro_rules! note {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let text = format!($($arg)*);
        let _ = writeln!(
            std::io::stderr(),
            "{}",
            cuttle_domain::names::visible_lines(&text)
        );
    }};
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_for_a_terminal_is_the_same_data() {
        let value = serde_json::json!({"name": "a\u{9b}2J\u{202e}b\u{1b}", "n": [1, "\u{e0041}"]});
        for pretty in [false, true] {
            let text = json(&value, pretty);
            assert!(text.is_ascii(), "{text}");
            assert!(
                text.contains(r"\u009b")
                    && text.contains(r"\u202e")
                    && text.contains(r"\udb40\udc41")
            );
            assert_eq!(
                serde_json::from_str::<serde_json::Value>(&text).unwrap(),
                value
            );
        }
        assert_eq!(json(&serde_json::json!({"a": "é"}), false), r#"{"a":"é"}"#);
    }
}
