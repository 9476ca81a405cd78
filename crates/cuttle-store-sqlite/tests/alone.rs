//! `Store::write_alone` on SQLite: a rollback journal while nothing else has the database open,
//! the database back in WAL once the transaction ends (committed or not); an ordinary write
//! when another connection is open; a connection opened meanwhile waits for the commit.

use std::path::{Path, PathBuf};
use std::time::Duration;

use cuttle_domain::Collection;
use cuttle_store::{NO_OWNER, Store, StoredDoc, WriteTxn};
use cuttle_store_sqlite::SqliteStore;
use tempfile::TempDir;

const DOCS: u64 = 2000;

fn database() -> (TempDir, PathBuf) {
    let dir = TempDir::new().expect("a temporary directory");
    let path = dir.path().join("cuttle.db");
    SqliteStore::open(&path, true)
        .and_then(|mut store| store.initialize(&[]))
        .expect("a new instance");
    (dir, path)
}

fn open(path: &Path) -> SqliteStore {
    SqliteStore::open(path, false).expect("opening the database")
}

/// Whether the database file says it is in WAL mode (bytes 18 and 19 of its header are 2).
fn in_wal(path: &Path) -> bool {
    std::fs::read(path).expect("the database file")[18..20] == [2, 2]
}

fn beside(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

/// Enough environments that the cache spills; written out as a commit would.
fn fill(txn: &mut dyn WriteTxn) {
    let ids = txn.allocate_ids(DOCS).expect("ids");
    let docs: Vec<StoredDoc> = ids
        .map(|id| StoredDoc {
            id,
            collection: Collection::Environments,
            owner: NO_OWNER,
            key: format!("env-{id}"),
            body: format!(
                r#"{{"name":"env-{id}","description":"{}"}}"#,
                "x".repeat(4000)
            ),
        })
        .collect();
    txn.insert(&docs).expect("insert");
    txn.write_out().expect("write out");
}

fn environments(store: &mut dyn Store) -> u64 {
    let mut read = store.read().expect("a read snapshot");
    read.count(Collection::Environments).expect("count")
}

#[test]
fn alone_it_journals_by_rollback_and_the_database_returns_to_wal() {
    let (_dir, path) = database();
    let (journal, wal) = (beside(&path, "-journal"), beside(&path, "-wal"));
    let mut store = open(&path);
    assert!(in_wal(&path));

    let mut txn = store.write_alone().expect("a write");
    fill(&mut *txn);
    assert!(journal.exists(), "a rollback journal");
    assert!(!wal.exists(), "no write-ahead log");
    assert!(!in_wal(&path));
    txn.commit().expect("commit");
    assert!(in_wal(&path), "back to WAL after the commit");
    assert!(!journal.exists());
    assert_eq!(environments(&mut store), DOCS);

    // Rolled back: nothing of it stays, and the database is in WAL again.
    let mut txn = store.write_alone().expect("a write");
    fill(&mut *txn);
    assert!(!in_wal(&path));
    drop(txn);
    assert!(in_wal(&path), "back to WAL after the rollback");
    assert_eq!(environments(&mut store), DOCS);
    assert!(!journal.exists());
}

#[test]
fn with_another_connection_open_it_is_an_ordinary_write() {
    let (_dir, path) = database();
    let mut store = open(&path);
    let mut reader = open(&path);
    assert_eq!(environments(&mut reader), 0);

    let mut txn = store.write_alone().expect("a write");
    fill(&mut *txn);
    assert!(in_wal(&path));
    assert!(!beside(&path, "-journal").exists());
    // The other connection reads the snapshot before the write, without waiting for it.
    assert_eq!(environments(&mut reader), 0);
    txn.commit().expect("commit");
    assert_eq!(environments(&mut reader), DOCS);
    assert!(in_wal(&path));
}

#[test]
fn a_connection_opened_meanwhile_waits_for_the_commit() {
    let (_dir, path) = database();
    let mut store = open(&path);
    let mut txn = store.write_alone().expect("a write");
    fill(&mut *txn);
    assert!(!in_wal(&path));

    let opened = path.clone();
    let reader = std::thread::spawn(move || {
        // Opening reads the database's header, which waits for the write's lock.
        let mut reader = open(&opened);
        (environments(&mut reader), reader)
    });
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        !reader.is_finished(),
        "the other connection waits for the commit"
    );
    txn.commit().expect("commit");
    let (seen, reader) = reader.join().expect("the reader");
    assert_eq!(seen, DOCS);

    // Whichever connection returned it to WAL (the writer's, or the other's as it opened), the
    // database is in WAL again.
    drop((store, reader));
    let mut again = open(&path);
    assert!(in_wal(&path));
    assert_eq!(environments(&mut again), DOCS);
}
