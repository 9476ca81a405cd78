//! What the PostgreSQL backend does beyond the conformance suite: its schema, its migrations, its
//! errors. Each test has a database of its own on the server named by `CUTTLE_TEST_POSTGRES_URL`
//! (skipped when it is not set, unless `CUTTLE_REQUIRE_POSTGRES=1`).

use std::time::Instant;

use cuttle_domain::Collection;
use cuttle_store::{NO_OWNER, Store, StoreError, StoredDoc, meta};
use cuttle_store_postgres::testing::{fresh_database, fresh_database_with};
use cuttle_store_postgres::{PostgresError, PostgresStore, SCHEMA_VERSION};

fn doc(id: i64, collection: Collection, owner: i64, key: &str) -> StoredDoc {
    StoredDoc {
        id,
        collection,
        owner,
        key: key.to_owned(),
        body: format!("{{\"name\":{key:?}}}"),
    }
}

fn initialized(store: &mut PostgresStore) {
    store
        .initialize(&[(meta::IDENTITY, "pg-test")])
        .expect("initialize");
}

/// The error's message and its debug form, which must both be free of secrets.
fn shown(error: &StoreError) -> String {
    format!("{error} / {error:?}")
}

#[test]
fn the_schema_is_as_documented() {
    let Some(db) = fresh_database() else { return };
    let mut store = db.store();
    initialized(&mut store);
    let mut txn = store.write().expect("write");
    let ids = txn.allocate_ids(1).expect("allocate_ids");
    txn.insert(&[doc(
        ids.start,
        Collection::LibraryVariableSets,
        NO_OWNER,
        "Shared",
    )])
    .expect("insert");
    txn.commit().expect("commit");

    let mut client = db.client();
    let version: i64 = client
        .query_one("SELECT version FROM cuttle_schema", &[])
        .unwrap()
        .get(0);
    assert_eq!(version, SCHEMA_VERSION);
    let collection: String = client
        .query_one("SELECT collection FROM cuttle_documents", &[])
        .unwrap()
        .get(0);
    assert_eq!(collection, "library-variable-sets");
    let collations: Vec<(String, String, String)> = client
        .query(
            "SELECT table_name::text, column_name::text, collation_name::text FROM information_schema.columns
             WHERE table_name IN ('cuttle_documents', 'cuttle_meta') AND data_type = 'text'
             ORDER BY table_name, column_name",
            &[],
        )
        .unwrap()
        .iter()
        .map(|row| (row.get(0), row.get(1), row.get::<_, Option<String>>(2).unwrap_or_default()))
        .collect();
    let c = |t: &str, col: &str, coll: &str| (t.to_owned(), col.to_owned(), coll.to_owned());
    assert_eq!(
        collations,
        [
            c("cuttle_documents", "body", ""),
            c("cuttle_documents", "collection", "C"),
            c("cuttle_documents", "key", "C"),
            c("cuttle_meta", "key", "C"),
            c("cuttle_meta", "value", ""),
        ]
    );
}

#[test]
fn migrate_refuses_a_newer_schema() {
    let Some(db) = fresh_database() else { return };
    let mut store = db.store();
    initialized(&mut store);
    db.client()
        .execute("UPDATE cuttle_schema SET version = 999", &[])
        .unwrap();
    match store.migrate() {
        Err(StoreError::SchemaTooNew {
            found: 999,
            supported,
        }) => assert_eq!(supported, SCHEMA_VERSION),
        other => panic!("expected SchemaTooNew, got {other:?}"),
    }
    db.client()
        .execute("DELETE FROM cuttle_schema", &[])
        .unwrap();
    assert!(matches!(store.migrate(), Err(StoreError::Corrupt(_))));
}

