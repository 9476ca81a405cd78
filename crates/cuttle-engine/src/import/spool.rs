//! The spool: where an import keeps the text of the documents it has read, so that its memory
//! does not grow with the size of the import (SPEC 6.4, 8).
//!
//! Every document is read once from its source and appended to an anonymous temporary file (in
//! `TMPDIR`, removed from the directory as soon as it is made, so nothing is left behind when the
//! process is killed); the import holds only each document's [`Span`]. The plan and the write
//! path read a document back when they reach it, and a document the plan changes (a merge) is
//! appended as a new span.
//!
//! What the spool holds is the export shape: sensitive values are ciphertexts under a source's
//! key (or the stand-in of a value the destination keeps), never plaintext. The file is made
//! readable by its owner only.

use std::borrow::Cow;
use std::fs::File;
use std::io::{self, Write};
use std::os::unix::fs::FileExt;

use cuttle_domain::Collection;
use cuttle_instance::documents::DocumentSource;

/// Appends are gathered into writes of about this size.
const BUFFER: usize = 1 << 20;

/// Where a document's text stands in the spool.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Span {
    offset: u64,
    len: usize,
}

impl Span {
    /// The text's length in bytes.
    pub fn len(&self) -> usize {
        self.len
    }
}

/// An append-only store of document texts in an anonymous temporary file.
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

    /// Appends a document's text.
    pub fn push(&mut self, text: &str) -> io::Result<Span> {
        let span = Span {
            offset: self.flushed + self.buffer.len() as u64,
            len: text.len(),
        };
        self.buffer.extend_from_slice(text.as_bytes());
        if self.buffer.len() >= BUFFER {
            self.flush()?;
        }
        Ok(span)
    }

    fn flush(&mut self) -> io::Result<()> {
        (&self.file).write_all(&self.buffer)?;
        self.flushed += self.buffer.len() as u64;
        self.buffer.clear();
        Ok(())
    }

    /// A document's text, as it was appended.
    pub fn read(&self, span: Span) -> io::Result<String> {
        // A text is flushed whole with the buffer it was appended to: it is either in the file
        // or in the buffer.
        let mut bytes = vec![0; span.len];
        if span.offset >= self.flushed {
            let start = (span.offset - self.flushed) as usize;
            bytes.copy_from_slice(&self.buffer[start..start + span.len]);
        } else {
            self.file.read_exact_at(&mut bytes, span.offset)?;
        }
        String::from_utf8(bytes)
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "the spool is damaged"))
    }
}

/// A document in the spool: its collection, where it came from, and where its text stands.
#[derive(Clone, Debug)]
pub struct Spooled {
    pub collection: Collection,
    pub origin: String,
    pub span: Span,
}

/// Documents in a spool, as the write path reads them.
pub struct SpooledDocs<'a> {
    pub spool: &'a Spool,
    pub docs: &'a [Spooled],
}

impl DocumentSource for SpooledDocs<'_> {
    fn len(&self) -> usize {
        self.docs.len()
    }
    fn collection(&self, index: usize) -> Collection {
        self.docs[index].collection
    }
    fn origin(&self, index: usize) -> &str {
        &self.docs[index].origin
    }
    fn json(&self, index: usize) -> io::Result<Cow<'_, str>> {
        self.spool.read(self.docs[index].span).map(Cow::Owned)
    }
    fn size(&self, index: usize) -> usize {
        self.docs[index].span.len
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_is_pushed_reads_back_wherever_it_stands() {
        let mut spool = Spool::new().unwrap();
        let texts: Vec<String> = (0..3000)
            .map(|i| format!("{{\"n\":{i},\"pad\":\"{}\"}}", "é".repeat(i % 700)))
            .collect();
        let spans: Vec<Span> = texts.iter().map(|t| spool.push(t).unwrap()).collect();
        assert!(spool.flushed > 0, "some of it went to the file");
        assert!(!spool.buffer.is_empty(), "some of it is still buffered");
        for (text, span) in texts.iter().zip(&spans) {
            assert_eq!(&spool.read(*span).unwrap(), text);
        }
        let empty = spool.push("").unwrap();
        assert_eq!(spool.read(empty).unwrap(), "");
    }
}
