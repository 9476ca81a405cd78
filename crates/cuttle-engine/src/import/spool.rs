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
use cuttle_instance::codec;
use cuttle_instance::documents::DocumentSource;
use serde_json::Value;

pub use crate::spool::{Span, Spool, SpoolReader};

/// A document in the spool: its collection, where its text stands, and where its identifying
/// fields and its origin stand.
#[derive(Clone, Copy, Debug)]
pub struct Spooled {
    pub collection: Collection,
    /// The document's identifying fields ([`codec::Part::Identity`], as JSON text), then a NUL,
    /// then where it came from (`<source>/<file>`). The plan and the write path match a
    /// document by the few bytes of its identity instead of reading it whole, and the origin is
    /// read back only for a message: held in memory, it would be most of what the import keeps
    /// per document.
    pub origin: Span,
    pub span: Span,
}

impl Spooled {
    /// Appends a document of `collection` to `spool`: its `text`, and its identifying fields
    /// (`identity`: [`codec::parse`] of the text's [`codec::Part::Identity`], key fields
    /// normalised) with where it came from.
    pub fn push(
        spool: &mut Spool,
        collection: Collection,
        text: &str,
        identity: &Value,
        origin: &str,
    ) -> io::Result<Spooled> {
        let span = spool.push(text)?;
        // JSON text holds no NUL byte: the first one ends the identity.
        let mut about = identity.to_string();
        about.push('\0');
        about.push_str(origin);
        Ok(Spooled {
            collection,
            origin: spool.push(&about)?,
            span,
        })
    }

    /// The same document with `text` (a merge of it) in place of its own; its identity as the
    /// new text has it.
    pub fn replaced(&self, spool: &mut Spool, text: &str) -> io::Result<Spooled> {
        let decl = self.collection.decl();
        let mut identity = codec::parse(decl, text, codec::Part::Identity)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e.to_string()))?;
        codec::normalize_key_fields(decl, &mut identity);
        Spooled::push(spool, self.collection, text, &identity, &self.origin(spool))
    }

    /// Where it came from, read back from `spool` (for a message).
    pub fn origin(&self, spool: &Spool) -> String {
        origin(spool, self.origin)
    }

    /// Its identifying fields, as JSON text ([`codec::Part::Identity`] of its text).
    pub fn identity(&self, spool: &Spool) -> io::Result<String> {
        spool.read(self.origin).map(identity_in)
    }

    /// [`Spooled::identity`], read by a [`SpoolReader`] (on another thread).
    pub fn identity_by(&self, reader: &SpoolReader) -> io::Result<String> {
        reader.read(self.origin).map(identity_in)
    }
}

/// The identity in what a document's [`Spooled::origin`] holds: what comes before the NUL.
fn identity_in(mut about: String) -> String {
    about.truncate(about.find('\0').unwrap_or(about.len()));
    about
}

/// The origin of a document whose [`Spooled::origin`] is `span`, read back (for a message).
pub fn origin(spool: &Spool, span: Span) -> String {
    match spool.read(span) {
        Ok(about) => match about.split_once('\0') {
            Some((_, origin)) => origin.to_owned(),
            None => about,
        },
        Err(e) => format!("(a source file; the spool cannot be read back: {e})"),
    }
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
    fn identity(&self, index: usize) -> io::Result<Cow<'_, str>> {
        self.docs[index].identity(self.spool).map(Cow::Owned)
    }
    fn size(&self, index: usize) -> usize {
        self.docs[index].span.len()
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn a_spooled_document_gives_back_its_text_its_identity_and_its_origin() {
        let mut spool = Spool::new().unwrap();
        let text = json!({"name": "Ops", "tags": [{"name": "A"}], "description": "d"}).to_string();
        let identity = json!({"name": "Ops", "tags": [{"name": "A"}]});
        // An origin may hold any character a file name holds.
        let origin = "source/tag-sets/ops\u{1b}[2J.json";
        let doc = Spooled::push(&mut spool, Collection::TagSets, &text, &identity, origin).unwrap();
        assert_eq!(spool.read(doc.span).unwrap(), text);
        assert_eq!(doc.identity(&spool).unwrap(), identity.to_string());
        assert_eq!(doc.origin(&spool), origin);

        // A merge of it (a tag the destination kept): the identity is the merge's.
        let merged = json!({"name": "Ops", "tags": [{"name": "A"}, {"name": "B"}]}).to_string();
        let replaced = doc.replaced(&mut spool, &merged).unwrap();
        assert_eq!(spool.read(replaced.span).unwrap(), merged);
        assert_eq!(replaced.identity(&spool).unwrap(), merged);
        assert_eq!(replaced.origin(&spool), origin);
        assert_eq!(doc.identity(&spool).unwrap(), identity.to_string());
    }
}
