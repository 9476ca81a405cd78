//! Single documents, in the export shape: list, get (secrets masked), put (create or replace,
//! `{"secret": …}` accepted), delete (refused while others refer to it).

use cuttle_domain::Collection;
use cuttle_instance::documents::{self, Address, Incoming, WriteOptions, WriteReport};
use cuttle_instance::files::{self, Accept};
use serde_json::Value;
use zeroize::Zeroizing;

use crate::Session;
use crate::access::Access;
use crate::audit::{Audit, Outcome};
use crate::error::{Error, ErrorKind, Result};
use crate::request::{DocList, DocPut, DocumentAddress};
use cuttle_domain::access::Operation;

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
            Value::Array(items) if items.is_empty() => {
                return Err(Error::usage(format!(
                    "{} is an empty list: there is no document to write",
                    self.origin
                )));
            }
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

/// The version of a document as the API shows it (its export shape, masked): an opaque,
/// strong entity tag, `"` and 32 hex digits and `"`.
pub fn etag(value: &Value) -> String {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(serde_json::to_vec(value).expect("JSON serializes"));
    let hex: String = digest[..16].iter().map(|b| format!("{b:02x}")).collect();
    format!("\"{hex}\"")
}

/// What a write requires of the document's current version (HTTP `If-Match`, `If-None-Match:
/// *`); refused with [`ErrorKind::PreconditionFailed`] otherwise.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Precondition {
    /// The current version has this entity tag (a list of them, or `*` for any).
    IfMatch(String),
    /// There is no current version (create only).
    IfNoneMatch,
}

impl Precondition {
    fn check(&self, current: Option<&Value>) -> Result<()> {
        let holds = match (self, current) {
            (Precondition::IfNoneMatch, current) => current.is_none(),
            (Precondition::IfMatch(_), None) => false,
            (Precondition::IfMatch(tags), Some(value)) => {
                let tag = etag(value);
                tags.split(',').map(str::trim).any(|t| t == "*" || t == tag)
            }
        };
        if holds {
            return Ok(());
        }
        Err(Error::new(
            ErrorKind::PreconditionFailed,
            match (self, current) {
                (Precondition::IfNoneMatch, _) => {
                    "the document exists, and the request asked to create it only".to_owned()
                }
                (_, None) => "the document does not exist (any more)".to_owned(),
                (_, Some(value)) => format!(
                    "the document changed since the version the request is based on (it is now {}): read it again",
                    etag(value)
                ),
            },
        ))
    }
}

/// A document, and its version.
#[derive(Clone, Debug, PartialEq)]
pub struct Fetched {
    pub value: Value,
    pub etag: String,
}

/// One document a put wrote.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Written {
    pub collection: Collection,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub project: Option<String>,
    pub key: String,
    /// Created (otherwise replaced).
    pub created: bool,
    /// Its version now.
    pub etag: String,
}

/// What a put did.
#[derive(Clone, Debug)]
pub struct PutReport {
    pub report: WriteReport,
    pub written: Vec<Written>,
}

impl Session {
    /// The natural keys of a collection's documents that `access` may see (within a project,
    /// for a project-owned collection), in byte order.
    pub fn list_documents(&mut self, request: &DocList, access: &Access) -> Result<Vec<String>> {
        self.serves(&request.instance)?;
        let decl = request.collection.decl();
        access.require(decl.needs.view, &format!("list {}", decl.name))?;
        let mut read = self.instance.store().read()?;
        if access.sees_everything() {
            return Ok(documents::list(
                &mut *read,
                request.collection,
                request.project.as_deref(),
            )?);
        }
        let mut keep = |txn: &mut dyn cuttle_store::ReadTxn, doc: &cuttle_store::StoredDoc| {
            let value = documents::show(txn, doc)?;
            let scope =
                crate::access::Scope::of(decl, &value, &mut |p| crate::access::group_of(txn, p))
                    .map_err(|e| cuttle_instance::Error::Damaged(e.to_string()))?;
            Ok(access.may(decl.needs.view, &scope))
        };
        Ok(documents::list_where(
            &mut *read,
            request.collection,
            request.project.as_deref(),
            Some(&mut keep),
        )?)
    }

    /// One document in the export shape, sensitive values masked, with its version.
    pub fn get_document(&mut self, request: &DocumentAddress, access: &Access) -> Result<Fetched> {
        self.serves(&request.instance)?;
        let decl = request.collection.decl();
        access.require(decl.needs.view, &format!("read {}", decl.name))?;
        let mut read = self.instance.store().read()?;
        let doc = documents::find(&mut *read, &address(request))?;
        let value = documents::show(&mut *read, &doc)?;
        Session::authorize(
            &mut *read,
            access,
            decl,
            Operation::View,
            &value,
            &format!("read this {}", decl.singular),
        )?;
        Ok(Fetched {
            etag: etag(&value),
            value,
        })
    }

