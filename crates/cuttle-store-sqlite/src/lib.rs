//! The embedded backend: an instance is one SQLite file (bundled SQLite, so a fresh machine needs
//! nothing installed).
//!
//! - WAL journal: a read snapshot (`BEGIN` plus a first read) never blocks the writer, and the
//!   writer never disturbs it.
//! - The write transaction is `BEGIN IMMEDIATE`: one writer at a time, waiting up to
//!   [`BUSY_TIMEOUT`] for another to finish.
//! - A write that may hold the database alone ([`Store::write_alone`], a command-line import)
//!   journals by rollback instead, when no other connection has the database open: each page
//!   is then written once, to the database, where the WAL writes it twice (to the log, then to
//!   the database at the checkpoint). With `synchronous = EXTRA` meanwhile, the commit (the
//!   journal's deletion) is as durable as a WAL commit with `FULL`. An import into an empty
//!   instance takes about a quarter less time. The database returns to WAL when the
//!   transaction ends, or at the next opening if the process was killed (SQLite rolls back the
//!   journal of a killed transaction when the database is next read). A connection opened
//!   meanwhile waits for the commit (up to [`BUSY_TIMEOUT`], then [`StoreError::Busy`]).
//! - `synchronous = FULL`: a committed transaction survives a crash of the machine, not only of
//!   the process.
//! - Keys use SQLite's default `BINARY` collation: byte-equal, case-sensitive, byte order.

use std::ops::Range;
use std::path::Path;
use std::time::Duration;

use cuttle_domain::Collection;
use cuttle_store::{
    DocId, KeyRow, ReadTxn, Record, RecordKind, Result, Store, StoreError, StoredDoc, WriteTxn,
};
use rusqlite::{
    Connection, OpenFlags, OptionalExtension, Transaction, TransactionBehavior, params,
};

/// How long a writer waits for another writer before giving up.
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(60);

/// The schema, one migration per version; `PRAGMA user_version` records how many have run.
const MIGRATIONS: &[&str] = &[
    r#"
    CREATE TABLE cuttle_meta (
        key   TEXT PRIMARY KEY,
        value TEXT NOT NULL
    ) WITHOUT ROWID;
    CREATE TABLE cuttle_documents (
        id         INTEGER PRIMARY KEY,
        collection TEXT    NOT NULL,
        owner      INTEGER NOT NULL,
        key        TEXT    NOT NULL,
        body       TEXT    NOT NULL,
        UNIQUE (collection, owner, key)
    );
    INSERT INTO cuttle_meta (key, value) VALUES ('next_document_id', '1');
"#,
    r#"
    CREATE TABLE cuttle_records (
        id   INTEGER PRIMARY KEY AUTOINCREMENT,
        kind TEXT NOT NULL,
        key  TEXT,
        body TEXT NOT NULL
    );
    CREATE UNIQUE INDEX cuttle_records_key ON cuttle_records (kind, key) WHERE key IS NOT NULL;
    CREATE INDEX cuttle_records_kind ON cuttle_records (kind, id);
"#,
];

const NEXT_ID: &str = "next_document_id";

fn db(context: &'static str) -> impl FnOnce(rusqlite::Error) -> StoreError {
    move |error| match error.sqlite_error_code() {
        Some(rusqlite::ErrorCode::DiskFull) => StoreError::NoRoom { context },
        Some(rusqlite::ErrorCode::DatabaseBusy) => StoreError::Busy { context },
        _ => StoreError::database(context, error),
    }
}

/// An instance stored in one SQLite file.
pub struct SqliteStore {
    conn: Connection,
}

impl SqliteStore {
    /// Opens the database at `path`; creates the file when `create` is set.
    pub fn open(path: &Path, create: bool) -> Result<Self> {
        let mut flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        if create {
            flags |= OpenFlags::SQLITE_OPEN_CREATE;
        }
        let conn =
            Connection::open_with_flags(path, flags).map_err(db("opening the SQLite database"))?;
        conn.busy_timeout(BUSY_TIMEOUT)
            .map_err(db("setting the busy timeout"))?;
        match conn.query_row("PRAGMA journal_mode = WAL", [], |_| Ok(())) {
            // A write that holds the database alone is under way (`write_alone`): this
            // connection takes the journal it finds, and waits for that write to commit.
            Err(e) if e.sqlite_error_code() == Some(rusqlite::ErrorCode::DatabaseBusy) => {}
            other => other.map_err(db("configuring the SQLite database"))?,
        }
        // A page cache of 4 MiB: an import's writes and an overwrite's reads went no faster
        // with 16 MiB (the large sample: 9.5 to 10.0 s either way), and the cache filled while
        // the write path held the most, adding its 16 MiB to the import's peak.
        conn.execute_batch(
            "PRAGMA synchronous = FULL;
             PRAGMA cache_size = -4096;
             PRAGMA temp_store = MEMORY;",
        )
        .map_err(db("configuring the SQLite database"))?;
        Ok(SqliteStore { conn })
    }

