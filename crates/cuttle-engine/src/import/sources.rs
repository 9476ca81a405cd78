//! The import's first stages: every source opened (its password checked before anything else is
//! read), read, brought to the running format version, and combined into one set of documents,
//! later sources replacing earlier ones (SPEC 6.1).

use cuttle_instance::error::{Hint, Message};
use std::collections::{BTreeMap, HashSet};
use std::hash::BuildHasher;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use cuttle_crypto::export::ExportKey;
use cuttle_domain::{Collection, names};
use cuttle_instance::codec;
use cuttle_instance::hashed::HashedIndex;
use serde::Deserialize;
use serde_json::Value;

use super::spool::{Spool, Spooled};
use super::upgrade;
use super::{Conflict, ImportError};
use crate::Cancel;
use crate::archive::{Archive, Limits};
use crate::format::{self, Manifest};
use crate::reader::{self, Tree};

/// One export to import, as the user named it.
#[derive(Clone, Debug)]
pub enum ExportSource {
    /// An export directory.
    Directory(PathBuf),
    /// An export as one archive (plain or gzip tar), read in place.
    Archive(PathBuf),
    /// An archive already read through (an upload, checked and indexed as it arrived): it is
    /// not read again.
    Indexed(PathBuf, Arc<Archive>),
}

impl ExportSource {
    pub fn path(&self) -> &Path {
        match self {
            ExportSource::Directory(path)
            | ExportSource::Archive(path)
            | ExportSource::Indexed(path, _) => path,
        }
    }

    /// What messages and the plan call it: its path.
    pub fn label(&self) -> String {
        self.path().display().to_string()
    }
}

/// A source, opened: its manifest read and version-checked, its key derived and verified.
pub(super) struct Opened {
    pub label: String,
    pub source: ExportSource,
    /// What it is read from; `None` once an archive's documents are read ([`Opened::release`]).
    tree: Option<Arc<dyn Tree + Send>>,
    pub manifest: Manifest,
    pub key: ExportKey,
}

impl Opened {
    /// What it is read from, until released.
    pub fn tree(&self) -> &dyn Tree {
        self.tree
            .as_deref()
            .expect("a source is read before it is released")
    }

    /// Drops an archive's index once its documents are read (in the spool): about 100 bytes a
    /// file, which the rest of the import does not need.
    pub fn release(&mut self) {
        if let ExportSource::Archive(_) = self.source {
            self.tree = None;
        }
    }

    /// What it is read from, an archive released reopened (for the line and column of a
    /// problem, after the import failed).
    pub fn reopened(&self) -> Option<Arc<dyn Tree + Send>> {
        match (&self.tree, &self.source) {
            (Some(tree), _) => Some(tree.clone()),
            (None, ExportSource::Archive(path)) => {
                Archive::open(path, &Limits::default(), &Cancel::default())
                    .ok()
                    .map(|archive| Arc::new(archive) as Arc<dyn Tree + Send>)
            }
            (None, _) => None,
        }
    }
}

/// Only the version, read before the rest of a manifest, so that a manifest from a newer Cuttle
/// is refused for its version and not for a field this one does not know.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct VersionOnly {
    format_version: u32,
}

