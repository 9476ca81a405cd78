//! The one validated path by which documents are written (SPEC 2: every write, from the CLI, the
//! HTTP API or an import, goes through it), and the reads that show documents in the export
//! shape.
//!
//! A write takes a batch of documents in the export shape and works in two passes inside the
//! caller's write transaction:
//!
//! 1. **Keys**: every document's owner and natural key are found and given an id (its existing
//!    id when the key exists, a new one otherwise), so that documents of the batch may refer to
//!    each other in any order, cycles included.
//! 2. **Documents**: each document's shape is checked, every reference resolved (in the batch or
//!    in the database), every sensitive value sealed, and the rows written in bulk.
//!
//! Problems are collected with the document and the JSON path they concern; if there is any,
//! the caller's transaction must not be committed (the write functions here never commit).

use std::collections::{HashMap, HashSet};

use cuttle_crypto::Sealer;
use cuttle_domain::decl::{CollectionDecl, RefDecl, RefScope};
use cuttle_domain::path::{self, At, JsonPath};
use cuttle_domain::sensitive::Form;
use cuttle_domain::{COLLECTIONS, Collection, names};
use cuttle_store::{DocId, NO_OWNER, ReadTxn, StoreError, StoredDoc, WriteTxn};
use serde_json::Value;

use crate::codec::{self, Decrypt, Fail, Lookup, Names};
use crate::error::{Error, Hint, Message, Problem, Problems, Result};
use crate::hashed::HashedIndex;
use crate::large;

/// Whether writing or deleting documents of `collection` changes what a cache of access keeps:
/// the collection that grants access (teams), the one its members are (users: whether one is
/// active) and the one its role assignments name (user roles, whose permissions they grant).
/// Such a write changes the instance's [`cuttle_store::meta::ACCESS_GENERATION`], in the same
/// transaction, so that the cache (on any server of the instance) knows it is stale; so does
/// revoking an API key. Nothing else can change a grant: a write matches its document by name,
/// so it renames nothing, and a document a team names cannot be deleted; what else access
/// depends on (a project's group) is read afresh for each request.
pub fn affects_access(collection: Collection) -> bool {
    COLLECTIONS.iter().any(|d| {
        d.grants.is_some_and(|g| {
            let role = format!("{}[]/{}", g.role_assignments, g.role);
            let member = format!("{}[]", g.members);
            d.collection == collection
                || d.refs
                    .iter()
                    .any(|r| r.target == collection && (r.path == role || r.path == member))
        })
    })
}

/// Marks access as changed (see [`affects_access`]).
pub fn touch_access(txn: &mut dyn WriteTxn) -> Result<()> {
    let now = txn
        .meta(cuttle_store::meta::ACCESS_GENERATION)?
        .and_then(|g| g.parse::<u64>().ok())
        .unwrap_or(0);
    txn.set_meta(
        cuttle_store::meta::ACCESS_GENERATION,
        &(now + 1).to_string(),
    )?;
    Ok(())
}

/// At most this many problems are reported for one batch.
pub const MAX_PROBLEMS: usize = 100;
/// Rows are written to the database in chunks of this many, or fewer: as many as hold
/// [`INSERT_BYTES`] of stored bodies.
const INSERT_CHUNK: usize = 500;
const INSERT_BYTES: usize = 2 << 20;
/// Documents are read and shaped on every core this many at a time, or fewer: as many as hold
/// [`SHAPE_BYTES`] of text (a parsed document takes several times its text).
const SHAPE_CHUNK: usize = 1_024;
const SHAPE_BYTES: usize = 2 << 20;
/// Documents whose identifying fields (a few short values each) are read at a time.
const IDENTITY_CHUNK: usize = 2_048;

/// A document to write, in the export shape, as JSON text.
#[derive(Clone)]
pub struct Incoming {
    pub collection: Collection,
    /// Where the document came from (a file name, "standard input"), for error messages.
    pub origin: String,
    pub json: String,
}

impl std::fmt::Debug for Incoming {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The JSON may hold plaintext secrets.
        f.debug_struct("Incoming")
            .field("collection", &self.collection)
            .field("origin", &self.origin)
            .finish_non_exhaustive()
    }
}

/// What a write did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WriteReport {
    pub created: u64,
    pub replaced: u64,
    /// Documents written per collection, in declaration order.
    pub per_collection: Vec<(Collection, u64)>,
}

/// How sensitive values that arrive encrypted are opened (an import gives this).
#[derive(Clone, Copy, Default)]
pub struct WriteOptions<'a> {
    pub decrypt: Option<Decrypt<'a>>,
}

/// The batch's own documents, addressed by the first pass: references are resolved against
/// them before the store is asked. The second pass only reads it, on every core.
#[derive(Default)]
struct Batch {
    pending: Pending,
    /// A tag set's tags, by its id.
    tags: HashMap<DocId, HashSet<String>>,
}

impl Batch {
    /// The id of the batch's document at this address, once it has one (the first pass gives
    /// each collection's documents their ids, in declaration order).
    fn id_of(&self, collection: Collection, owner: DocId, key: &str) -> Option<DocId> {
        self.pending
            .find(collection, owner, key)
            .map(|slot| slot.id)
            .filter(|id| *id != NO_OWNER)
    }

    /// Whether the batch's tag set `set` has the tag `tag`; `None` when the batch has no such set.
    fn has_tag(&self, set: DocId, tag: &str) -> Option<bool> {
        self.tags.get(&set).map(|tags| tags.contains(tag))
    }
}

/// The write transaction, and what it answered for the batch, asked once each.
struct Stored<'t> {
    txn: &'t mut dyn WriteTxn,
    ids: HashMap<(Collection, DocId, String), Option<DocId>>,
    tags: HashMap<DocId, HashSet<String>>,
}

