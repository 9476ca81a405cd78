//! The import's spool: where an import keeps the text of the documents it has read, so that its
//! memory does not grow with the size of the import (SPEC 6.4, 8).
//!
//! Every document is read once from its source and appended to the [`Spool`]; the import holds
//! only each document's [`Span`]. The plan and the write path read a document back when they
//! reach it, and a document the plan changes (a merge) is appended as a new span.
//!
//! What the spool holds is the export shape: sensitive values are ciphertexts under a source's
//! key (or the stand-in of a value the destination keeps), never plaintext.

use std::borrow::Cow;
use std::io;

use cuttle_domain::Collection;
use cuttle_instance::documents::DocumentSource;

pub use crate::spool::{Span, Spool};

/// A document in the spool: its collection, where it came from, and where its text stands.
#[derive(Clone, Copy, Debug)]
pub struct Spooled {
    pub collection: Collection,
    /// Where it came from (`<source>/<file>`), in the spool too: it is read back only for a
    /// message, and held in memory it would be most of what the import keeps per document.
    pub origin: Span,
    pub span: Span,
}

impl Spooled {
    /// Where it came from, read back from `spool` (for a message).
    pub fn origin(&self, spool: &Spool) -> String {
        origin(spool, self.origin)
    }
}

/// An origin kept in `spool` at `span`, read back (for a message).
pub fn origin(spool: &Spool, span: Span) -> String {
    spool
        .read(span)
        .unwrap_or_else(|e| format!("(a source file; the spool cannot be read back: {e})"))
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
    fn origin(&self, index: usize) -> Cow<'_, str> {
        Cow::Owned(self.docs[index].origin(self.spool))
    }
    fn json(&self, index: usize) -> io::Result<Cow<'_, str>> {
        self.spool.read(self.docs[index].span).map(Cow::Owned)
    }
    fn size(&self, index: usize) -> usize {
        self.docs[index].span.len()
    }
}