    fn user_version(&self) -> Result<i64> {
        self.conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .map_err(db("reading the schema version"))
    }

    fn has_instance(&self) -> Result<bool> {
        self.conn
            .query_row(
                "SELECT count(*) FROM sqlite_master WHERE name = 'cuttle_documents'",
                [],
                |r| r.get::<_, i64>(0),
            )
            .map(|n| n > 0)
            .map_err(db("looking for the instance's tables"))
    }

    /// `BEGIN IMMEDIATE`: the write lock, waiting up to [`BUSY_TIMEOUT`] for another writer.
    fn write_txn(&self) -> Result<SqliteTxn<'_>> {
        let tx = Transaction::new_unchecked(&self.conn, TransactionBehavior::Immediate).map_err(
            db("starting the write transaction (another writer may hold it)"),
        )?;
        Ok(SqliteTxn {
            tx,
            back_to_wal: false,
        })
    }

    fn apply_migrations(tx: &Transaction<'_>, from: i64) -> Result<()> {
        for (version, sql) in MIGRATIONS.iter().enumerate().skip(from as usize) {
            tx.execute_batch(sql).map_err(db("migrating the schema"))?;
            tx.pragma_update(None, "user_version", version as i64 + 1)
                .map_err(db("recording the schema version"))?;
        }
        Ok(())
    }
}

impl Store for SqliteStore {
    fn initialize(&mut self, meta: &[(&str, &str)]) -> Result<()> {
        if self.has_instance()? {
            return Err(StoreError::AlreadyAnInstance);
        }
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(db("starting the initial transaction"))?;
        Self::apply_migrations(&tx, 0)?;
        for (key, value) in meta {
            tx.execute(
                "INSERT INTO cuttle_meta (key, value) VALUES (?1, ?2)",
                params![key, value],
            )
            .map_err(db("recording the instance's meta data"))?;
        }
        tx.commit()
            .map_err(db("committing the initial transaction"))
    }

    fn migrate(&mut self) -> Result<()> {
        if !self.has_instance()? {
            return Err(StoreError::NotAnInstance);
        }
        let found = self.user_version()?;
        let supported = self.schema_version();
        if found > supported {
            return Err(StoreError::SchemaTooNew { found, supported });
        }
        if found < supported {
            let tx = self
                .conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(db("starting the migration"))?;
            Self::apply_migrations(&tx, found)?;
            tx.commit().map_err(db("committing the migration"))?;
        }
        Ok(())
    }

    fn schema_version(&self) -> i64 {
        MIGRATIONS.len() as i64
    }

    fn read(&mut self) -> Result<Box<dyn ReadTxn + '_>> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Deferred)
            .map_err(db("starting a read transaction"))?;
        // A deferred transaction takes its snapshot at its first read: take it now.
        tx.query_row("SELECT count(*) FROM cuttle_meta", [], |_| Ok(()))
            .map_err(db("starting a read snapshot"))?;
        Ok(Box::new(SqliteTxn {
            tx,
            back_to_wal: false,
        }))
    }

    fn peek_meta(&mut self, key: &str) -> Result<Option<String>> {
        self.conn
            .prepare_cached("SELECT value FROM cuttle_meta WHERE key = ?1")
            .and_then(|mut s| s.query_row([key], |r| r.get(0)).optional())
            .map_err(db("reading the instance's meta data"))
    }

    fn write(&mut self) -> Result<Box<dyn WriteTxn + '_>> {
        Ok(Box::new(self.write_txn()?))
    }

    fn write_alone(&mut self) -> Result<Box<dyn WriteTxn + '_>> {
        let alone = leave_wal(&self.conn);
        match self.write_txn() {
            Ok(mut txn) => {
                // Set now, so that the journal returns to WAL however the transaction ends.
                txn.back_to_wal = alone;
                Ok(Box::new(txn))
            }
            Err(e) => {
                if alone {
                    back_to_wal(&self.conn);
                }
                Err(e)
            }
        }
    }

    fn drop_instance(&mut self) -> Result<()> {
        self.conn
            .execute_batch(
                "BEGIN IMMEDIATE;
                 DROP TABLE IF EXISTS cuttle_documents;
                 DROP TABLE IF EXISTS cuttle_records;
                 DROP TABLE IF EXISTS cuttle_meta;
                 PRAGMA user_version = 0;
                 COMMIT;",
            )
            .map_err(db("dropping the instance's tables"))
    }
}