/// Resolves a reference in the batch, then in the store.
struct BatchLookup<'b, 't> {
    batch: &'b Batch,
    stored: &'b mut Stored<'t>,
}

impl Lookup for BatchLookup<'_, '_> {
    fn id_of(
        &mut self,
        collection: Collection,
        owner: DocId,
        key: &str,
    ) -> Result<Option<DocId>, StoreError> {
        if let Some(id) = self.batch.id_of(collection, owner, key) {
            return Ok(Some(id));
        }
        let address = (collection, owner, key.to_owned());
        if let Some(found) = self.stored.ids.get(&address) {
            return Ok(*found);
        }
        let found = self.stored.txn.find_id(collection, owner, key)?;
        self.stored.ids.insert(address, found);
        Ok(found)
    }

    fn has_tag(&mut self, set: DocId, tag: &str) -> Result<bool, StoreError> {
        if let Some(has) = self.batch.has_tag(set, tag) {
            return Ok(has);
        }
        if !self.stored.tags.contains_key(&set) {
            let tags = match self.stored.txn.get(set)? {
                Some(doc) => {
                    let body: Value = serde_json::from_str(&doc.body)
                        .map_err(|e| StoreError::Corrupt(e.to_string()))?;
                    codec::tag_names(&body).map(str::to_owned).collect()
                }
                None => HashSet::new(),
            };
            self.stored.tags.insert(set, tags);
        }
        Ok(self.stored.tags[&set].contains(tag))
    }
}

/// Resolves a reference in the batch only, off the transaction's thread; notes when the
/// answer would need the store, so that the document is left to the transaction's thread.
struct AheadLookup<'b> {
    batch: &'b Batch,
    unanswered: bool,
}

impl Lookup for AheadLookup<'_> {
    fn id_of(
        &mut self,
        collection: Collection,
        owner: DocId,
        key: &str,
    ) -> Result<Option<DocId>, StoreError> {
        let id = self.batch.id_of(collection, owner, key);
        self.unanswered |= id.is_none();
        Ok(id)
    }

    fn has_tag(&mut self, set: DocId, tag: &str) -> Result<bool, StoreError> {
        let has = self.batch.has_tag(set, tag);
        self.unanswered |= has.is_none();
        Ok(has.unwrap_or(false))
    }
}

/// Reads a read transaction's documents by natural key (for `doc get` and `doc delete`).
struct ReadLookup<'t>(&'t mut dyn ReadTxn);

impl Lookup for ReadLookup<'_> {
    fn id_of(
        &mut self,
        collection: Collection,
        owner: DocId,
        key: &str,
    ) -> Result<Option<DocId>, StoreError> {
        self.0.find_id(collection, owner, key)
    }
    fn has_tag(&mut self, _: DocId, _: &str) -> Result<bool, StoreError> {
        Ok(true)
    }
}

/// A document's natural key as `doc get` takes it and `doc list` prints it (parts joined by
/// ` / `), and its project, from its content in the export shape.
pub fn key_of(decl: &CollectionDecl, value: &Value) -> (Option<String>, String) {
    let project = decl
        .is_project_owned()
        .then(|| codec::display(value.get("project").unwrap_or(&Value::Null)));
    let key = decl
        .key
        .iter()
        .map(|f| codec::display(value.get(*f).unwrap_or(&Value::Null)))
        .collect::<Vec<_>>()
        .join(codec::DISPLAY_SEPARATOR);
    (project, key)
}

/// How a document is named in messages: its collection and its natural key.
pub fn describe(decl: &CollectionDecl, value: &Value) -> String {
    let mut parts = Vec::new();
    if decl.is_project_owned() {
        parts.push(codec::display(value.get("project").unwrap_or(&Value::Null)));
    }
    for field in decl.key {
        parts.push(codec::display(value.get(*field).unwrap_or(&Value::Null)));
    }
    format!("{} {:?}", decl.name, parts.join(codec::DISPLAY_SEPARATOR))
}

struct Collector {
    problems: Vec<Problem>,
}

impl Collector {
    fn add(&mut self, origin: &str, document: &str, path: JsonPath, message: String) {
        if self.problems.len() < MAX_PROBLEMS {
            self.problems.push(Problem {
                origin: (!origin.is_empty()).then(|| origin.to_owned()),
                line: None,
                column: None,
                document: document.to_owned(),
                path,
                message,
            });
        }
    }
    fn full(&self) -> bool {
        self.problems.len() >= MAX_PROBLEMS
    }
}

/// Documents to write, each read when the write path reaches it: an import keeps its documents
/// in a spool on disk, not in memory. Indexes run from 0 to `len() - 1`.
pub trait DocumentSource {
    fn len(&self) -> usize;
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    fn collection(&self, index: usize) -> Collection;
    /// Where it came from (a file name, "standard input"), for error messages: asked for only
    /// when there is something to report, so a source may keep it out of memory.
    fn origin(&self, index: usize) -> std::borrow::Cow<'_, str>;
    /// Its JSON text, in the export shape.
    fn json(&self, index: usize) -> std::io::Result<std::borrow::Cow<'_, str>>;
    /// JSON text that holds its identifying fields ([`codec::Part::Identity`]) as its text
    /// does: by default, its text. A source that keeps them apart gives them for less reading.
    fn identity(&self, index: usize) -> std::io::Result<std::borrow::Cow<'_, str>> {
        self.json(index)
    }
    /// The length of its JSON text, in bytes (what reading it will take).
    fn size(&self, index: usize) -> usize;
}

