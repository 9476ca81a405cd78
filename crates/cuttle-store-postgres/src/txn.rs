//! The read and write transactions: one type, over a `postgres::Transaction` borrowed from the
//! store's connection. [`crate::PostgresStore::read`] hands it out as a [`ReadTxn`] in a read-only
//! snapshot, [`crate::PostgresStore::write`] as a [`WriteTxn`] holding the writer lock.

use std::collections::HashMap;
use std::ops::Range;

use cuttle_domain::Collection;
use cuttle_store::{
    DocId, KeyRow, ReadTxn, Record, RecordKind, Result, StoreError, StoredDoc, WriteTxn,
};
use postgres::binary_copy::BinaryCopyInWriter;
use postgres::fallible_iterator::FallibleIterator;
use postgres::types::{FromSql, ToSql, Type};
use postgres::{Row, Statement, Transaction};

use crate::error::{PostgresError, database, database_message, write_error};

/// Up to this many documents, [`WriteTxn::insert`] sends one `INSERT`; above, a binary `COPY`,
/// which costs a round trip more to set up and much less per row.
const INSERT_MAX_ROWS: usize = 32;

pub(crate) const META: &str = "SELECT value FROM cuttle_meta WHERE key = $1";
const SET_META: &str = "INSERT INTO cuttle_meta (key, value) VALUES ($1, $2)
     ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value";
const GET: &str = "SELECT collection, owner, key, body FROM cuttle_documents WHERE id = $1";
const FIND: &str =
    "SELECT id, body FROM cuttle_documents WHERE collection = $1 AND owner = $2 AND key = $3";
const FIND_ID: &str =
    "SELECT id FROM cuttle_documents WHERE collection = $1 AND owner = $2 AND key = $3";
/// Many lookups in one statement: the keys travel as two arrays, numbered by `ordinality`.
const FIND_IDS: &str = "SELECT k.i, d.id
     FROM unnest($2::BIGINT[], $3::TEXT[]) WITH ORDINALITY AS k(owner, key, i)
     JOIN cuttle_documents d ON d.collection = $1 AND d.owner = k.owner AND d.key = k.key";
/// Many documents by id, in the order asked.
const GET_MANY: &str = "SELECT d.id, d.collection, d.owner, d.key, d.body
     FROM unnest($1::BIGINT[]) WITH ORDINALITY AS k(id, i)
     JOIN cuttle_documents d ON d.id = k.id ORDER BY k.i";
/// Many documents' addresses by id, in the order asked.
const ADDRESSES: &str = "SELECT d.id, d.collection, d.owner, d.key
     FROM unnest($1::BIGINT[]) WITH ORDINALITY AS k(id, i)
     JOIN cuttle_documents d ON d.id = k.id ORDER BY k.i";
/// At most this many keys go in one [`FIND_IDS`].
const FIND_IDS_CHUNK: usize = 10_000;
const SCAN: &str =
    "SELECT id, owner, key, body FROM cuttle_documents WHERE collection = $1 ORDER BY owner, key";
const SCAN_OWNER: &str = "SELECT id, owner, key, body FROM cuttle_documents
     WHERE collection = $1 AND owner = $2 ORDER BY owner, key";
const SCAN_KEYS: &str =
    "SELECT id, owner, key FROM cuttle_documents WHERE collection = $1 ORDER BY owner, key";
const COUNT: &str = "SELECT count(*) FROM cuttle_documents WHERE collection = $1";
/// The writer lock keeps every other Cuttle writer from taking ids between `nextval` and
/// `setval`, so the range is contiguous.
const ALLOCATE: &str =
    "SELECT setval('cuttle_document_ids', nextval('cuttle_document_ids') + $1 - 1)";
/// One statement for any number of rows: the columns travel as five arrays.
const INSERT: &str = "INSERT INTO cuttle_documents (id, collection, owner, key, body)
     SELECT * FROM unnest($1::BIGINT[], $2::TEXT[], $3::BIGINT[], $4::TEXT[], $5::TEXT[])";
const COPY: &str =
    "COPY cuttle_documents (id, collection, owner, key, body) FROM STDIN (FORMAT binary)";
const COPY_TYPES: &[Type] = &[Type::INT8, Type::TEXT, Type::INT8, Type::TEXT, Type::TEXT];
const UPDATE: &str = "UPDATE cuttle_documents SET key = $2, body = $3 WHERE id = $1";
const DELETE: &str = "DELETE FROM cuttle_documents WHERE id = $1";
const RECORD: &str = "SELECT id, kind, key, body FROM cuttle_records WHERE kind = $1 AND key = $2";
const RECORDS_AFTER: &str = "SELECT id, kind, key, body FROM cuttle_records WHERE kind = $1 AND id > $2 ORDER BY id LIMIT $3";
const RECORDS_BEFORE: &str = "SELECT id, kind, key, body FROM cuttle_records WHERE kind = $1 AND id < $2 ORDER BY id DESC LIMIT $3";
const INSERT_RECORD: &str =
    "INSERT INTO cuttle_records (kind, key, body) VALUES ($1, $2, $3) RETURNING id";