struct SqliteTxn<'c> {
    tx: Transaction<'c>,
    /// The transaction journals by rollback ([`Store::write_alone`]): the database returns to
    /// WAL when it ends.
    back_to_wal: bool,
}

impl Drop for SqliteTxn<'_> {
    fn drop(&mut self) {
        if self.back_to_wal {
            // The journal mode changes only outside a transaction: end it first (a commit has
            // ended it already; otherwise it rolls back, as dropping it would).
            if !self.tx.is_autocommit() {
                let _ = self.tx.execute_batch("ROLLBACK");
            }
            back_to_wal(&self.tx);
        }
    }
}

/// Journals by rollback from now on, if no other connection has the database open (SQLite
/// leaves the WAL only then; otherwise the pragma fails at once with SQLITE_BUSY): whether it
/// does. A commit then deletes the journal, and `synchronous = EXTRA` syncs the folder after
/// that, so that a committed transaction survives a crash of the machine, as under the WAL
/// with `FULL`.
fn leave_wal(conn: &Connection) -> bool {
    let alone = conn
        .query_row("PRAGMA journal_mode = DELETE", [], |r| {
            r.get::<_, String>(0)
        })
        .is_ok_and(|mode| mode.eq_ignore_ascii_case("delete"));
    if alone {
        let _ = conn.execute_batch("PRAGMA synchronous = EXTRA");
    }
    alone
}

/// Back to WAL and `synchronous = FULL`, outside a transaction. Should another connection have
/// opened the database meanwhile, this fails, and the next connection to open it returns it to
/// WAL.
fn back_to_wal(conn: &Connection) {
    let _ = conn.query_row("PRAGMA journal_mode = WAL", [], |_| Ok(()));
    let _ = conn.execute_batch("PRAGMA synchronous = FULL");
}

fn collection_of(name: &str) -> Result<Collection> {
    Collection::from_name(name)
        .ok_or_else(|| StoreError::Corrupt(format!("unknown collection {name:?}")))
}

fn stored_doc(row: &rusqlite::Row<'_>) -> rusqlite::Result<(DocId, String, DocId, String, String)> {
    Ok((
        row.get(0)?,
        row.get(1)?,
        row.get(2)?,
        row.get(3)?,
        row.get(4)?,
    ))
}

fn into_doc(
    (id, collection, owner, key, body): (DocId, String, DocId, String, String),
) -> Result<StoredDoc> {
    Ok(StoredDoc {
        id,
        collection: collection_of(&collection)?,
        owner,
        key,
        body,
    })
}

fn record_kind(name: &str) -> Result<RecordKind> {
    RecordKind::ALL
        .into_iter()
        .find(|k| k.name() == name)
        .ok_or_else(|| StoreError::Corrupt(format!("unknown record kind {name:?}")))
}

fn record_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<(i64, String, Option<String>, String)> {
    Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?))
}

fn into_record((id, kind, key, body): (i64, String, Option<String>, String)) -> Result<Record> {
    Ok(Record {
        kind: record_kind(&kind)?,
        id,
        key,
        body,
    })
}

fn is_unique_violation(error: &rusqlite::Error) -> bool {
    matches!(error, rusqlite::Error::SqliteFailure(e, _) if e.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE)
}