impl DocumentSource for [Incoming] {
    fn len(&self) -> usize {
        <[Incoming]>::len(self)
    }
    fn collection(&self, index: usize) -> Collection {
        self[index].collection
    }
    fn origin(&self, index: usize) -> std::borrow::Cow<'_, str> {
        std::borrow::Cow::Borrowed(&self[index].origin)
    }
    fn json(&self, index: usize) -> std::io::Result<std::borrow::Cow<'_, str>> {
        Ok(std::borrow::Cow::Borrowed(&self[index].json))
    }
    fn size(&self, index: usize) -> usize {
        self[index].json.len()
    }
}

/// The identifying fields of the document at `index` ([`codec::Part::Identity`]); a message
/// when they cannot be read or are not JSON.
fn identity(docs: &(impl DocumentSource + ?Sized), index: usize) -> Result<Value, String> {
    let text = docs
        .identity(index)
        .map_err(|e| format!("the document cannot be read back: {e}"))?;
    codec::parse(docs.collection(index).decl(), &text, codec::Part::Identity)
        .map_err(|e| format!("this is not valid JSON: {e}"))
}

/// A document read whole and brought to canonical form ([`codec::canonicalize`]); or what is
/// wrong with its shape, with its name for the messages.
type Shaped = std::result::Result<Value, (String, Vec<(JsonPath, String)>)>;

/// How the document at `index` is named in messages ([`describe`] of its identifying fields),
/// made when a message needs it: most documents never do.
fn name_of(docs: &(impl DocumentSource + ?Sized), index: usize) -> String {
    let decl = docs.collection(index).decl();
    identity(docs, index)
        .map(|mut value| {
            codec::normalize_key_fields(decl, &mut value);
            describe(decl, &value)
        })
        .unwrap_or_default()
}

/// A document of the batch that cannot be read back (from the spool it was kept in).
fn unreadable(docs: &(impl DocumentSource + ?Sized), index: usize, error: std::io::Error) -> Error {
    invalid(
        docs,
        index,
        format!("the document cannot be read back: {error}"),
    )
}

/// A problem with the document at `index` as a whole.
fn invalid(docs: &(impl DocumentSource + ?Sized), index: usize, message: String) -> Error {
    Error::Invalid(Problems(vec![Problem {
        origin: Some(docs.origin(index).into_owned()),
        line: None,
        column: None,
        document: String::new(),
        path: JsonPath::root(),
        message,
    }]))
}

fn shape(docs: &(impl DocumentSource + Sync + ?Sized), index: usize) -> Result<Shaped> {
    let decl = docs.collection(index).decl();
    let text = docs.json(index).map_err(|e| unreadable(docs, index, e))?;
    match codec::canonicalize(decl, &text) {
        Ok(value) => Ok(Ok(value)),
        Err(codec::Refused::Json(e)) => {
            Err(invalid(docs, index, format!("this is not valid JSON: {e}")))
        }
        Err(codec::Refused::Shape(problems)) => Ok(Err((name_of(docs, index), problems))),
    }
}

/// A document of the batch, addressed: where it stands in the batch, its id, its owner and its
/// stored key, and whether it replaces a stored document.
struct Slot {
    index: u32,
    collection: Collection,
    exists: bool,
    id: DocId,
    owner: DocId,
    key: Box<str>,
}

/// The batch's documents, addressed, and found by their address (see [`HashedIndex`]: what it
/// holds for each is a hash and its slot, not a second copy of its key).
#[derive(Default)]
struct Pending<S = std::hash::RandomState> {
    slots: Vec<Slot>,
    index: HashedIndex<(Collection, DocId, Box<str>), S>,
}

impl<S: std::hash::BuildHasher> Pending<S> {
    /// The slot of the document at this address, if the batch has it.
    fn find(&self, collection: Collection, owner: DocId, key: &str) -> Option<&Slot> {
        let hash = self.index.hash(&(collection, owner, key));
        let Ok(found) = self.index.find::<std::convert::Infallible>(
            hash,
            |at| {
                let slot = &self.slots[at as usize];
                Ok((slot.collection, slot.owner, &*slot.key) == (collection, owner, key))
            },
            || Ok((collection, owner, Box::from(key))),
        );
        found.map(|at| &self.slots[at as usize])
    }

    /// Adds a slot, whose address the batch does not have yet.
    fn push(&mut self, slot: Slot) {
        let at = u32::try_from(self.slots.len()).expect("fewer than 2^32 documents in a batch");
        let hash = self.index.hash(&(slot.collection, slot.owner, &*slot.key));
        let Ok(()) = self.index.insert::<std::convert::Infallible>(hash, at, || {
            Ok((slot.collection, slot.owner, slot.key.clone()))
        });
        self.slots.push(slot);
    }
}