/// Opens every source (an archive is read through and checked): versions first, then the
/// password against each manifest's key check, so that a wrong password or a refused version is
/// reported before any document is read.
pub(super) fn open_exports(
    sources: &[ExportSource],
    password: &[u8],
    ignore_version_check: bool,
    cancel: &Cancel,
    warnings: &mut Vec<Message>,
) -> Result<Vec<Opened>, ImportError> {
    let mut manifests = Vec::with_capacity(sources.len());
    let mut seen = HashSet::new();
    for source in sources {
        let label = source.label();
        let canonical = std::fs::canonicalize(source.path()).map_err(|e| {
            ImportError::Source(format!(
                "{}: cannot open the export {}: {e}",
                names::visible(&label),
                match source {
                    ExportSource::Directory(_) => "directory",
                    ExportSource::Archive(_) | ExportSource::Indexed(..) => "archive",
                }
            ))
        })?;
        if !seen.insert(canonical) {
            return Err(ImportError::Source(format!(
                "{} is given twice as a source",
                names::visible(&label)
            )));
        }
        let tree: Arc<dyn Tree + Send> = match source {
            ExportSource::Directory(path) => Arc::new(reader::Directory::new(path)),
            ExportSource::Archive(path) => {
                Arc::new(Archive::open(path, &Limits::default(), cancel)?)
            }
            ExportSource::Indexed(_, archive) => archive.clone(),
        };
        let manifest = open_manifest(tree.as_ref(), &label, ignore_version_check, warnings)?;
        manifests.push((label, source.clone(), tree, manifest));
    }
    manifests
        .into_iter()
        .map(|(label, source, tree, manifest)| {
            let key = reader::export_key(&manifest, password).map_err(|e| match e {
                reader::ReadError::Password(message) => {
                    ImportError::Password(format!("{}: {message}", names::visible(&label)))
                }
                other => ImportError::Source(format!("{}/{other}", names::visible(&label))),
            })?;
            Ok(Opened {
                label,
                source,
                tree: Some(tree),
                manifest,
                key,
            })
        })
        .collect()
}

fn open_manifest(
    tree: &dyn Tree,
    label: &str,
    ignore_version_check: bool,
    warnings: &mut Vec<Message>,
) -> Result<Manifest, ImportError> {
    let text = match tree.exists(Path::new(format::MANIFEST)) {
        false => {
            return Err(ImportError::Source(format!(
                "{}: there is no {} here; give the directory or archive that `cuttle export` wrote",
                names::visible(label),
                format::MANIFEST
            )));
        }
        true => reader::read_manifest_text(tree).map_err(|e| {
            ImportError::Source(format!(
                "{}/{}",
                names::visible(label),
                e.to_string().trim_start_matches('/')
            ))
        })?,
    };
    let version: VersionOnly = serde_json::from_str(&text).map_err(|e| {
        ImportError::Source(format!(
            "{}/{}: not a Cuttle export manifest: {e}",
            names::visible(label),
            format::MANIFEST
        ))
    })?;
    upgrade::check_version(
        version.format_version,
        ignore_version_check,
        label,
        warnings,
    )?;
    serde_json::from_str(&text).map_err(|e| {
        ImportError::Source(format!(
            "{}/{}: not a Cuttle export manifest of format version {}: {e}",
            names::visible(label),
            format::MANIFEST,
            version.format_version
        ))
    })
}

/// A document of the combined sources (its text in the spool).
pub(super) struct SourceDoc {
    pub doc: Spooled,
    /// The index of the source it came from.
    pub source: u32,
    /// The project it belongs to or is (its name as given, NFC), if any: one copy of each name.
    pub project: Option<Arc<str>>,
}

/// The identity of a document in the export shape: its collection, its project and its key
/// fields' values (as canonical JSON text).
pub(super) type Identity = (Collection, String, String);

pub(super) fn identity(collection: Collection, value: &Value) -> Identity {
    let decl = collection.decl();
    let project = if decl.is_project_owned() {
        crate::import::text_of(value.get("project"))
    } else {
        String::new()
    };
    let key: Vec<&Value> = decl
        .key
        .iter()
        .map(|field| value.get(*field).unwrap_or(&Value::Null))
        .collect();
    (
        collection,
        project,
        serde_json::to_string(&key).expect("JSON serializes"),
    )
}