#[test]
fn initialize_refuses_a_database_that_is_not_utf8() {
    let Some(db) =
        fresh_database_with("ENCODING 'SQL_ASCII' LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0")
    else {
        return;
    };
    let mut store = db.store();
    let error = store.initialize(&[]).expect_err("initialize on SQL_ASCII");
    assert!(shown(&error).contains("SQL_ASCII"), "{error}");
    assert!(
        matches!(store.migrate(), Err(StoreError::NotAnInstance)),
        "nothing was left behind"
    );
}

#[test]
fn initialize_refuses_a_database_with_part_of_an_instance() {
    let Some(db) = fresh_database() else { return };
    db.client()
        .batch_execute("CREATE TABLE cuttle_meta (key TEXT)")
        .unwrap();
    let mut store = db.store();
    assert!(matches!(
        store.initialize(&[]),
        Err(StoreError::AlreadyAnInstance)
    ));
}

#[test]
fn drop_instance_removes_the_tables_and_the_sequence() {
    let Some(db) = fresh_database() else { return };
    let mut store = db.store();
    initialized(&mut store);
    store.drop_instance().expect("drop_instance");
    let row = db
        .client()
        .query_one(
            "SELECT to_regclass('cuttle_schema')::text, to_regclass('cuttle_meta')::text,
                    to_regclass('cuttle_documents')::text, to_regclass('cuttle_document_ids')::text",
            &[],
        )
        .unwrap();
    for i in 0..4 {
        assert_eq!(
            row.get::<_, Option<String>>(i),
            None,
            "object {i} is still there"
        );
    }
}

#[test]
fn a_failed_statement_makes_the_commit_fail() {
    let Some(db) = fresh_database() else { return };
    let mut store = db.store();
    initialized(&mut store);
    let mut txn = store.write().expect("write");
    let ids = txn.allocate_ids(3).expect("allocate_ids");
    txn.insert(&[doc(ids.start, Collection::Environments, NO_OWNER, "Dev")])
        .expect("insert");
    let error = txn
        .insert(&[doc(
            ids.start + 1,
            Collection::Environments,
            NO_OWNER,
            "Dev",
        )])
        .expect_err("duplicate");
    assert!(
        matches!(error, StoreError::DuplicateKey { .. }),
        "{error:?}"
    );
    let error = txn
        .count(Collection::Environments)
        .expect_err("a statement after the failure");
    assert!(error.to_string().contains("[SQLSTATE 25P02]"), "{error}");
    let error = txn.commit().expect_err("commit after a failure");
    assert!(
        error.to_string().contains("rolled all of it back"),
        "{error}"
    );
    let mut txn = store.read().expect("read");
    assert_eq!(txn.count(Collection::Environments).expect("count"), 0);
}

#[test]
fn a_duplicate_id_is_a_database_error_not_a_duplicate_key() {
    let Some(db) = fresh_database() else { return };
    let mut store = db.store();
    initialized(&mut store);
    let mut txn = store.write().expect("write");
    let id = txn.allocate_ids(1).expect("allocate_ids").start;
    let error = txn
        .insert(&[
            doc(id, Collection::Environments, NO_OWNER, "Dev"),
            doc(id, Collection::Environments, NO_OWNER, "Test"),
        ])
        .expect_err("the same id twice");
    match &error {
        StoreError::Database { context, source } => {
            assert_eq!(*context, "inserting documents");
            let pg = source
                .downcast_ref::<PostgresError>()
                .expect("a PostgresError");
            assert_eq!(pg.sqlstate().map(|s| s.code()), Some("23505"));
            assert!(
                error.to_string().contains("cuttle_documents_pkey"),
                "{error}"
            );
        }
        other => panic!("expected a database error, got {other:?}"),
    }
}

#[test]
fn update_of_a_missing_document_fails() {
    let Some(db) = fresh_database() else { return };
    let mut store = db.store();
    initialized(&mut store);
    let mut txn = store.write().expect("write");
    let error = txn
        .update(&doc(424242, Collection::Environments, NO_OWNER, "Ghost"))
        .expect_err("update of nothing");
    assert!(error.to_string().contains("424242"), "{error}");
    txn.delete(424242).expect("deleting nothing is no error");
}