/// Validates and writes `docs` (create or replace, matched by natural key) inside `txn`. On
/// problems, returns [`Error::Invalid`]: the caller must then drop the transaction.
pub fn write_documents(
    txn: &mut dyn WriteTxn,
    sealer: &Sealer,
    docs: &(impl DocumentSource + Sync + ?Sized),
    options: WriteOptions<'_>,
    progress: &mut dyn FnMut(u64),
) -> Result<WriteReport> {
    let mut collector = Collector {
        problems: Vec::new(),
    };
    let mut batch = Batch::default();
    let mut stored = Stored {
        txn,
        ids: HashMap::new(),
        tags: HashMap::new(),
    };

    // Pass 1: owners, keys and ids, a collection at a time in declaration order (owners and key
    // references first), with one existence lookup per collection.
    // Ids for the new documents, allocated when the first one is met (a replacement needs none).
    let mut ids: Option<std::ops::Range<DocId>> = None;
    batch.pending.slots.reserve_exact(docs.len());
    for decl in COLLECTIONS {
        // This collection's slots start here; each gets its id once the collection is addressed.
        let first = batch.pending.slots.len();
        // A tag set's tags, by its slot, until it has its id.
        let mut tags_of: Vec<(usize, HashSet<String>)> = Vec::new();
        let indices: Vec<usize> = (0..docs.len())
            .filter(|i| docs.collection(*i) == decl.collection)
            .collect();
        // Shapes are checked in pass 2; here only owners and keys matter. The identifying
        // fields are read and parsed on the other cores, a chunk ahead.
        let read_identity = |index: &usize| {
            identity(docs, *index).map(|mut value| {
                codec::normalize_key_fields(decl, &mut value);
                value
            })
        };
        let chunk = |rest: &[usize]| rest.len().min(IDENTITY_CHUNK);
        crate::parallel::map_ahead(&indices, chunk, read_identity, |identities| -> Result<()> {
            for (&index, value) in indices.iter().zip(identities) {
                let origin = || docs.origin(index);
                let value = match value {
                    Ok(value) => value,
                    Err(message) => {
                        collector.add(&origin(), "", JsonPath::root(), message);
                        continue;
                    }
                };
                let named = |value: &Value| describe(decl, value);
                let mut lookup = BatchLookup {
                    batch: &batch,
                    stored: &mut stored,
                };
                let address = codec::resolve_owner(decl, &value, &mut lookup).and_then(|owner| {
                    codec::stored_key(decl, &value, owner, &mut lookup, &At::ROOT)
                        .map(|key| (owner, key))
                });
                let (owner, key) = match address {
                    Ok(address) => address,
                    Err(fail) => {
                        report(&mut collector, &origin(), &named(&value), fail)?;
                        continue;
                    }
                };
                // A key is the same document only within its collection.
                if let Some(earlier) = batch.pending.find(decl.collection, owner, &key) {
                    let message = format!(
                        "the same document is given twice (also by {})",
                        docs.origin(earlier.index as usize)
                    );
                    collector.add(&origin(), &named(&value), JsonPath::root(), message);
                    continue;
                }
                if decl.collection == Collection::TagSets {
                    let tags = codec::tag_names(&value).map(str::to_owned).collect();
                    tags_of.push((batch.pending.slots.len(), tags));
                }
                batch.pending.push(Slot {
                    index: u32::try_from(index).expect("fewer than 2^32 documents in a batch"),
                    collection: decl.collection,
                    exists: false,
                    id: NO_OWNER,
                    owner,
                    key: key.into_boxed_str(),
                });
            }
            Ok(())
        })?;
        let pending = &mut batch.pending;
        let asked: Vec<(DocId, &str)> = pending.slots[first..]
            .iter()
            .map(|slot| (slot.owner, &*slot.key))
            .collect();
        let existing = stored.txn.find_ids(decl.collection, &asked)?;
        drop(asked);
        for (at, existing) in (first..).zip(existing) {
            let id = match existing {
                Some(id) => id,
                None => {
                    let fresh = match &mut ids {
                        Some(fresh) => fresh,
                        // Enough for every document not yet given an id.
                        None => ids.insert(stored.txn.allocate_ids((docs.len() - at) as u64)?),
                    };
                    fresh.next().expect("one id allocated per document")
                }
            };
            let slot = &mut pending.slots[at];
            slot.id = id;
            slot.exists = existing.is_some();
        }
        for (at, tags) in tags_of {
            batch.tags.insert(pending.slots[at].id, tags);
        }
    }

    // Pass 2: shapes, references, secrets; then the rows.
    let batch = &batch;
    let mut report = WriteReport::default();
    let mut counts: HashMap<Collection, u64> = HashMap::new();
    let mut inserts: Vec<StoredDoc> =
        Vec::with_capacity(INSERT_CHUNK.min(batch.pending.slots.len()));
    let mut insert_bytes = 0;
    // Tags that replaced tag sets no longer have, as stored references (`<set id>/<tag>`).
    let mut removed_tags: HashSet<String> = HashSet::new();
    // What needs nothing but the document and the batch (reading, the shape, references within
    // the batch, sealing, the stored text) is done on the other cores, a chunk ahead; the rest,
    // which needs the transaction, in order on this thread.
    let chunk = |rest: &[Slot]| {
        crate::parallel::chunk_len(rest, SHAPE_CHUNK, SHAPE_BYTES, |slot| {
            docs.size(slot.index as usize)
        })
    };
    let prepare = |slot: &Slot| prepare(docs, slot, batch, sealer, options.decrypt);
    crate::parallel::map_ahead(
        &batch.pending.slots,
        chunk,
        prepare,
        |prepared| -> Result<()> {
            for (done, prepared) in prepared.enumerate() {
                if collector.full() {
                    break;
                }
                let slot = &batch.pending.slots[done];
                let Slot {
                    index,
                    collection,
                    exists,
                    id,
                    owner,
                    ..
                } = *slot;
                let index = index as usize;
                let decl = collection.decl();
                let origin = || docs.origin(index);
                let mut lookup = BatchLookup {
                    batch,
                    stored: &mut stored,
                };
                // Its stored text, or the shaped document, to finish on this thread.
                let finished: std::result::Result<String, Shaped> = match prepared? {
                    Prepared::Stored(Ok(body)) => Ok(body),
                    Prepared::Stored(Err((named, problems))) => {
                        for (path, message) in problems {
                            collector.add(&origin(), &named, path, message);
                        }
                        continue;
                    }
                    Prepared::Large => {
                        let text = docs.json(index).map_err(|e| unreadable(docs, index, e))?;
                        // The version it replaces, where a `{"masked": true}` may keep its value.
                        let previous = match exists && text.contains("\"masked\"") {
                            true => lookup.stored.txn.get(id)?.map(|doc| doc.body),
                            false => None,
                        };
                        match large::stored_body(
                            decl,
                            &text,
                            id,
                            owner,
                            previous.as_deref(),
                            &mut lookup,
                            sealer,
                            options.decrypt,
                        )? {
                            Some(body) => Ok(body),
                            // Not of its shape, or it needs the whole: read whole.
                            None => Err(shape(docs, index)?),
                        }
                    }
                    Prepared::Shaped(shaped) => Err(shaped),
                };
                let body = match finished {
                    Ok(body) => Some(body),
                    Err(shaped) => Whole::new(slot, &origin, &|| name_of(docs, index))
                        .stored_body(
                            shaped,
                            &mut lookup,
                            &mut collector,
                            sealer,
                            options.decrypt,
                            &mut removed_tags,
                        )?,
                };
                let Some(body) = body.filter(|_| collector.problems.is_empty()) else {
                    continue;
                };
                let doc = StoredDoc {
                    id,
                    collection,
                    owner,
                    key: slot.key.to_string(),
                    body,
                };
                *counts.entry(collection).or_default() += 1;
                if exists {
                    report.replaced += 1;
                    stored.txn.update(&doc)?;
                } else {
                    report.created += 1;
                    insert_bytes += doc.body.len();
                    inserts.push(doc);
                    if inserts.len() >= INSERT_CHUNK || insert_bytes >= INSERT_BYTES {
                        stored.txn.insert(&inserts)?;
                        inserts.clear();
                        insert_bytes = 0;
                    }
                }
                progress(done as u64 + 1);
            }
            Ok(())
        },
    )?;
    if !collector.problems.is_empty() {
        return Err(Error::Invalid(Problems(collector.problems)));
    }
    stored.txn.insert(&inserts)?;
    if counts.keys().any(|c| affects_access(*c)) {
        touch_access(stored.txn)?;
    }
    if !removed_tags.is_empty() {
        check_removed_tags(stored.txn, &removed_tags)?;
    }
    report.per_collection = COLLECTIONS
        .iter()
        .filter_map(|d| counts.get(&d.collection).map(|n| (d.collection, *n)))
        .collect();
    Ok(report)
}