/// Reads the opened sources and combines them: where several define the same document, the
/// later wins whole, and each such document is reported. A project's own parts (its process,
/// channels, variables and triggers) come as one unit: a later source that defines a project
/// replaces every part the earlier ones gave it. History is combined document by document.
///
/// Each document is read once, streaming, and its text goes to `spool`. What is held in memory
/// for each is where its text stands, its project (one shared copy of each name), and a hash of
/// its identity, keyed for this run (so an export cannot choose collisions): two documents are
/// taken for one only when their identities, read back from the spool, are equal.
pub(super) fn read_and_combine(
    opened: &[Opened],
    task_logs: bool,
    warnings: &mut Vec<Message>,
    spool: &mut Spool,
    cancel: &Cancel,
) -> Result<(Vec<SourceDoc>, Vec<Conflict>), ImportError> {
    let mut combined: Combined = Combined::default();
    let mut conflicts: BTreeMap<Identity, Conflict> = BTreeMap::new();
    let mut project_names = ProjectNames::default();
    for (index, source) in opened.iter().enumerate() {
        let this = u32::try_from(index).expect("fewer than 2^32 sources");
        let read_error = |e: reader::ReadError| {
            ImportError::Source(format!("{}/{e}", names::visible(&source.label)))
        };
        // Which projects this source defines (by any document they own, or their own).
        let mut projects: HashSet<Arc<str>> = HashSet::new();
        let mut left_out = 0;
        let read_warnings = reader::documents(source.tree(), |read| {
            combined.slots.reserve(read.files());
            let documents = upgrade::upgrade_read(
                source.manifest.format_version,
                read.by_ref().map(move |r| r.map_err(read_error)),
            );
            for read in documents {
                // A cancel is heard while the sources are read too, not only once planning starts.
                if cancel.is_cancelled() {
                    return Err(ImportError::Cancelled);
                }
                let (incoming, identified) = read?;
                if incoming.collection == Collection::TaskLogs && !task_logs {
                    left_out += 1;
                    continue;
                }
                let decl = incoming.collection.decl();
                let mut value = match identified {
                    Some(identity) => identity,
                    None => {
                        codec::parse(decl, &incoming.json, codec::Part::Identity).map_err(|e| {
                            ImportError::Source(format!(
                                "{}: {e}",
                                names::visible(&format!("{}/{}", source.label, incoming.origin))
                            ))
                        })?
                    }
                };
                codec::normalize_key_fields(decl, &mut value);
                let hash = combined.hash(&identity(incoming.collection, &value));
                let project =
                    project_of(incoming.collection, &value).map(|name| project_names.share(name));
                let unit_part = is_unit_part(incoming.collection);
                if let Some(project) = &project
                    && (incoming.collection == Collection::Projects || unit_part)
                {
                    projects.insert(project.clone());
                }
                let doc = SourceDoc {
                    doc: Spooled::push(
                        spool,
                        incoming.collection,
                        &incoming.json,
                        &value,
                        &format!("{}/{}", source.label, incoming.origin),
                    )
                    .map_err(spool_error)?,
                    source: this,
                    project,
                };
                let Some((slot, id)) = combined.find(spool, hash, &doc.doc)? else {
                    combined.insert(spool, hash, doc)?;
                    continue;
                };
                let earlier = &combined.slots[slot];
                let live = combined.is_live(slot);
                if live && earlier.source == this {
                    return Err(ImportError::Source(format!(
                        "{} and {} define the same document ({} {}); one export holds each \
                     document once",
                        names::visible(&earlier.doc.origin(spool)),
                        names::visible(&doc.doc.origin(spool)),
                        id.0.name(),
                        describe_identity(&id)
                    )));
                }
                if live {
                    // A project's part replaces the earlier one with its project: this source
                    // defines the project, by this very part.
                    let first = &opened[earlier.source as usize].label;
                    conflicts
                        .entry(id)
                        .or_insert_with_key(|id| Conflict::new(id, first))
                        .replaced_by(&source.label, unit_part);
                }
                combined.put(slot, doc);
            }
            Ok(read.warnings())
        })
        .map_err(read_error)??;
        let shown = names::visible(&source.label);
        for warning in read_warnings {
            warnings.push(Message {
                text: format!("{shown}: {}", warning.text),
                ..warning
            });
        }
        if left_out > 0 {
            warnings.push(Message::hinted(
                format!("{shown}: its {left_out} task log(s) are left out"),
                Hint::IncludeTaskLogs,
            ));
        }
        // A project this source defines replaces the parts earlier sources gave it.
        if index > 0 && !projects.is_empty() {
            for (slot, doc) in combined.slots.iter().enumerate() {
                if combined.is_live(slot)
                    && doc.source < this
                    && is_unit_part(doc.doc.collection)
                    && doc.project.as_ref().is_some_and(|p| projects.contains(p))
                {
                    combined.gone.insert(slot);
                    let id = identity_in(spool, &doc.doc)?;
                    conflicts
                        .entry(id)
                        .or_insert_with_key(|id| {
                            Conflict::new(id, &opened[doc.source as usize].label)
                        })
                        .replaced_by(&source.label, true);
                }
            }
        }
    }
    let mut docs = combined.into_live();
    // Declaration order, then the order the sources gave.
    docs.sort_by_key(|d| d.doc.collection.rank());
    Ok((docs, conflicts.into_values().collect()))
}