impl ReadTxn for SqliteTxn<'_> {
    fn record(&mut self, kind: RecordKind, key: &str) -> Result<Option<Record>> {
        let row = self
            .tx
            .prepare_cached(
                "SELECT id, kind, key, body FROM cuttle_records WHERE kind = ?1 AND key = ?2",
            )
            .and_then(|mut s| s.query_row([kind.name(), key], record_row).optional())
            .map_err(db("reading a record"))?;
        row.map(into_record).transpose()
    }

    fn records(
        &mut self,
        kind: RecordKind,
        after: i64,
        limit: usize,
        newest_first: bool,
    ) -> Result<Vec<Record>> {
        let sql = if newest_first {
            "SELECT id, kind, key, body FROM cuttle_records WHERE kind = ?1 AND id < ?2 ORDER BY id DESC LIMIT ?3"
        } else {
            "SELECT id, kind, key, body FROM cuttle_records WHERE kind = ?1 AND id > ?2 ORDER BY id LIMIT ?3"
        };
        let rows = self
            .tx
            .prepare_cached(sql)
            .and_then(|mut s| {
                s.query_map(params![kind.name(), after, limit as i64], record_row)?
                    .collect::<rusqlite::Result<Vec<_>>>()
            })
            .map_err(db("reading records"))?;
        rows.into_iter().map(into_record).collect()
    }

    fn meta(&mut self, key: &str) -> Result<Option<String>> {
        self.tx
            .prepare_cached("SELECT value FROM cuttle_meta WHERE key = ?1")
            .and_then(|mut s| s.query_row([key], |r| r.get(0)).optional())
            .map_err(db("reading the instance's meta data"))
    }

    fn get(&mut self, id: DocId) -> Result<Option<StoredDoc>> {
        let row = self
            .tx
            .prepare_cached(
                "SELECT id, collection, owner, key, body FROM cuttle_documents WHERE id = ?1",
            )
            .and_then(|mut s| s.query_row([id], stored_doc).optional())
            .map_err(db("reading a document"))?;
        row.map(into_doc).transpose()
    }

    fn find(
        &mut self,
        collection: Collection,
        owner: DocId,
        key: &str,
    ) -> Result<Option<StoredDoc>> {
        let row = self
            .tx
            .prepare_cached(
                "SELECT id, collection, owner, key, body FROM cuttle_documents
                 WHERE collection = ?1 AND owner = ?2 AND key = ?3",
            )
            .and_then(|mut s| {
                s.query_row(params![collection.name(), owner, key], stored_doc)
                    .optional()
            })
            .map_err(db("looking up a document by its natural key"))?;
        row.map(into_doc).transpose()
    }

    fn find_id(
        &mut self,
        collection: Collection,
        owner: DocId,
        key: &str,
    ) -> Result<Option<DocId>> {
        self.tx
            .prepare_cached(
                "SELECT id FROM cuttle_documents WHERE collection = ?1 AND owner = ?2 AND key = ?3",
            )
            .and_then(|mut s| {
                s.query_row(params![collection.name(), owner, key], |r| r.get(0))
                    .optional()
            })
            .map_err(db("looking up a document by its natural key"))
    }

    fn scan(
        &mut self,
        collection: Collection,
        owner: Option<DocId>,
        visit: &mut dyn FnMut(StoredDoc) -> Result<()>,
    ) -> Result<()> {
        let (sql, owner) = match owner {
            Some(owner) => (
                "SELECT id, collection, owner, key, body FROM cuttle_documents
                 WHERE collection = ?1 AND owner = ?2 ORDER BY owner, key",
                owner,
            ),
            None => (
                "SELECT id, collection, owner, key, body FROM cuttle_documents
                 WHERE collection = ?1 AND ?2 = ?2 ORDER BY owner, key",
                0,
            ),
        };
        let mut statement = self
            .tx
            .prepare_cached(sql)
            .map_err(db("listing documents"))?;
        let mut rows = statement
            .query(params![collection.name(), owner])
            .map_err(db("listing documents"))?;
        while let Some(row) = rows.next().map_err(db("listing documents"))? {
            visit(into_doc(
                stored_doc(row).map_err(db("reading a listed document"))?,
            )?)?;
        }
        Ok(())
    }

    fn scan_keys(
        &mut self,
        collection: Collection,
        visit: &mut dyn FnMut(KeyRow) -> Result<()>,
    ) -> Result<()> {
        let mut statement = self
            .tx
            .prepare_cached("SELECT id, owner, key FROM cuttle_documents WHERE collection = ?1 ORDER BY owner, key")
            .map_err(db("listing natural keys"))?;
        let mut rows = statement
            .query([collection.name()])
            .map_err(db("listing natural keys"))?;
        while let Some(row) = rows.next().map_err(db("listing natural keys"))? {
            let key_row = KeyRow {
                id: row.get(0).map_err(db("reading a natural key"))?,
                owner: row.get(1).map_err(db("reading a natural key"))?,
                key: row.get(2).map_err(db("reading a natural key"))?,
            };
            visit(key_row)?;
        }
        Ok(())
    }

    fn count(&mut self, collection: Collection) -> Result<u64> {
        self.tx
            .prepare_cached("SELECT count(*) FROM cuttle_documents WHERE collection = ?1")
            .and_then(|mut s| s.query_row([collection.name()], |r| r.get::<_, i64>(0)))
            .map(|n| n as u64)
            .map_err(db("counting documents"))
    }
}