/// A document of the batch as the second pass's workers leave it for the transaction's thread.
enum Prepared {
    /// Its stored text; or its problems, with its name for them.
    Stored(std::result::Result<String, (String, Vec<(JsonPath, String)>)>),
    /// Shaped (or refused), and left to the transaction's thread: it keeps a stored value, it
    /// is a tag set that replaces a stored one, or it refers to a stored document.
    Shaped(Shaped),
    /// A large document ([`large`]), read and shaped on the transaction's thread.
    Large,
}

/// What the second pass does for a document off the transaction's thread: as much as needs only
/// the document and the batch ([`Prepared`]).
fn prepare(
    docs: &(impl DocumentSource + Sync + ?Sized),
    slot: &Slot,
    batch: &Batch,
    sealer: &Sealer,
    decrypt: Option<codec::Decrypt<'_>>,
) -> Result<Prepared> {
    let index = slot.index as usize;
    let decl = slot.collection.decl();
    if large::is_large(decl, docs.size(index)) {
        return Ok(Prepared::Large);
    }
    let mut value = match shape(docs, index)? {
        Ok(value) => value,
        refused => return Ok(Prepared::Shaped(refused)),
    };
    if slot.exists && (slot.collection == Collection::TagSets || has_masked(&value)) {
        return Ok(Prepared::Shaped(Ok(value)));
    }
    let mut lookup = AheadLookup {
        batch,
        unanswered: false,
    };
    let origin = || docs.origin(index);
    let named = || name_of(docs, index);
    let whole = Whole::new(slot, &origin, &named);
    let problems = whole.resolve_and_seal(&mut value, &mut lookup, None, sealer, decrypt)?;
    if lookup.unanswered {
        // Some references were resolved in place: the transaction's thread starts again from
        // the shaped document.
        return shape(docs, index).map(Prepared::Shaped);
    }
    Ok(Prepared::Stored(match problems.is_empty() {
        true => Ok(serde_json::to_string(&value).expect("a JSON value serializes")),
        false => Err((named(), problems)),
    }))
}

/// Whether a document has a `{"masked": true}`, which keeps the value the stored version holds.
fn has_masked(value: &Value) -> bool {
    codec::sensitive_values(value)
        .iter()
        .any(|(_, form)| *form == Form::Masked)
}

/// A document of the batch on the whole-document path (not [`large`]'s): what its stored form
/// needs to know.
struct Whole<'a> {
    decl: &'static CollectionDecl,
    id: DocId,
    exists: bool,
    owner: DocId,
    /// Where it came from, and how it is named: both for messages only.
    origin: &'a dyn Fn() -> std::borrow::Cow<'a, str>,
    named: &'a dyn Fn() -> String,
}

impl<'a> Whole<'a> {
    fn new(
        slot: &Slot,
        origin: &'a dyn Fn() -> std::borrow::Cow<'a, str>,
        named: &'a dyn Fn() -> String,
    ) -> Self {
        Whole {
            decl: slot.collection.decl(),
            id: slot.id,
            exists: slot.exists,
            owner: slot.owner,
            origin,
            named,
        }
    }