const UPDATE_RECORD: &str = "UPDATE cuttle_records SET body = $3 WHERE kind = $1 AND id = $2";

fn record_of(row: &Row) -> Result<Record> {
    let kind: String = column(row, 1)?;
    Ok(Record {
        kind: RecordKind::ALL
            .into_iter()
            .find(|k| k.name() == kind)
            .ok_or_else(|| StoreError::Corrupt(format!("unknown record kind {kind:?}")))?,
        id: column(row, 0)?,
        key: column(row, 2)?,
        body: column(row, 3)?,
    })
}

/// A transaction of a [`crate::PostgresStore`].
pub(crate) struct Txn<'a> {
    txn: Transaction<'a>,
    /// The statements prepared on the connection, by their text.
    statements: &'a mut HashMap<&'static str, Statement>,
    /// Whether a statement has failed: PostgreSQL then refuses the rest of the transaction, and
    /// its `COMMIT` would quietly roll back.
    failed: bool,
}

/// Whether `key` holds a NUL character, which PostgreSQL's text cannot hold (a query with one
/// fails): no stored key holds one, so a lookup of such a key finds nothing, as on SQLite.
fn holds_nul(key: &str) -> bool {
    key.contains('\0')
}

/// Notes that a statement failed, and says what was being done.
fn failed(flag: &mut bool, context: &'static str, error: postgres::Error) -> StoreError {
    *flag = true;
    database(context, error)
}

/// Column `index` of `row`.
pub(crate) fn column<'r, T: FromSql<'r>>(row: &'r Row, index: usize) -> Result<T> {
    row.try_get(index).map_err(|e| {
        StoreError::Corrupt(format!(
            "column {index} of a row: {}",
            PostgresError::from(e)
        ))
    })
}

fn collection_named(name: &str, id: DocId) -> Result<Collection> {
    Collection::from_name(name).ok_or_else(|| {
        StoreError::Corrupt(format!(
            "document {id} belongs to the unknown collection {name:?}"
        ))
    })
}

impl<'a> Txn<'a> {
    pub(crate) fn new(
        txn: Transaction<'a>,
        statements: &'a mut HashMap<&'static str, Statement>,
    ) -> Self {
        Txn {
            txn,
            statements,
            failed: false,
        }
    }

    /// `sql`, prepared once per connection.
    fn statement(&mut self, sql: &'static str, context: &'static str) -> Result<Statement> {
        if let Some(statement) = self.statements.get(sql) {
            return Ok(statement.clone());
        }
        let statement = self
            .txn
            .prepare(sql)
            .map_err(|e| failed(&mut self.failed, context, e))?;
        self.statements.insert(sql, statement.clone());
        Ok(statement)
    }

    /// One `INSERT` of every document.
    /// The rows `sql` gives for `ids` (its one parameter, an array), in chunks, each turned into
    /// a `T` by `read`.
    fn by_ids<T>(
        &mut self,
        sql: &'static str,
        context: &'static str,
        ids: &[DocId],
        read: impl Fn(&Row) -> Result<T>,
    ) -> Result<Vec<T>> {
        let statement = self.statement(sql, context)?;
        let mut found = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(FIND_IDS_CHUNK) {
            let rows = self
                .txn
                .query(&statement, &[&chunk])
                .map_err(|e| failed(&mut self.failed, context, e))?;
            for row in &rows {
                found.push(read(row)?);
            }
        }
        Ok(found)
    }

    fn insert_rows(&mut self, docs: &[StoredDoc]) -> Result<()> {
        const CONTEXT: &str = "inserting documents";
        let statement = self.statement(INSERT, CONTEXT)?;
        let ids: Vec<DocId> = docs.iter().map(|d| d.id).collect();
        let collections: Vec<&str> = docs.iter().map(|d| d.collection.name()).collect();
        let owners: Vec<DocId> = docs.iter().map(|d| d.owner).collect();
        let keys: Vec<&str> = docs.iter().map(|d| d.key.as_str()).collect();
        let bodies: Vec<&str> = docs.iter().map(|d| d.body.as_str()).collect();
        self.txn
            .execute(&statement, &[&ids, &collections, &owners, &keys, &bodies])
            .map_err(|e| {
                self.failed = true;
                write_error(CONTEXT, e, docs)
            })?;
        Ok(())
    }