    /// Creates or replaces the documents of `input`, in one transaction, through the validated
    /// write path; each allowed by `access` where it stands before and after, each meeting
    /// `precondition` (given only for one document), each recorded in the audit log.
    pub fn put_documents(
        &mut self,
        request: &DocPut,
        input: &DocumentInput,
        access: &Access,
        precondition: Option<&Precondition>,
    ) -> Result<PutReport> {
        self.serves(&request.instance)?;
        let decl = request.collection.decl();
        let docs = input.split(request.collection)?;
        if precondition.is_some() && docs.len() != 1 {
            return Err(Error::usage(
                "a precondition applies to one document at a time",
            ));
        }
        // What each write is about, for the audit log (`write` until it is known whether it
        // creates or replaces).
        let mut planned: Vec<(Option<String>, String, &'static str)> = docs
            .iter()
            .map(|doc| match cuttle_domain::json::parse(&doc.json) {
                Ok(value) => {
                    let (project, key) = documents::key_of(decl, &value);
                    (project, key, "write")
                }
                Err(_) => (None, String::new(), "write"),
            })
            .collect();
        let result = access
            .require(decl.needs.edit, &format!("write {}", decl.name))
            .and_then(|()| {
                self.put_in_transaction(decl, &docs, access, precondition, &mut planned)
            });
        if let Err(error) = &result {
            // Recorded apart: the write's own transaction was rolled back.
            let entries: Vec<Audit> = planned
                .iter()
                .map(|(project, key, action)| {
                    Audit::new(access.actor(), action, Outcome::Failed)
                        .about(decl.name, project.as_deref(), key)
                        .ended(error)
                })
                .collect();
            let _ = self.record(&entries);
        }
        result
    }

    fn put_in_transaction(
        &mut self,
        decl: &'static cuttle_domain::CollectionDecl,
        docs: &[Incoming],
        access: &Access,
        precondition: Option<&Precondition>,
        planned: &mut [(Option<String>, String, &'static str)],
    ) -> Result<PutReport> {
        let (store, sealer) = self.instance.parts();
        let mut txn = store.write()?;
        // Where each document stands now: what the access and the precondition are checked
        // against. A document whose address cannot be read is left to the write path's checks
        // (which refuse it); should they pass it, it is refused here after all.
        let mut addressed = Vec::with_capacity(docs.len());
        for (doc, plan) in docs.iter().zip(planned.iter_mut()) {
            let Ok(value) = cuttle_domain::json::parse(&doc.json) else {
                addressed.push(None);
                continue;
            };
            let (project, key) = documents::key_of(decl, &value);
            let current = documents::find(
                &mut *txn,
                &Address {
                    collection: decl.collection,
                    project: project.as_deref(),
                    key: Some(&key),
                },
            )
            .ok()
            .map(|stored| documents::show(&mut *txn, &stored))
            .transpose()?;
            plan.2 = if current.is_some() {
                "replace"
            } else {
                "create"
            };
            if let Some(precondition) = precondition {
                precondition.check(current.as_ref())?;
            }
            let what = format!("change this {}", decl.singular);
            match &current {
                Some(current) => {
                    Session::authorize(&mut *txn, access, decl, Operation::Edit, current, &what)?
                }
                None => Session::authorize(
                    &mut *txn,
                    access,
                    decl,
                    Operation::Create,
                    &value,
                    &format!("create this {}", decl.singular),
                )?,
            }
            addressed.push(Some((project, key, current.is_some())));
        }
        let report = documents::write_documents(
            &mut *txn,
            sealer,
            docs,
            WriteOptions::default(),
            &mut |_| {},
        )?;
        // Where each stands now: it must be allowed there too (moving a target into an
        // environment one does not manage is not).
        let mut written = Vec::with_capacity(docs.len());
        for entry in addressed {
            let Some((project, key, existed)) = entry else {
                return Err(Error::new(
                    ErrorKind::Invalid,
                    "a document could not be read",
                ));
            };
            let stored = documents::find(
                &mut *txn,
                &Address {
                    collection: decl.collection,
                    project: project.as_deref(),
                    key: Some(&key),
                },
            )?;
            let value = documents::show(&mut *txn, &stored)?;
            if existed {
                Session::authorize(
                    &mut *txn,
                    access,
                    decl,
                    Operation::Edit,
                    &value,
                    &format!("change this {} into this", decl.singular),
                )?;
            }
            Audit::new(
                access.actor(),
                if existed { "replace" } else { "create" },
                Outcome::Succeeded,
            )
            .about(decl.name, project.as_deref(), &key)
            .write(&mut *txn)?;
            written.push(Written {
                collection: decl.collection,
                project,
                key,
                created: !existed,
                etag: etag(&value),
            });
        }
        txn.commit()?;
        Ok(PutReport { report, written })
    }

    /// Deletes a document (a project with everything it owns); refused while others refer to
    /// it. Gives how many documents went.
    pub fn delete_document(
        &mut self,
        request: &DocumentAddress,
        access: &Access,
        precondition: Option<&Precondition>,
    ) -> Result<u64> {
        self.serves(&request.instance)?;
        let decl = request.collection.decl();
        let audit = Audit::new(access.actor(), "delete", Outcome::Succeeded).about(
            decl.name,
            request.project.as_deref(),
            request.key.as_deref().unwrap_or_default(),
        );
        let result = (|| {
            access.require(decl.needs.delete, &format!("delete {}", decl.name))?;
            let mut txn = self.instance.store().write()?;
            let doc = documents::find(&mut *txn, &address(request))?;
            let value = documents::show(&mut *txn, &doc)?;
            if let Some(precondition) = precondition {
                precondition.check(Some(&value))?;
            }
            Session::authorize(
                &mut *txn,
                access,
                decl,
                Operation::Delete,
                &value,
                &format!("delete this {}", decl.singular),
            )?;
            let deleted = documents::delete(&mut *txn, &address(request))?;
            audit.write(&mut *txn)?;
            txn.commit()?;
            Ok(deleted)
        })();
        if let Err(error) = &result {
            let _ = self.record(&[audit.clone().ended(error)]);
        }
        result
    }
}