    /// `value`'s references resolved through `lookup`, and its sensitive values sealed
    /// (`previous`: the stored version that a `{"masked": true}` keeps its value from); what is
    /// wrong with it, in that order.
    fn resolve_and_seal(
        &self,
        value: &mut Value,
        lookup: &mut dyn Lookup,
        previous: Option<&Value>,
        sealer: &Sealer,
        decrypt: Option<codec::Decrypt<'_>>,
    ) -> Result<Vec<(JsonPath, String)>> {
        let mut problems = codec::resolve_refs(self.decl, value, self.owner, lookup)?;
        let sealed = codec::seal_secrets(self.decl, value, self.id, previous, sealer, decrypt)
            .map_err(|e| {
                let origin = (self.origin)();
                let named = (self.named)();
                Error::MasterKey(format!("{}{named}: {e}", origin_prefix(&origin)))
            })?;
        problems.extend(sealed);
        Ok(problems)
    }

    /// The shaped document's stored text: references resolved, secrets sealed; `None` when it
    /// has problems, which are collected, or when an earlier document had. A tag set that
    /// replaces a stored one adds the tags it drops to `removed_tags`.
    fn stored_body(
        &self,
        shaped: Shaped,
        lookup: &mut BatchLookup<'_, '_>,
        collector: &mut Collector,
        sealer: &Sealer,
        decrypt: Option<codec::Decrypt<'_>>,
        removed_tags: &mut HashSet<String>,
    ) -> Result<Option<String>> {
        let Whole {
            decl,
            id,
            exists,
            origin,
            ..
        } = *self;
        let mut value = match shaped {
            Ok(value) => value,
            Err((named, problems)) => {
                for (path, message) in problems {
                    collector.add(&origin(), &named, path, message);
                }
                return Ok(None);
            }
        };
        // The version it replaces, where a `{"masked": true}` keeps its value.
        let previous = if exists && has_masked(&value) {
            lookup
                .stored
                .txn
                .get(id)?
                .map(|doc| serde_json::from_str::<Value>(&doc.body))
                .transpose()
                .map_err(|e| StoreError::Corrupt(e.to_string()))?
        } else {
            None
        };
        let problems =
            self.resolve_and_seal(&mut value, lookup, previous.as_ref(), sealer, decrypt)?;
        if !problems.is_empty() {
            let named = (self.named)();
            for (path, message) in problems {
                collector.add(&origin(), &named, path, message);
            }
        }
        if !collector.problems.is_empty() {
            return Ok(None);
        }
        if exists && decl.collection == Collection::TagSets {
            removed_tags.extend(removed_tag_refs(lookup.stored.txn, id, &value)?);
        }
        Ok(Some(
            serde_json::to_string(&value).expect("a JSON value serializes"),
        ))
    }
}

/// The stored references (`<set id>/<tag>`) of the tags that the stored tag set `id` has and
/// its new version `value` does not.
fn removed_tag_refs(txn: &mut dyn WriteTxn, id: DocId, value: &Value) -> Result<Vec<String>> {
    let Some(old) = txn.get(id)? else {
        return Ok(Vec::new());
    };
    let old: Value =
        serde_json::from_str(&old.body).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    let kept: HashSet<&str> = codec::tag_names(value).collect();
    Ok(codec::tag_names(&old)
        .filter(|t| !kept.contains(t))
        .map(|t| format!("{id}/{t}"))
        .collect())
}

/// Refuses the write when a document (as written so far in this transaction) still refers to a
/// tag that a tag set of the batch removed.
fn check_removed_tags(txn: &mut dyn WriteTxn, removed: &HashSet<String>) -> Result<()> {
    let targets = HashSet::from([Collection::TagSets]);
    let found = referrers(txn, &targets, &|_| false, &|r, v| {
        r.scope == RefScope::TenantTag && v.as_str().is_some_and(|s| removed.contains(s))
    })?;
    if found.is_empty() {
        return Ok(());
    }
    let lines = referrer_lines(txn, &found)?;
    Err(Error::Invalid(Problems(vec![Problem {
        origin: None,
        line: None,
        column: None,
        document: "tag-sets".into(),
        path: JsonPath::root().field("tags"),
        message: format!(
            "a tag that is removed here is still used by {} document(s); remove it from them first:{lines}",
            found.len()
        ),
    }])))
}

fn origin_prefix(origin: &str) -> String {
    if origin.is_empty() {
        String::new()
    } else {
        format!("{origin}: ")
    }
}

fn report(collector: &mut Collector, origin: &str, document: &str, fail: Fail) -> Result<()> {
    match fail {
        Fail::At(path, message) => {
            collector.add(origin, document, path, message);
            Ok(())
        }
        Fail::Store(error) => Err(error.into()),
    }
}

// ---------------------------------------------------------------------------------------------
// Addressing documents from the command line.

/// Where a document is, as a person names it: the collection, the project (for project-owned
/// collections) and the natural key within it (parts separated by ` / `).
#[derive(Clone, Debug)]
pub struct Address<'a> {
    pub collection: Collection,
    pub project: Option<&'a str>,
    pub key: Option<&'a str>,
}

fn key_value(decl: &CollectionDecl, parts: &mut dyn Iterator<Item = &str>) -> Value {
    let mut object = serde_json::Map::new();
    for field in decl.key {
        let value = match decl.key_ref(field) {
            Some(r) if r.scope != RefScope::TenantTag && r.target.decl().key.len() > 1 => {
                key_value(r.target.decl(), parts)
            }
            _ => match parts.next() {
                None | Some("") => Value::Null,
                Some(part) => Value::String(part.to_owned()),
            },
        };
        object.insert((*field).to_owned(), value);
    }
    Value::Object(object)
}