    /// A binary `COPY` of every document, streamed to the server as it is encoded.
    fn copy_rows(&mut self, docs: &[StoredDoc]) -> Result<()> {
        const CONTEXT: &str = "copying documents into the database";
        let statement = self.statement(COPY, CONTEXT)?;
        let writer = self
            .txn
            .copy_in(&statement)
            .map_err(|e| failed(&mut self.failed, CONTEXT, e))?;
        let mut writer = BinaryCopyInWriter::new(writer, COPY_TYPES);
        let mut write_failed = |e| {
            self.failed = true;
            write_error(CONTEXT, e, docs)
        };
        for doc in docs {
            let collection = doc.collection.name();
            writer
                .write(&[&doc.id, &collection, &doc.owner, &doc.key, &doc.body])
                .map_err(&mut write_failed)?;
        }
        writer.finish().map_err(write_failed)?;
        Ok(())
    }
}

impl ReadTxn for Txn<'_> {
    fn record(&mut self, kind: RecordKind, key: &str) -> Result<Option<Record>> {
        const CONTEXT: &str = "reading a record";
        if holds_nul(key) {
            return Ok(None);
        }
        let statement = self.statement(RECORD, CONTEXT)?;
        let row = self
            .txn
            .query_opt(&statement, &[&kind.name(), &key])
            .map_err(|e| failed(&mut self.failed, CONTEXT, e))?;
        row.map(|row| record_of(&row)).transpose()
    }

    fn records(
        &mut self,
        kind: RecordKind,
        after: i64,
        limit: usize,
        newest_first: bool,
    ) -> Result<Vec<Record>> {
        const CONTEXT: &str = "reading records";
        let sql = if newest_first {
            RECORDS_BEFORE
        } else {
            RECORDS_AFTER
        };
        let statement = self.statement(sql, CONTEXT)?;
        let rows = self
            .txn
            .query(&statement, &[&kind.name(), &after, &(limit as i64)])
            .map_err(|e| failed(&mut self.failed, CONTEXT, e))?;
        rows.iter().map(record_of).collect()
    }

    fn meta(&mut self, key: &str) -> Result<Option<String>> {
        const CONTEXT: &str = "reading a meta value";
        let statement = self.statement(META, CONTEXT)?;
        let row = self
            .txn
            .query_opt(&statement, &[&key])
            .map_err(|e| failed(&mut self.failed, CONTEXT, e))?;
        row.map(|row| column(&row, 0)).transpose()
    }

    fn get(&mut self, id: DocId) -> Result<Option<StoredDoc>> {
        const CONTEXT: &str = "reading a document";
        let statement = self.statement(GET, CONTEXT)?;
        let row = self
            .txn
            .query_opt(&statement, &[&id])
            .map_err(|e| failed(&mut self.failed, CONTEXT, e))?;
        let Some(row) = row else { return Ok(None) };
        Ok(Some(StoredDoc {
            id,
            collection: collection_named(column(&row, 0)?, id)?,
            owner: column(&row, 1)?,
            key: column(&row, 2)?,
            body: column(&row, 3)?,
        }))
    }

    fn find(
        &mut self,
        collection: Collection,
        owner: DocId,
        key: &str,
    ) -> Result<Option<StoredDoc>> {
        const CONTEXT: &str = "finding a document";
        if holds_nul(key) {
            return Ok(None);
        }
        let statement = self.statement(FIND, CONTEXT)?;
        let row = self
            .txn
            .query_opt(&statement, &[&collection.name(), &owner, &key])
            .map_err(|e| failed(&mut self.failed, CONTEXT, e))?;
        let Some(row) = row else { return Ok(None) };
        Ok(Some(StoredDoc {
            id: column(&row, 0)?,
            collection,
            owner,
            key: key.to_owned(),
            body: column(&row, 1)?,
        }))
    }

    fn find_id(
        &mut self,
        collection: Collection,
        owner: DocId,
        key: &str,
    ) -> Result<Option<DocId>> {
        const CONTEXT: &str = "finding a document's id";
        if holds_nul(key) {
            return Ok(None);
        }
        let statement = self.statement(FIND_ID, CONTEXT)?;
        let row = self
            .txn
            .query_opt(&statement, &[&collection.name(), &owner, &key])
            .map_err(|e| failed(&mut self.failed, CONTEXT, e))?;
        row.map(|row| column(&row, 0)).transpose()
    }

    fn find_ids(
        &mut self,
        collection: Collection,
        keys: &[(DocId, &str)],
    ) -> Result<Vec<Option<DocId>>> {
        const CONTEXT: &str = "finding documents' ids";
        let statement = self.statement(FIND_IDS, CONTEXT)?;
        let mut found = vec![None; keys.len()];
        for (chunk_index, chunk) in keys.chunks(FIND_IDS_CHUNK).enumerate() {
            let owners: Vec<DocId> = chunk.iter().map(|(owner, _)| *owner).collect();
            // A key no document can have (see `holds_nul`) asks for "\u{1}" instead, which no
            // stored key is either (names hold no control character).
            let names: Vec<&str> = chunk
                .iter()
                .map(|(_, key)| if holds_nul(key) { "\u{1}" } else { *key })
                .collect();
            let rows = self
                .txn
                .query(&statement, &[&collection.name(), &owners, &names])
                .map_err(|e| failed(&mut self.failed, CONTEXT, e))?;
            for row in rows {
                let ordinal: i64 = column(&row, 0)?;
                let position = chunk_index * FIND_IDS_CHUNK + ordinal as usize - 1;
                found[position] = Some(column(&row, 1)?);
            }
        }
        Ok(found)
    }

    fn get_many(&mut self, ids: &[DocId]) -> Result<Vec<StoredDoc>> {
        self.by_ids(GET_MANY, "reading documents", ids, |row| {
            let id: DocId = column(row, 0)?;
            Ok(StoredDoc {
                id,
                collection: collection_named(column(row, 1)?, id)?,
                owner: column(row, 2)?,
                key: column(row, 3)?,
                body: column(row, 4)?,
            })
        })
    }

    fn addresses(&mut self, ids: &[DocId]) -> Result<Vec<(Collection, KeyRow)>> {
        self.by_ids(ADDRESSES, "reading documents' addresses", ids, |row| {
            let id: DocId = column(row, 0)?;
            Ok((
                collection_named(column(row, 1)?, id)?,
                KeyRow {
                    id,
                    owner: column(row, 2)?,
                    key: column(row, 3)?,
                },
            ))
        })
    }

    fn scan(
        &mut self,
        collection: Collection,
        owner: Option<DocId>,
        visit: &mut dyn FnMut(StoredDoc) -> Result<()>,
    ) -> Result<()> {
        const CONTEXT: &str = "reading the documents of a collection";
        let name = collection.name();
        let mut params: Vec<&(dyn ToSql + Sync)> = vec![&name];
        if let Some(owner) = &owner {
            params.push(owner);
        }
        let statement = self.statement(if owner.is_some() { SCAN_OWNER } else { SCAN }, CONTEXT)?;
        let mut rows = self
            .txn
            .query_raw(&statement, params.iter().copied())
            .map_err(|e| failed(&mut self.failed, CONTEXT, e))?;
        while let Some(row) = rows
            .next()
            .map_err(|e| failed(&mut self.failed, CONTEXT, e))?
        {
            visit(StoredDoc {
                id: column(&row, 0)?,
                collection,
                owner: column(&row, 1)?,
                key: column(&row, 2)?,
                body: column(&row, 3)?,
            })?;
        }
        Ok(())
    }

    fn scan_keys(
        &mut self,
        collection: Collection,
        visit: &mut dyn FnMut(KeyRow) -> Result<()>,
    ) -> Result<()> {
        const CONTEXT: &str = "reading the keys of a collection";
        let name = collection.name();
        let statement = self.statement(SCAN_KEYS, CONTEXT)?;
        let mut rows = self
            .txn
            .query_raw(&statement, [&name as &(dyn ToSql + Sync)])
            .map_err(|e| failed(&mut self.failed, CONTEXT, e))?;
        while let Some(row) = rows
            .next()
            .map_err(|e| failed(&mut self.failed, CONTEXT, e))?
        {
            visit(KeyRow {
                id: column(&row, 0)?,
                owner: column(&row, 1)?,
                key: column(&row, 2)?,
            })?;
        }
        Ok(())
    }

    fn count(&mut self, collection: Collection) -> Result<u64> {
        const CONTEXT: &str = "counting the documents of a collection";
        let statement = self.statement(COUNT, CONTEXT)?;
        let row = self
            .txn
            .query_one(&statement, &[&collection.name()])
            .map_err(|e| failed(&mut self.failed, CONTEXT, e))?;
        let count: i64 = column(&row, 0)?;
        u64::try_from(count)
            .map_err(|_| StoreError::Corrupt(format!("PostgreSQL counted {count} documents")))
    }
}