/// The documents combined so far, found by their identities' hashes (keyed for this run by the
/// default `S`); two documents are one only when their identities, read back from the spool,
/// are equal.
#[derive(Default)]
struct Combined<S = std::hash::RandomState> {
    slots: Vec<SourceDoc>,
    /// The slots whose documents a later source's project replaced: few, if any, so a set
    /// beside the slots rather than a flag in each.
    gone: HashSet<usize>,
    index: HashedIndex<Identity, S>,
}

impl<S> Combined<S> {
    fn is_live(&self, slot: usize) -> bool {
        !self.gone.contains(&slot)
    }

    /// Puts `doc` in `slot`, in place of the document there.
    fn put(&mut self, slot: usize, doc: SourceDoc) {
        self.slots[slot] = doc;
        self.gone.remove(&slot);
    }

    /// The live documents, in their slots' order, where the slots were.
    fn into_live(self) -> Vec<SourceDoc> {
        let (mut slots, gone) = (self.slots, self.gone);
        if !gone.is_empty() {
            let mut slot = 0;
            slots.retain(|_| {
                slot += 1;
                !gone.contains(&(slot - 1))
            });
        }
        slots
    }
}

impl<S: BuildHasher> Combined<S> {
    fn hash(&self, id: &Identity) -> u64 {
        self.index.hash(id)
    }

    /// The slot of the document with the identity of `doc` (its hash `hash`), and that identity.
    fn find(
        &self,
        spool: &Spool,
        hash: u64,
        doc: &Spooled,
    ) -> Result<Option<(usize, Identity)>, ImportError> {
        if !self.index.may_hold(hash) {
            return Ok(None);
        }
        let id = identity_in(spool, doc)?;
        let found = self.index.find::<ImportError>(
            hash,
            |slot| Ok(identity_in(spool, &self.slots[slot as usize].doc)? == id),
            || Ok(id.clone()),
        )?;
        Ok(found.map(|slot| (slot as usize, id)))
    }

    fn insert(&mut self, spool: &Spool, hash: u64, doc: SourceDoc) -> Result<(), ImportError> {
        let slot = u32::try_from(self.slots.len()).expect("fewer than 2^32 documents");
        self.index
            .insert(hash, slot, || identity_in(spool, &doc.doc))?;
        self.slots.push(doc);
        Ok(())
    }
}

/// The identity of a spooled document, read back.
fn identity_in(spool: &Spool, doc: &Spooled) -> Result<Identity, ImportError> {
    let text = doc.identity(spool).map_err(spool_error)?;
    let decl = doc.collection.decl();
    let mut value = codec::parse(decl, &text, codec::Part::Identity)
        .map_err(|e| ImportError::Source(format!("{}: {e}", names::visible(&doc.origin(spool)))))?;
    codec::normalize_key_fields(decl, &mut value);
    Ok(identity(doc.collection, &value))
}

/// An error of the spool (a temporary file): out of space, most likely.
pub(super) fn spool_error(error: std::io::Error) -> ImportError {
    ImportError::Source(format!(
        "the import keeps the documents it reads in a temporary file (in {}), which failed: {error}; \
         set TMPDIR to a directory with room for about the size of the sources",
        std::env::temp_dir().display()
    ))
}