impl WriteTxn for SqliteTxn<'_> {
    fn allocate_ids(&mut self, n: u64) -> Result<Range<DocId>> {
        let next: i64 = self
            .meta(NEXT_ID)?
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| StoreError::Corrupt("the document id counter is missing".into()))?;
        let end = next + n as i64;
        self.set_meta(NEXT_ID, &end.to_string())?;
        Ok(next..end)
    }

    fn insert(&mut self, docs: &[StoredDoc]) -> Result<()> {
        let mut statement = self
            .tx
            .prepare_cached("INSERT INTO cuttle_documents (id, collection, owner, key, body) VALUES (?1, ?2, ?3, ?4, ?5)")
            .map_err(db("preparing to insert documents"))?;
        for doc in docs {
            statement
                .execute(params![
                    doc.id,
                    doc.collection.name(),
                    doc.owner,
                    doc.key,
                    doc.body
                ])
                .map_err(|e| {
                    if is_unique_violation(&e) {
                        StoreError::DuplicateKey {
                            collection: doc.collection.name().to_owned(),
                            key: doc.key.clone(),
                        }
                    } else {
                        StoreError::database("inserting a document", e)
                    }
                })?;
        }
        Ok(())
    }

    fn update(&mut self, doc: &StoredDoc) -> Result<()> {
        let changed = self
            .tx
            .prepare_cached("UPDATE cuttle_documents SET owner = ?2, key = ?3, body = ?4 WHERE id = ?1 AND collection = ?5")
            .and_then(|mut s| s.execute(params![doc.id, doc.owner, doc.key, doc.body, doc.collection.name()]))
            .map_err(|e| {
                if is_unique_violation(&e) {
                    StoreError::DuplicateKey { collection: doc.collection.name().to_owned(), key: doc.key.clone() }
                } else {
                    StoreError::database("updating a document", e)
                }
            })?;
        if changed == 1 {
            Ok(())
        } else {
            Err(StoreError::Corrupt(format!(
                "no {} document with id {} to update",
                doc.collection.name(),
                doc.id
            )))
        }
    }

    fn delete(&mut self, id: DocId) -> Result<()> {
        self.tx
            .prepare_cached("DELETE FROM cuttle_documents WHERE id = ?1")
            .and_then(|mut s| s.execute([id]))
            .map(drop)
            .map_err(db("deleting a document"))
    }

    fn set_meta(&mut self, key: &str, value: &str) -> Result<()> {
        self.tx
            .prepare_cached("INSERT INTO cuttle_meta (key, value) VALUES (?1, ?2) ON CONFLICT (key) DO UPDATE SET value = excluded.value")
            .and_then(|mut s| s.execute([key, value]))
            .map(drop)
            .map_err(db("writing the instance's meta data"))
    }

    fn insert_record(&mut self, kind: RecordKind, key: Option<&str>, body: &str) -> Result<i64> {
        self.tx
            .prepare_cached("INSERT INTO cuttle_records (kind, key, body) VALUES (?1, ?2, ?3)")
            .and_then(|mut s| s.insert(params![kind.name(), key, body]))
            .map_err(|e| {
                if is_unique_violation(&e) {
                    StoreError::DuplicateKey {
                        collection: kind.name().to_owned(),
                        key: key.unwrap_or_default().to_owned(),
                    }
                } else {
                    StoreError::database("inserting a record", e)
                }
            })
    }

    fn update_record(&mut self, kind: RecordKind, id: i64, body: &str) -> Result<()> {
        let changed = self
            .tx
            .prepare_cached("UPDATE cuttle_records SET body = ?3 WHERE kind = ?1 AND id = ?2")
            .and_then(|mut s| s.execute(params![kind.name(), id, body]))
            .map_err(db("updating a record"))?;
        if changed == 0 {
            return Err(StoreError::Corrupt(format!(
                "there is no {} record {id}",
                kind.name()
            )));
        }
        Ok(())
    }

    /// SQLite keeps a transaction's pages in its cache until the commit writes them to the
    /// write-ahead log: flushing the cache writes them there now (as frames no commit marks,
    /// which a rollback leaves unread), so a full disk is found now. Under a rollback journal
    /// ([`Store::write_alone`]) it writes them to the database, each page's original first to
    /// the journal, from which the rollback restores it.
    fn write_out(&mut self) -> Result<()> {
        self.tx
            .cache_flush()
            .map_err(db("writing out what the transaction changed"))
    }

    fn commit(self: Box<Self>) -> Result<()> {
        // What `Transaction::commit` does, which cannot move the transaction out of a `Drop`.
        self.tx.execute_batch("COMMIT").map_err(db("committing"))
    }
}
