//! Single documents, in the export shape: list, get (secrets masked), put (create or replace,
//! `{"secret": …}` accepted), delete (refused while others refer to it).

use cuttle_domain::Collection;
use cuttle_instance::documents::{self, Address, Incoming, WriteOptions, WriteReport};
use cuttle_instance::files::{self, Accept};
use serde_json::Value;
use zeroize::Zeroizing;

use crate::Session;
use crate::error::{Error, ErrorKind, Result};
use crate::request::{DocList, DocPut, DocumentAddress};

/// The text `doc put` writes: one document, or an array of them; and where it came from, for
/// messages. The text may hold plaintext secrets (`{"secret": …}`): it is wiped when dropped.
pub struct DocumentInput {
    pub origin: String,
    pub text: Zeroizing<String>,
}

impl std::fmt::Debug for DocumentInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DocumentInput")
            .field("origin", &self.origin)
            .finish_non_exhaustive()
    }
}

impl DocumentInput {
    /// The most a document input may hold: what one file of an export may.
    pub const LIMIT: u64 = cuttle_engine::reader::MAX_FILE;

    /// Reads a file (or a pipe a person named), bounded by [`Self::LIMIT`].
    pub fn file(path: &std::path::Path) -> Result<Self> {
        let text = files::read_text(path, "document file", Self::LIMIT, Accept::FileOrPipe)?;
        Ok(DocumentInput {
            origin: path.display().to_string(),
            text,
        })
    }

    /// Reads a stream (standard input), bounded by [`Self::LIMIT`].
    pub fn stream(reader: impl std::io::Read, origin: &str) -> Result<Self> {
        let text = files::read_text_from(reader, origin, "document input", Self::LIMIT)?;
        Ok(DocumentInput {
            origin: origin.to_owned(),
            text,
        })
    }

    /// One document, or each of an array of documents.
    fn split(&self, collection: Collection) -> Result<Vec<Incoming>> {
        let value = cuttle_domain::json::parse(&self.text).map_err(|e| {
            Error::new(
                ErrorKind::Invalid,
                format!("{} is not valid JSON: {e}", self.origin),
            )
        })?;
        Ok(match value {
            Value::Array(items) => items
                .into_iter()
                .enumerate()
                .map(|(i, item)| Incoming {
                    collection,
                    origin: format!("{}[{i}]", self.origin),
                    json: item.to_string(),
                })
                .collect(),
            single => vec![Incoming {
                collection,
                origin: self.origin.clone(),
                json: single.to_string(),
            }],
        })
    }
}

fn address(request: &DocumentAddress) -> Address<'_> {
    Address {
        collection: request.collection,
        project: request.project.as_deref(),
        key: request.key.as_deref(),
    }
}

impl Session {
    /// The natural keys of a collection's documents (within a project, for a project-owned
    /// collection), in byte order.
    pub fn list_documents(&mut self, request: &DocList) -> Result<Vec<String>> {
        self.serves(&request.instance)?;
        let mut read = self.instance.store().read()?;
        Ok(documents::list(
            &mut *read,
            request.collection,
            request.project.as_deref(),
        )?)
    }

    /// One document in the export shape, sensitive values masked.
    pub fn get_document(&mut self, request: &DocumentAddress) -> Result<Value> {
        self.serves(&request.instance)?;
        let mut read = self.instance.store().read()?;
        let doc = documents::find(&mut *read, &address(request))?;
        Ok(documents::show(&mut *read, &doc)?)
    }

    /// Creates or replaces the documents of `input`, in one transaction, through the validated
    /// write path.
    pub fn put_documents(
        &mut self,
        request: &DocPut,
        input: &DocumentInput,
    ) -> Result<WriteReport> {
        self.serves(&request.instance)?;
        let docs = input.split(request.collection)?;
        let (store, sealer) = self.instance.parts();
        let mut txn = store.write()?;
        let report = documents::write_documents(
            &mut *txn,
            sealer,
            docs.as_slice(),
            WriteOptions::default(),
            &mut |_| {},
        )?;
        txn.commit()?;
        Ok(report)
    }

    /// Deletes a document (a project with everything it owns); refused while others refer to
    /// it. Gives how many documents went.
    pub fn delete_document(&mut self, request: &DocumentAddress) -> Result<u64> {
        self.serves(&request.instance)?;
        let mut txn = self.instance.store().write()?;
        let deleted = documents::delete(&mut *txn, &address(request))?;
        txn.commit()?;
        Ok(deleted)
    }
}