impl WriteTxn for Txn<'_> {
    fn allocate_ids(&mut self, n: u64) -> Result<Range<DocId>> {
        const CONTEXT: &str = "allocating document ids";
        if n == 0 {
            return Ok(0..0);
        }
        let count = i64::try_from(n)
            .map_err(|_| database_message(CONTEXT, format!("{n} ids are too many")))?;
        let statement = self.statement(ALLOCATE, CONTEXT)?;
        let row = self
            .txn
            .query_one(&statement, &[&count])
            .map_err(|e| failed(&mut self.failed, CONTEXT, e))?;
        let last: DocId = column(&row, 0)?;
        // The sequence starts at 1, so `last` is at least `count`; `end` only overflows at the
        // sequence's very end.
        let start = last - (count - 1);
        let end = last.checked_add(1).ok_or_else(|| {
            database_message(CONTEXT, "the document ids are exhausted".to_owned())
        })?;
        Ok(start..end)
    }

    fn insert(&mut self, docs: &[StoredDoc]) -> Result<()> {
        match docs.len() {
            0 => Ok(()),
            n if n <= INSERT_MAX_ROWS => self.insert_rows(docs),
            _ => self.copy_rows(docs),
        }
    }

    fn update(&mut self, doc: &StoredDoc) -> Result<()> {
        const CONTEXT: &str = "updating a document";
        let statement = self.statement(UPDATE, CONTEXT)?;
        let updated = self
            .txn
            .execute(&statement, &[&doc.id, &doc.key, &doc.body])
            .map_err(|e| {
                self.failed = true;
                write_error(CONTEXT, e, std::slice::from_ref(doc))
            })?;
        if updated == 0 {
            return Err(database_message(
                CONTEXT,
                format!("there is no document with the id {}", doc.id),
            ));
        }
        Ok(())
    }

    fn delete(&mut self, id: DocId) -> Result<()> {
        const CONTEXT: &str = "deleting a document";
        let statement = self.statement(DELETE, CONTEXT)?;
        self.txn
            .execute(&statement, &[&id])
            .map_err(|e| failed(&mut self.failed, CONTEXT, e))?;
        Ok(())
    }

    fn set_meta(&mut self, key: &str, value: &str) -> Result<()> {
        const CONTEXT: &str = "recording a meta value";
        let statement = self.statement(SET_META, CONTEXT)?;
        self.txn
            .execute(&statement, &[&key, &value])
            .map_err(|e| failed(&mut self.failed, CONTEXT, e))?;
        Ok(())
    }

    fn insert_record(&mut self, kind: RecordKind, key: Option<&str>, body: &str) -> Result<i64> {
        const CONTEXT: &str = "inserting a record";
        let statement = self.statement(INSERT_RECORD, CONTEXT)?;
        let row = self
            .txn
            .query_one(&statement, &[&kind.name(), &key, &body])
            .map_err(|e| {
                self.failed = true;
                if e.code() == Some(&postgres::error::SqlState::UNIQUE_VIOLATION) {
                    StoreError::DuplicateKey {
                        collection: kind.name().to_owned(),
                        key: key.unwrap_or_default().to_owned(),
                    }
                } else {
                    database(CONTEXT, e)
                }
            })?;
        column(&row, 0)
    }

    fn update_record(&mut self, kind: RecordKind, id: i64, body: &str) -> Result<()> {
        const CONTEXT: &str = "updating a record";
        let statement = self.statement(UPDATE_RECORD, CONTEXT)?;
        let updated = self
            .txn
            .execute(&statement, &[&kind.name(), &id, &body])
            .map_err(|e| failed(&mut self.failed, CONTEXT, e))?;
        if updated == 0 {
            return Err(database_message(
                CONTEXT,
                format!("there is no {} record {id}", kind.name()),
            ));
        }
        Ok(())
    }

    /// PostgreSQL writes a transaction's changes to its log as it goes (and checks no
    /// constraint at commit: none is deferred), so what a commit would fail at, the statements
    /// have already met; only a transaction whose statement failed is refused here, as its
    /// commit would be.
    fn write_out(&mut self) -> Result<()> {
        if self.failed {
            return Err(database_message(
                "writing out the write transaction",
                "a statement of this transaction failed, so PostgreSQL rolled all of it back"
                    .to_owned(),
            ));
        }
        Ok(())
    }

    fn commit(self: Box<Self>) -> Result<()> {
        const CONTEXT: &str = "committing the write transaction";
        if self.failed {
            // Dropping the transaction rolls it back.
            return Err(database_message(
                CONTEXT,
                "a statement of this transaction failed, so PostgreSQL rolled all of it back"
                    .to_owned(),
            ));
        }
        let this = *self;
        this.txn.commit().map_err(|e| database(CONTEXT, e))
    }
}
