//! The storage trait: what the engine needs from a database, and nothing more.
//!
//! Documents are stored in their *stored shape*: JSON whose references are instance-local ids and
//! whose sensitive values are sealed under the master key (see `cuttle-instance`). The store knows
//! nothing of shapes; it keeps rows of (id, collection, owner, natural key, body), enforces the
//! natural key's uniqueness per collection and owner, and gives two kinds of transactions:
//!
//! - [`Store::read`]: one consistent snapshot, for export and listing, that concurrent writers
//!   do not disturb;
//! - [`Store::write`]: the only writer for its duration (SQLite `BEGIN IMMEDIATE`, PostgreSQL a
//!   transaction-scoped advisory lock), so that what it reads stays true until it commits.
//!   Dropping it without [`WriteTxn::commit`] rolls everything back.
//!
//! Backends: `cuttle-store-sqlite` (embedded, the default) and `cuttle-store-postgres`.

use cuttle_domain::Collection;

/// An instance-local document id. Never leaves the instance.
pub type DocId = i64;

/// The owner of a top-level document.
pub const NO_OWNER: DocId = 0;

/// One stored document.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredDoc {
    pub id: DocId,
    pub collection: Collection,
    /// The owning project's id for project-owned documents, [`NO_OWNER`] otherwise.
    pub owner: DocId,
    /// The stored natural key: NFC names, with the ids of referenced documents where a key part
    /// is a reference (so that renaming a document touches one row).
    pub key: String,
    /// The document in its stored shape, as JSON text.
    pub body: String,
}

/// What an instance keeps for itself alone, beside its documents: never exported, never in a
/// backup, never in a plan (API keys, the audit log).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RecordKind {
    /// An API key: its key is the key's hash; its body what it may do and until when.
    ApiKey,
    /// An entry of the audit log: no key; ids grow with time.
    Audit,
    /// A migration task (export, import, backup) and where it stands: no key.
    Task,
}

impl RecordKind {
    pub const ALL: [RecordKind; 3] = [RecordKind::ApiKey, RecordKind::Audit, RecordKind::Task];

    /// Its name in the database.
    pub fn name(self) -> &'static str {
        match self {
            RecordKind::ApiKey => "api-key",
            RecordKind::Audit => "audit",
            RecordKind::Task => "task",
        }
    }
}

/// One instance-local record.
#[derive(Clone, PartialEq, Eq)]
pub struct Record {
    pub kind: RecordKind,
    /// Given by the store when the record is inserted; later records have greater ids.
    pub id: i64,
    /// A key, unique within the kind, when the record has one.
    pub key: Option<String>,
    /// JSON text.
    pub body: String,
}

