//! A spool: an append-only store of byte strings in an anonymous temporary file, so that what a
//! long piece of work reads or makes does not have to be held in memory. The import keeps the
//! documents it reads there (see `import::spool`); an export into an archive, the files it writes
//! until it writes them out in the archive's order.
//!
//! The file is made in `TMPDIR`, readable by its owner only, and removed from its directory as
//! soon as it is made, so nothing is left behind when the process is killed. What is appended is
//! the export shape (sensitive values encrypted), never plaintext.

use std::fs::File;
use std::io::{self, Write};
use std::os::unix::fs::FileExt;

use crate::archive::Stored;

/// Appends are gathered into writes of about this size.
const BUFFER: usize = 1 << 20;

/// Where a byte string stands in the spool. Twelve bytes, aligned to four: an import keeps two
/// for each of the hundreds of thousands of documents it reads ([`Spool::push_bytes`] refuses a
/// string of 4 GiB or more, far beyond any document).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(C, packed(4))]
pub struct Span {
    offset: u64,
    len: u32,
}

impl Span {
    /// Its length in bytes.
    pub fn len(&self) -> usize {
        self.len as usize
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    fn offset(&self) -> u64 {
        self.offset
    }
}

/// An append-only store of byte strings in an anonymous temporary file.
pub struct Spool {
    file: File,
    /// Bytes in the file.
    flushed: u64,
    /// Bytes appended after `flushed`, not yet written.
    buffer: Vec<u8>,
}

impl std::fmt::Debug for Spool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Spool")
            .field("bytes", &(self.flushed + self.buffer.len() as u64))
            .finish_non_exhaustive()
    }
}

impl Spool {
    /// A new, empty spool in the temporary directory.
    pub fn new() -> io::Result<Spool> {
        // `tempfile::tempfile` makes the file with mode 0600 and unlinks it at once.
        Ok(Spool {
            file: tempfile::tempfile()?,
            flushed: 0,
            buffer: Vec::with_capacity(BUFFER),
        })
    }

    /// Appends a text.
    pub fn push(&mut self, text: &str) -> io::Result<Span> {
        self.push_bytes(text.as_bytes())
    }

    /// Appends bytes.
    pub fn push_bytes(&mut self, bytes: &[u8]) -> io::Result<Span> {
        let len = u32::try_from(bytes.len()).map_err(|_| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                "a string of 4 GiB or more cannot be spooled",
            )
        })?;
        let span = Span {
            offset: self.flushed + self.buffer.len() as u64,
            len,
        };
        if bytes.len() >= BUFFER {
            // A large string goes to the file as it is: the buffer stays its usual size.
            self.flush()?;
            (&self.file).write_all(bytes)?;
            self.flushed += bytes.len() as u64;
        } else {
            self.buffer.extend_from_slice(bytes);
            if self.buffer.len() >= BUFFER {
                self.flush()?;
            }
        }
        Ok(span)
    }

    fn flush(&mut self) -> io::Result<()> {
        (&self.file).write_all(&self.buffer)?;
        self.flushed += self.buffer.len() as u64;
        self.buffer.clear();
        Ok(())
    }

    /// A reader of everything appended so far, which other threads may use while this spool
    /// goes on being appended to (what is appended later it does not read).
    pub fn reader(&mut self) -> io::Result<SpoolReader> {
        self.flush()?;
        Ok(SpoolReader {
            file: self.file.try_clone()?,
            len: self.flushed,
        })
    }

    /// A text, as it was appended.
    pub fn read(&self, span: Span) -> io::Result<String> {
        text(self.read_bytes(span)?)
    }

    /// Bytes, as they were appended.
    pub fn read_bytes(&self, span: Span) -> io::Result<Vec<u8>> {
        // Bytes are flushed whole with the buffer they were appended to: they are either in the
        // file or in the buffer.
        let mut bytes = vec![0; span.len()];
        if span.offset() >= self.flushed {
            let start = (span.offset() - self.flushed) as usize;
            bytes.copy_from_slice(&self.buffer[start..start + span.len()]);
        } else {
            self.file.read_exact_at(&mut bytes, span.offset())?;
        }
        Ok(bytes)
    }
}

/// Reads what a [`Spool`] held when the reader was made ([`Spool::reader`]), on any thread.
pub struct SpoolReader {
    file: File,
    len: u64,
}

impl SpoolReader {
    /// Where bytes appended before the reader was made stand in the spool's file; an error for
    /// a span appended after.
    pub(crate) fn stored(&self, span: Span) -> io::Result<Stored<'_>> {
        self.check(span)?;
        Ok(Stored {
            file: &self.file,
            offset: span.offset(),
            len: span.len.into(),
        })
    }

    fn check(&self, span: Span) -> io::Result<()> {
        if span.offset() + u64::from(span.len) > self.len {
            return Err(io::Error::other(
                "the text was appended after this spool reader was made",
            ));
        }
        Ok(())
    }

    /// A text appended before the reader was made; an error for a span appended after.
    pub fn read(&self, span: Span) -> io::Result<String> {
        self.check(span)?;
        let mut bytes = vec![0; span.len()];
        self.file.read_exact_at(&mut bytes, span.offset())?;
        text(bytes)
    }
}

/// Bytes read back that were appended as a text.
fn text(bytes: Vec<u8>) -> io::Result<String> {
    String::from_utf8(bytes)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "the spool is damaged"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_span_takes_twelve_bytes() {
        assert_eq!(std::mem::size_of::<Span>(), 12);
        assert_eq!(std::mem::align_of::<Span>(), 4);
    }

    #[test]
    fn what_is_pushed_reads_back_wherever_it_stands() {
        let mut spool = Spool::new().unwrap();
        let mut texts: Vec<String> = (0..3000)
            .map(|i| format!("{{\"n\":{i},\"pad\":\"{}\"}}", "é".repeat(i % 700)))
            .collect();
        // A string larger than the buffer, between small ones.
        texts.insert(1500, "x".repeat(3 * BUFFER));
        let spans: Vec<Span> = texts.iter().map(|t| spool.push(t).unwrap()).collect();
        assert!(
            spool.buffer.capacity() < 2 * BUFFER,
            "the buffer kept its size"
        );
        assert!(spool.flushed > 0, "some of it went to the file");
        assert!(!spool.buffer.is_empty(), "some of it is still buffered");
        for (text, span) in texts.iter().zip(&spans) {
            assert_eq!(&spool.read(*span).unwrap(), text);
        }
        let empty = spool.push("").unwrap();
        assert_eq!(spool.read(empty).unwrap(), "");

        // A reader reads, on other threads, what was appended before it was made, whatever
        // is appended since.
        let reader = spool.reader().unwrap();
        let later = spool.push("after the reader").unwrap();
        std::thread::scope(|scope| {
            scope.spawn(|| {
                for (text, span) in texts.iter().zip(&spans) {
                    assert_eq!(&reader.read(*span).unwrap(), text);
                }
                assert!(reader.read(later).is_err(), "appended after the reader");
            });
        });
        assert_eq!(spool.read(later).unwrap(), "after the reader");
    }
}