#[test]
fn a_wrong_password_is_not_repeated() {
    let Some(db) = fresh_database() else { return };
    // The same server, user and database in a `key=value` connection string, with another password.
    let config: postgres::Config = db.url().parse().expect("the test URL");
    let host = match config.get_hosts().first().expect("a host") {
        postgres::config::Host::Tcp(host) => host.clone(),
        postgres::config::Host::Unix(path) => path.display().to_string(),
    };
    let url = format!(
        "host={host} port={} user={} dbname={} password=not-the-Password-xyzzy",
        config.get_ports().first().copied().unwrap_or(5432),
        config.get_user().expect("a user"),
        db.name(),
    );
    let error = PostgresStore::connect(&url).expect_err("a wrong password");
    let shown = shown(&error);
    assert!(!shown.contains("xyzzy"), "{shown}");
    assert!(
        shown.contains("connecting to the PostgreSQL server"),
        "{shown}"
    );
}

#[test]
fn an_unreachable_server_is_reported_without_the_password() {
    // Port 1 on the loopback: nothing listens there, so this needs no server.
    let error = PostgresStore::connect(
        "postgres://cuttle:s3cret-plugh@127.0.0.1:1/cuttle?connect_timeout=5",
    )
    .expect_err("nothing listens on port 1");
    let shown = shown(&error);
    assert!(!shown.contains("plugh"), "{shown}");
    assert!(
        shown.starts_with("connecting to the PostgreSQL server: error connecting to server"),
        "{shown}"
    );
}

/// The import's scale: 200,000 documents in one `insert`, then streamed back.
#[test]
fn bulk_insert_of_two_hundred_thousand() {
    const N: i64 = 200_000;
    let Some(db) = fresh_database() else { return };
    let mut store = db.store();
    initialized(&mut store);
    let body = "b".repeat(400);
    let started = Instant::now();
    let mut txn = store.write().expect("write");
    let ids = txn.allocate_ids(N as u64).expect("allocate_ids");
    let docs: Vec<StoredDoc> = ids
        .map(|id| StoredDoc {
            id,
            collection: Collection::Deployments,
            owner: 1 + id % 50,
            key: format!("release {id}/Production//{id}"),
            body: body.clone(),
        })
        .collect();
    txn.insert(&docs).expect("insert");
    txn.commit().expect("commit");
    let inserted = started.elapsed();
    let started = Instant::now();
    let mut txn = store.read().expect("read");
    let mut seen = 0;
    txn.scan(Collection::Deployments, None, &mut |_| {
        seen += 1;
        Ok(())
    })
    .expect("scan");
    assert_eq!(seen, N);
    eprintln!(
        "{N} documents: inserted in {inserted:?}, scanned in {:?}",
        started.elapsed()
    );
}

#[test]
fn ids_are_never_reused_even_after_a_rollback() {
    let Some(db) = fresh_database() else { return };
    let mut store = db.store();
    initialized(&mut store);
    let rolled_back = {
        let mut txn = store.write().expect("write");
        txn.allocate_ids(5).expect("allocate_ids")
        // Dropped: rolls back.
    };
    let mut other = db.store();
    let mut txn = other.write().expect("write");
    let next = txn.allocate_ids(5).expect("allocate_ids");
    assert!(
        next.start >= rolled_back.end,
        "{next:?} after the rolled-back {rolled_back:?}"
    );
}

#[test]
fn drop_instance_without_an_instance_fails() {
    let Some(db) = fresh_database() else { return };
    let mut store = db.store();
    assert!(matches!(
        store.drop_instance(),
        Err(StoreError::NotAnInstance)
    ));
    initialized(&mut store);
    store.drop_instance().expect("drop_instance");
    assert!(matches!(
        store.drop_instance(),
        Err(StoreError::NotAnInstance)
    ));
}