impl std::fmt::Debug for Record {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Record")
            .field("kind", &self.kind)
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

/// A document's address without its body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyRow {
    pub id: DocId,
    pub owner: DocId,
    pub key: String,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{collection} already has a document with the natural key {key:?}")]
    DuplicateKey { collection: String, key: String },
    #[error("the database does not hold a Cuttle instance")]
    NotAnInstance,
    #[error("the database already holds a Cuttle instance")]
    AlreadyAnInstance,
    #[error(
        "the database's schema version {found} is newer than this Cuttle understands ({supported}); upgrade Cuttle"
    )]
    SchemaTooNew { found: i64, supported: i64 },
    #[error("the database holds a row this Cuttle does not understand: {0}")]
    Corrupt(String),
    /// The disk (or the quota) holding the database has no room for what was to be written.
    #[error(
        "{context}: the disk that holds the database is full (or its quota is reached), so nothing was written; free room there, then run it again"
    )]
    NoRoom { context: &'static str },
    /// Another process held the database for longer than the backend waits.
    #[error(
        "{context}: another process holds the database (an import that writes it alone, or another writer) and did not let it go in time; nothing was done: run it again once that has finished"
    )]
    Busy { context: &'static str },
    #[error("{context}: {source}")]
    Database {
        context: &'static str,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

impl StoreError {
    pub fn database(
        context: &'static str,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        StoreError::Database {
            context,
            source: Box::new(source),
        }
    }
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// The meta keys every instance records.
pub mod meta {
    pub const IDENTITY: &str = "identity";
    pub const PRODUCT_VERSION: &str = "product_version";
    pub const DOMAIN_VERSION: &str = "domain_version";
    pub const MASTER_KEY_CHECK: &str = "master_key_check";
    pub const CREATED: &str = "created";
    /// Changes whenever a document that access is computed from is written or deleted (see
    /// `cuttle_instance::documents::ACCESS_GENERATION`): what a cache of access checks.
    pub const ACCESS_GENERATION: &str = "access_generation";
}

/// A database that holds one instance.
pub trait Store: Send {
    /// Creates the schema in an empty database and records `meta`, in one transaction.
    fn initialize(&mut self, meta: &[(&str, &str)]) -> Result<()>;
    /// Brings an existing instance's schema up to date (refuses one newer than this build).
    fn migrate(&mut self) -> Result<()>;
    /// The schema version this build writes.
    fn schema_version(&self) -> i64;
    /// A consistent read snapshot, taken when this returns.
    fn read(&mut self) -> Result<Box<dyn ReadTxn + '_>>;
    /// The exclusive write transaction.
    fn write(&mut self) -> Result<Box<dyn WriteTxn + '_>>;
    /// The exclusive write transaction, for a large change by a caller that may hold the
    /// database alone while it writes (a command-line import): a backend that writes faster
    /// when nothing reads alongside may do so, and readers that come meanwhile wait for the
    /// commit instead of reading the snapshot before it. The same transaction in every other
    /// way; by default, [`Store::write`].
    fn write_alone(&mut self) -> Result<Box<dyn WriteTxn + '_>> {
        self.write()
    }
    /// One meta value as of now, read on its own (no snapshot to begin and end: on a server
    /// database, one round trip). For a value checked often that seldom changes, such as
    /// [`meta::ACCESS_GENERATION`].
    fn peek_meta(&mut self, key: &str) -> Result<Option<String>>;
    /// Removes every table of the instance (for `instance delete` on a server database).
    fn drop_instance(&mut self) -> Result<()>;
}

/// Reads, inside a snapshot or inside the write transaction.
pub trait ReadTxn {
    fn meta(&mut self, key: &str) -> Result<Option<String>>;
    fn get(&mut self, id: DocId) -> Result<Option<StoredDoc>>;
    /// The document of `collection` with this owner and stored key.
    fn find(
        &mut self,
        collection: Collection,
        owner: DocId,
        key: &str,
    ) -> Result<Option<StoredDoc>>;
    /// Only the id of [`ReadTxn::find`]'s document.
    fn find_id(&mut self, collection: Collection, owner: DocId, key: &str)
    -> Result<Option<DocId>>;
    /// The ids of many documents of `collection`, by (owner, stored key), in the order asked: one
    /// round trip where the backend can, so that a large batch does not pay one per document.
    fn find_ids(
        &mut self,
        collection: Collection,
        keys: &[(DocId, &str)],
    ) -> Result<Vec<Option<DocId>>> {
        keys.iter()
            .map(|(owner, key)| self.find_id(collection, *owner, key))
            .collect()
    }
    /// Every document of `collection` (of one owner, when given), ordered by owner and key,
    /// streamed so that memory does not grow with the collection.
    fn scan(
        &mut self,
        collection: Collection,
        owner: Option<DocId>,
        visit: &mut dyn FnMut(StoredDoc) -> Result<()>,
    ) -> Result<()>;
    /// The ids, owners and keys of `collection`, without bodies.
    fn scan_keys(
        &mut self,
        collection: Collection,
        visit: &mut dyn FnMut(KeyRow) -> Result<()>,
    ) -> Result<()>;
    fn count(&mut self, collection: Collection) -> Result<u64>;
    /// Many documents by id: those that exist, in the order asked; one round trip where the
    /// backend can.
    fn get_many(&mut self, ids: &[DocId]) -> Result<Vec<StoredDoc>> {
        let mut found = Vec::with_capacity(ids.len());
        for id in ids {
            found.extend(self.get(*id)?);
        }
        Ok(found)
    }
    /// The addresses of many documents: those that exist, in the order asked; one round trip
    /// where the backend can.
    fn addresses(&mut self, ids: &[DocId]) -> Result<Vec<(Collection, KeyRow)>> {
        let mut found = Vec::with_capacity(ids.len());
        for id in ids {
            found.extend(self.address(*id)?);
        }
        Ok(found)
    }
    /// The record of `kind` with this key.
    fn record(&mut self, kind: RecordKind, key: &str) -> Result<Option<Record>>;
    /// At most `limit` records of `kind` with ids greater than `after`, by id; or, with
    /// `newest_first`, ids smaller than `after` (`i64::MAX` for the newest), newest first.
    fn records(
        &mut self,
        kind: RecordKind,
        after: i64,
        limit: usize,
        newest_first: bool,
    ) -> Result<Vec<Record>>;
    /// The collection, owner and key of a document, without its body.
    fn address(&mut self, id: DocId) -> Result<Option<(Collection, KeyRow)>> {
        Ok(self.get(id)?.map(|d| {
            (
                d.collection,
                KeyRow {
                    id: d.id,
                    owner: d.owner,
                    key: d.key,
                },
            )
        }))
    }
}

/// The exclusive write transaction. Dropping it without `commit` rolls back. After any error
/// the transaction must be dropped, not committed: backends differ in what a failed statement
/// leaves behind (PostgreSQL refuses the commit; SQLite would keep the rows written before it).
pub trait WriteTxn: ReadTxn {
    /// `n` fresh ids, never used before in this instance.
    fn allocate_ids(&mut self, n: u64) -> Result<std::ops::Range<DocId>>;
    /// Inserts new documents, in bulk. Fails with [`StoreError::DuplicateKey`] when a natural key
    /// is taken.
    fn insert(&mut self, docs: &[StoredDoc]) -> Result<()>;
    /// Replaces a document's key and body (found by id).
    fn update(&mut self, doc: &StoredDoc) -> Result<()>;
    fn delete(&mut self, id: DocId) -> Result<()>;
    fn set_meta(&mut self, key: &str, value: &str) -> Result<()>;
    /// Adds a record and gives its id. Fails with [`StoreError::DuplicateKey`] when its key is
    /// taken within its kind.
    fn insert_record(&mut self, kind: RecordKind, key: Option<&str>, body: &str) -> Result<i64>;
    /// Replaces the body of the record `id` of `kind`.
    fn update_record(&mut self, kind: RecordKind, id: i64, body: &str) -> Result<()>;
    /// Writes out everything the transaction changed, as its commit would, short of committing:
    /// a dry run calls it before it rolls back, so that it fails where the commit would (a disk
    /// without room for what the commit writes). The transaction stays open, and dropping it
    /// still rolls everything back.
    fn write_out(&mut self) -> Result<()>;
    fn commit(self: Box<Self>) -> Result<()>;
}

#[cfg(feature = "conformance")]
pub mod conformance;