/// Finds the stored document at `address`.
pub fn find(txn: &mut dyn ReadTxn, address: &Address<'_>) -> Result<StoredDoc> {
    let decl = address.collection.decl();
    let owner = owner_of(txn, decl, address.project)?;
    let key_text = address.key.unwrap_or("");
    if address.key.is_none() && !decl.key.is_empty() {
        return Err(Error::NotFound(
            format!(
                "{} are found by their {}: give it",
                decl.name,
                decl.key.join(" / ")
            )
            .into(),
        ));
    }
    let single_name = decl.key.len() == 1 && decl.key_ref(decl.key[0]).is_none();
    if !single_name && !decl.key.is_empty() {
        // A key with parts missing (or too many) is a mistake in the key, not a document that
        // is not there.
        let expected = std::cell::Cell::new(0usize);
        key_value(
            decl,
            &mut std::iter::repeat("").inspect(|_| expected.set(expected.get() + 1)),
        );
        let (expected, given) = (
            expected.get(),
            key_text.split(codec::DISPLAY_SEPARATOR).count(),
        );
        if given != expected {
            let names = if decl.key.len() == expected {
                format!("{}, ", decl.key.join(" / "))
            } else {
                String::new()
            };
            return Err(Error::NotFound(format!(
                "{key_text:?} is not a key of {}: their keys have {expected} parts ({names}as `cuttle doc list {}` prints them), separated by \" / \", an empty part for a missing one; this has {given}",
                decl.name, decl.name
            ).into()));
        }
    }
    let mut parts = key_text.split(codec::DISPLAY_SEPARATOR);
    let mut value = key_value(decl, &mut parts);
    if single_name {
        // A single name is taken whole, even if it holds " / ".
        value[decl.key[0]] = Value::String(key_text.to_owned());
    }
    let not_found = || {
        let within = address
            .project
            .map(|p| format!(" in project {}", names::quoted(p)))
            .unwrap_or_default();
        Error::NotFound(
            format!(
                "there is no document {} in {}{within}",
                names::quoted(key_text),
                decl.name
            )
            .into(),
        )
    };
    codec::normalize_key_fields(decl, &mut value);
    let key = match codec::stored_key(decl, &value, owner, &mut ReadLookup(txn), &At::ROOT) {
        Ok(key) => key,
        Err(Fail::Store(e)) => return Err(e.into()),
        Err(Fail::At(..)) => return Err(not_found()),
    };
    txn.find(address.collection, owner, &key)?
        .ok_or_else(not_found)
}

fn owner_of(txn: &mut dyn ReadTxn, decl: &CollectionDecl, project: Option<&str>) -> Result<DocId> {
    match (decl.is_project_owned(), project) {
        (false, None) => Ok(NO_OWNER),
        (false, Some(_)) => Err(Error::NotFound(Message::hinted(
            format!("{} do not belong to projects", decl.name),
            Hint::NoProject,
        ))),
        (true, None) => Err(Error::NotFound(Message::hinted(
            format!("{} belong to a project", decl.name),
            Hint::GiveProject,
        ))),
        (true, Some(project)) => {
            let project = cuttle_domain::names::nfc(project);
            txn.find_id(Collection::Projects, NO_OWNER, &project)?
                .ok_or_else(|| {
                    Error::NotFound(
                        format!("there is no project named {}", names::quoted(&project)).into(),
                    )
                })
        }
    }
}

/// A stored document in the export shape, sensitive values masked.
pub fn show(txn: &mut dyn ReadTxn, doc: &StoredDoc) -> Result<Value> {
    let mut names = Names::new(txn);
    Ok(codec::render(
        doc.collection.decl(),
        doc.id,
        &doc.body,
        &mut names,
        &mut codec::mask,
    )?)
}

/// The natural keys of a collection as people read them, one per document; for a project-owned
/// collection, within `project` when given, else prefixed by the project's name.
pub fn list(
    txn: &mut dyn ReadTxn,
    collection: Collection,
    project: Option<&str>,
) -> Result<Vec<String>> {
    list_where(txn, collection, project, None)
}

/// A filter of [`list_where`]: whether to list a stored document.
pub type Keep<'a> = &'a mut dyn FnMut(&mut dyn ReadTxn, &StoredDoc) -> Result<bool>;

/// [`list`], of the documents `keep` keeps (each read whole for it).
pub fn list_where(
    txn: &mut dyn ReadTxn,
    collection: Collection,
    project: Option<&str>,
    keep: Option<Keep<'_>>,
) -> Result<Vec<String>> {
    let decl = collection.decl();
    let owner = match project {
        Some(_) => Some(owner_of(txn, decl, project)?),
        None => None,
    };
    let mut rows = Vec::new();
    match keep {
        None => txn.scan_keys(collection, &mut |row| {
            if owner.is_none_or(|o| o == row.owner) {
                rows.push(row);
            }
            Ok(())
        })?,
        Some(keep) => {
            let mut docs = Vec::new();
            txn.scan(collection, owner, &mut |doc| {
                docs.push(doc);
                Ok(())
            })?;
            for doc in docs {
                if keep(txn, &doc)? {
                    rows.push(cuttle_store::KeyRow {
                        id: doc.id,
                        owner: doc.owner,
                        key: doc.key,
                    });
                }
            }
        }
    }
    let mut names = Names::new(txn);
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        let line = match owner {
            Some(_) if !decl.key.is_empty() => names.key_text(collection, &row.key)?,
            _ => full_key_text(&mut names, collection, row.owner, &row.key)?,
        };
        out.push(line);
    }
    out.sort_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
    Ok(out)
}