/// The project a document is or belongs to (its key fields already normalised).
pub(super) fn project_of(collection: Collection, value: &Value) -> Option<&str> {
    let field = match collection {
        Collection::Projects => "name",
        c if c.decl().is_project_owned() => "project",
        _ => return None,
    };
    value.get(field).and_then(Value::as_str)
}

/// One shared copy of each project name that the sources' documents give: most documents
/// belong to a project, and a copy for each would be much of what an import holds per document.
#[derive(Default)]
pub(super) struct ProjectNames(HashSet<Arc<str>>);

impl ProjectNames {
    /// The shared copy of `name`.
    pub(super) fn share(&mut self, name: &str) -> Arc<str> {
        match self.0.get(name) {
            Some(shared) => shared.clone(),
            None => {
                let shared: Arc<str> = Arc::from(name);
                self.0.insert(shared.clone());
                shared
            }
        }
    }
}

/// A project's own parts, which come wholesale with their project (history does not).
pub(super) fn is_unit_part(collection: Collection) -> bool {
    let decl = collection.decl();
    decl.is_project_owned() && !decl.history
}

/// A document's identity as people read it: the project, then the key's parts.
pub(super) fn describe_identity(id: &Identity) -> String {
    let key: Vec<Value> = serde_json::from_str(&id.2).unwrap_or_default();
    let mut parts: Vec<String> = Vec::new();
    if !id.1.is_empty() {
        parts.push(id.1.clone());
    }
    parts.extend(key.iter().map(cuttle_instance::codec::display));
    format!(
        "{:?}",
        parts.join(cuttle_instance::codec::DISPLAY_SEPARATOR)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use cuttle_instance::hashed::Colliding;

    /// An import holds one for each document it reads: hundreds of thousands.
    #[test]
    fn a_document_read_takes_48_bytes() {
        assert_eq!(std::mem::size_of::<Spooled>(), 28);
        assert_eq!(std::mem::size_of::<SourceDoc>(), 48);
    }

    #[test]
    fn documents_are_one_only_when_their_identities_are_equal_whatever_their_hashes() {
        let mut spool = Spool::new().unwrap();
        let mut combined = Combined::<Colliding>::default();
        let doc = |spool: &mut Spool, name: &str| {
            let value = serde_json::json!({ "name": name });
            SourceDoc {
                doc: Spooled::push(
                    spool,
                    Collection::Environments,
                    &value.to_string(),
                    &value,
                    &format!("environments/{name}.json"),
                )
                .unwrap(),
                source: 0,
                project: None,
            }
        };
        for name in ["Production", "Staging", "Test"] {
            let doc = doc(&mut spool, name);
            let hash = combined.hash(&identity_in(&spool, &doc.doc).unwrap());
            assert!(combined.find(&spool, hash, &doc.doc).unwrap().is_none());
            combined.insert(&spool, hash, doc).unwrap();
        }
        assert_eq!(combined.index.collided(), 2, "all three hash alike");
        for (name, slot) in [("Staging", 1), ("Production", 0), ("Test", 2)] {
            let again = doc(&mut spool, name);
            let (found, id) = combined.find(&spool, 7, &again.doc).unwrap().unwrap();
            assert_eq!(found, slot, "{name}");
            assert_eq!(id.2, format!("[{name:?}]"));
        }
        let other = doc(&mut spool, "Other");
        assert!(combined.find(&spool, 7, &other.doc).unwrap().is_none());

        // A slot replaced is left out, in place; one put again is live again.
        combined.gone.extend([0, 2]);
        assert!(!combined.is_live(0) && combined.is_live(1));
        let test = doc(&mut spool, "Test");
        combined.put(2, test);
        let live: Vec<String> = combined
            .into_live()
            .iter()
            .map(|d| d.doc.origin(&spool))
            .collect();
        assert_eq!(
            live,
            ["environments/Staging.json", "environments/Test.json"]
        );
    }
}