/// A natural key as people read it, prefixed by the owning project's name for a project-owned
/// document (a project's singleton parts are named by the project alone).
fn full_key_text(
    names: &mut Names<'_>,
    collection: Collection,
    owner: DocId,
    key: &str,
) -> Result<String> {
    let decl = collection.decl();
    let key = names.key_text(collection, key)?;
    Ok(match (owner, decl.key.is_empty()) {
        (NO_OWNER, _) => key,
        (owner, true) => names.project_name(owner)?,
        (owner, false) => format!(
            "{}{}{key}",
            names.project_name(owner)?,
            codec::DISPLAY_SEPARATOR
        ),
    })
}

/// Deletes the document at `address`, and everything a project owns when it is a project.
/// Refused while other documents refer to what would be deleted. Returns how many documents
/// were deleted.
pub fn delete(txn: &mut dyn WriteTxn, address: &Address<'_>) -> Result<u64> {
    let doc = find(txn, address)?;
    let mut doomed: HashMap<DocId, Collection> = HashMap::from([(doc.id, doc.collection)]);
    if doc.collection == Collection::Projects {
        for decl in COLLECTIONS.iter().filter(|d| d.is_project_owned()) {
            txn.scan_keys(decl.collection, &mut |row| {
                if row.owner == doc.id {
                    doomed.insert(row.id, decl.collection);
                }
                Ok(())
            })?;
        }
    }
    let targets: HashSet<Collection> = doomed.values().copied().collect();
    let referrers = referrers(txn, &targets, &|id| doomed.contains_key(&id), &|r, v| {
        referenced_id(r, v).is_some_and(|id| doomed.contains_key(&id))
    })?;
    if !referrers.is_empty() {
        let this = Names::new(txn).key_text(doc.collection, &doc.key)?;
        let lines = referrer_lines(txn, &referrers)?;
        return Err(Error::InUse(Problems(vec![Problem {
            origin: None,
            line: None,
            column: None,
            document: format!("{} {this:?}", doc.collection.name()),
            path: JsonPath::root(),
            message: format!(
                "cannot be deleted while {} document{} refer to it; change or delete them first:{lines}",
                referrers.len(),
                if referrers.len() == 1 { "" } else { "s" },
            ),
        }])));
    }
    if doomed.values().any(|c| affects_access(*c)) {
        touch_access(txn)?;
    }
    for id in doomed.keys() {
        txn.delete(*id)?;
    }
    Ok(doomed.len() as u64)
}

type Referrer = (Collection, DocId, String, JsonPath);

/// The documents (outside `skip`) that hold a reference, to a collection in `targets`, for which
/// `hits` is true (given the reference's declaration and its stored value).
fn referrers(
    txn: &mut dyn ReadTxn,
    targets: &HashSet<Collection>,
    skip: &dyn Fn(DocId) -> bool,
    hits: &dyn Fn(&RefDecl, &Value) -> bool,
) -> Result<Vec<Referrer>> {
    let mut found = Vec::new();
    for decl in COLLECTIONS {
        let refs: Vec<_> = decl
            .refs
            .iter()
            .filter(|r| targets.contains(&r.target))
            .collect();
        if refs.is_empty() {
            continue;
        }
        txn.scan(decl.collection, None, &mut |doc| {
            if skip(doc.id) {
                return Ok(());
            }
            let body: Value =
                serde_json::from_str(&doc.body).map_err(|e| StoreError::Corrupt(e.to_string()))?;
            for r in &refs {
                let _ = path::for_each::<()>(&body, r.path, r.when.as_ref(), &mut |v, at| {
                    if hits(r, v) {
                        found.push((doc.collection, doc.owner, doc.key.clone(), at.to_path()));
                    }
                    Ok(())
                });
            }
            Ok(())
        })?;
    }
    Ok(found)
}

/// The id a stored reference value points at (for a tenant tag, its tag set's).
fn referenced_id(r: &RefDecl, value: &Value) -> Option<DocId> {
    match (r.scope, value) {
        (RefScope::TenantTag, Value::String(s)) => {
            s.split_once('/').and_then(|(id, _)| id.parse().ok())
        }
        (_, v) => v.as_i64(),
    }
}

/// Up to 20 referrers, one a line, for a message.
fn referrer_lines(txn: &mut dyn ReadTxn, referrers: &[Referrer]) -> Result<String> {
    let mut names = Names::new(txn);
    let mut lines = String::new();
    for (collection, owner, key, path) in referrers.iter().take(20) {
        let key = full_key_text(&mut names, *collection, *owner, key)?;
        lines.push_str(&format!("\n  - {} {key:?} at {path}", collection.name()));
    }
    let more = referrers.len().saturating_sub(20);
    if more > 0 {
        lines.push_str(&format!("\n  - and {more} more"));
    }
    Ok(lines)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pending_finds_each_address_whatever_its_hash() {
        let mut pending = Pending::<crate::hashed::Colliding>::default();
        let addresses = [
            (Collection::Environments, NO_OWNER, "Production"),
            (Collection::Environments, NO_OWNER, "Staging"),
            // The same key in another collection, and under another owner.
            (Collection::Channels, 5, "Production"),
            (Collection::Channels, 6, "Production"),
        ];
        for (index, (collection, owner, key)) in addresses.into_iter().enumerate() {
            pending.push(Slot {
                index: index as u32,
                collection,
                exists: false,
                id: 100 + index as DocId,
                owner,
                key: key.into(),
            });
        }
        for (index, (collection, owner, key)) in addresses.into_iter().enumerate() {
            let found = pending.find(collection, owner, key).map(|slot| slot.id);
            assert_eq!(
                found,
                Some(100 + index as DocId),
                "{collection:?} {owner} {key}"
            );
        }
        assert!(
            pending
                .find(Collection::Environments, NO_OWNER, "Test")
                .is_none()
        );
        assert!(
            pending
                .find(Collection::Channels, 7, "Production")
                .is_none()
        );
    }
}
