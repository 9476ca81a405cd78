//! The conformance suite: what every [`Store`] backend must do, checked the same way for each
//! (feature `conformance`).
//!
//! A backend's tests hand the suite databases through [`TestDb`]: each is fresh (empty, holding
//! no instance), and can be connected to more than once, so that the suite can watch one
//! connection from another. Then either one `#[test]` per case:
//!
//! ```ignore
//! fn fresh() -> Option<Box<dyn cuttle_store::conformance::TestDb>> {
//!     // a new, empty database; `None` skips the case (say why on stderr)
//! }
//! cuttle_store::conformance_tests!(fresh);
//! ```
//!
//! or every case in one test, with [`run_all`]. The cases are the `pub fn`s of this module,
//! listed in [`CASES`]; each panics when the backend falls short.

use std::ops::Range;
use std::sync::mpsc;
use std::time::Duration;

use cuttle_domain::{COLLECTIONS, Collection};

use crate::{DocId, KeyRow, NO_OWNER, ReadTxn, Store, StoreError, StoredDoc, WriteTxn, meta};

/// One test's database.
pub trait TestDb {
    /// A new connection to this database. Every connection sees the same database, which is
    /// empty and holds no instance until a case initializes it.
    fn connect(&self) -> Box<dyn Store>;
}

/// A conformance case.
pub type Case = fn(&dyn TestDb);

/// Every case, by name.
pub const CASES: &[(&str, Case)] = &[
    ("initialize_then_migrate", initialize_then_migrate),
    ("migrate_requires_an_instance", migrate_requires_an_instance),
    ("initialize_twice_fails", initialize_twice_fails),
    ("insert_then_read_back", insert_then_read_back),
    ("every_collection_round_trips", every_collection_round_trips),
    ("duplicate_keys_are_refused", duplicate_keys_are_refused),
    ("dropped_write_rolls_back", dropped_write_rolls_back),
    (
        "commit_is_visible_to_later_reads",
        commit_is_visible_to_later_reads,
    ),
    (
        "keys_are_compared_byte_by_byte",
        keys_are_compared_byte_by_byte,
    ),
    (
        "allocated_ids_are_never_reused",
        allocated_ids_are_never_reused,
    ),
    (
        "read_snapshot_ignores_later_commits",
        read_snapshot_ignores_later_commits,
    ),
    ("writers_take_turns", writers_take_turns),
    ("bulk_insert_of_ten_thousand", bulk_insert_of_ten_thousand),
    ("update_changes_key_and_body", update_changes_key_and_body),
    ("delete_removes", delete_removes),
    ("meta_values", meta_values),
    ("records_are_kept_apart", records_are_kept_apart),
    (
        "a_key_with_a_nul_finds_nothing",
        a_key_with_a_nul_finds_nothing,
    ),
    (
        "scan_stops_at_the_visitors_error",
        scan_stops_at_the_visitors_error,
    ),
    (
        "drop_instance_removes_everything",
        drop_instance_removes_everything,
    ),
];

/// Runs every case, each on a database of its own from `fresh`.
pub fn run_all(fresh: &dyn Fn() -> Box<dyn TestDb>) {
    for (name, case) in CASES {
        let _announce = Announce(name);
        let db = fresh();
        case(&*db);
    }
}

/// Names the failing case when [`run_all`] panics.
struct Announce(&'static str);

impl Drop for Announce {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("store conformance case `{}` failed", self.0);
        }
    }
}

/// One `#[test]` per conformance case, each on a database of its own.
///
/// `$fresh` is a function or closure of type `fn() -> Option<Box<dyn TestDb>>`; `None` skips the
/// case (the function should say why on stderr). The expansion also checks that it runs every
/// case of [`CASES`].
#[macro_export]
macro_rules! conformance_tests {
    ($fresh:expr) => {
        $crate::conformance_tests!(@cases $fresh;
            initialize_then_migrate
            migrate_requires_an_instance
            initialize_twice_fails
            insert_then_read_back
            every_collection_round_trips
            duplicate_keys_are_refused
            dropped_write_rolls_back
            commit_is_visible_to_later_reads
            keys_are_compared_byte_by_byte
            allocated_ids_are_never_reused
            read_snapshot_ignores_later_commits
            writers_take_turns
            bulk_insert_of_ten_thousand
            update_changes_key_and_body
            delete_removes
            meta_values
            records_are_kept_apart
            a_key_with_a_nul_finds_nothing
            scan_stops_at_the_visitors_error
            drop_instance_removes_everything
        );
    };
    (@cases $fresh:expr; $($case:ident)*) => {
        $(
            #[test]
            fn $case() {
                let fresh: fn() -> ::std::option::Option<::std::boxed::Box<dyn $crate::conformance::TestDb>> = $fresh;
                if let ::std::option::Option::Some(db) = fresh() {
                    $crate::conformance::$case(&*db);
                }
            }
        )*

        #[test]
        fn conformance_runs_every_case() {
            let listed: &[&str] = &[$(stringify!($case)),*];
            let all: ::std::vec::Vec<&str> = $crate::conformance::CASES.iter().map(|(name, _)| *name).collect();
            assert_eq!(listed, all.as_slice());
        }
    };
}

// ---------------------------------------------------------------------------------------------
// Helpers.

/// The meta values every case's instance starts with.
const META: &[(&str, &str)] = &[
    (meta::IDENTITY, "conformance-instance"),
    (meta::PRODUCT_VERSION, "0.0.0-conformance"),
    (meta::DOMAIN_VERSION, "1"),
    (meta::MASTER_KEY_CHECK, "check-value"),
    (meta::CREATED, "2024-05-06T07:08:09Z"),
];

/// A connection to `db`, initialized with [`META`].
fn initialized(db: &dyn TestDb) -> Box<dyn Store> {
    let mut store = db.connect();
    store
        .initialize(META)
        .expect("initializing a fresh database");
    store
}

fn doc(id: DocId, collection: Collection, owner: DocId, key: &str) -> StoredDoc {
    StoredDoc {
        id,
        collection,
        owner,
        key: key.to_owned(),
        body: format!(
            r#"{{"name":{},"id":{id},"note":"naïve \"quotes\" ✓"}}"#,
            json_string(key)
        ),
    }
}

fn json_string(s: &str) -> String {
    let mut out = String::from('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if u32::from(c) < 0x20 => out.push_str(&format!("\\u{:04x}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn ids(txn: &mut dyn WriteTxn, n: u64) -> Range<DocId> {
    let range = txn.allocate_ids(n).expect("allocating ids");
    assert_eq!(
        range.end - range.start,
        n as DocId,
        "allocate_ids({n}) gave {range:?}"
    );
    range
}

fn write(store: &mut dyn Store) -> Box<dyn WriteTxn + '_> {
    store.write().expect("starting a write transaction")
}

fn read(store: &mut dyn Store) -> Box<dyn ReadTxn + '_> {
    store.read().expect("starting a read transaction")
}

fn scan_all<T: ReadTxn + ?Sized>(
    txn: &mut T,
    collection: Collection,
    owner: Option<DocId>,
) -> Vec<StoredDoc> {
    let mut docs = Vec::new();
    txn.scan(collection, owner, &mut |doc| {
        docs.push(doc);
        Ok(())
    })
    .expect("scanning");
    docs
}

fn scan_keys_all<T: ReadTxn + ?Sized>(txn: &mut T, collection: Collection) -> Vec<KeyRow> {
    let mut rows = Vec::new();
    txn.scan_keys(collection, &mut |row| {
        rows.push(row);
        Ok(())
    })
    .expect("scanning keys");
    rows
}

/// `docs` in the order of a scan: by owner, then by the key's bytes.
fn in_scan_order(docs: &[StoredDoc]) -> Vec<StoredDoc> {
    let mut sorted = docs.to_vec();
    sorted.sort_by(|a, b| (a.owner, a.key.as_bytes()).cmp(&(b.owner, b.key.as_bytes())));
    sorted
}

fn expect_err<T>(result: crate::Result<T>, what: &str) -> StoreError {
    match result {
        Ok(_) => panic!("{what}: succeeded, but should have failed"),
        Err(e) => e,
    }
}

fn assert_duplicate(error: StoreError, collection: Collection, key: &str) {
    match error {
        StoreError::DuplicateKey {
            collection: c,
            key: k,
        } => {
            assert_eq!(
                (c.as_str(), k.as_str()),
                (collection.name(), key),
                "the duplicate reported"
            );
        }
        other => panic!("expected DuplicateKey for {key:?}, got {other:?}"),
    }
}

fn assert_disjoint(ranges: &[Range<DocId>]) {
    for (i, a) in ranges.iter().enumerate() {
        assert!(!a.contains(&NO_OWNER), "{a:?} holds NO_OWNER");
        for b in &ranges[i + 1..] {
            assert!(
                a.end <= b.start || b.end <= a.start,
                "{a:?} and {b:?} overlap"
            );
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Cases.

/// `initialize` creates an instance with its meta values; `migrate` then finds nothing to do, on
/// this connection and on another.
pub fn initialize_then_migrate(db: &dyn TestDb) {
    let mut store = db.connect();
    assert!(store.schema_version() >= 1);
    store.initialize(META).expect("initialize");
    {
        let mut txn = read(&mut *store);
        for (key, value) in META {
            assert_eq!(
                txn.meta(key).expect("meta").as_deref(),
                Some(*value),
                "meta {key}"
            );
        }
        assert_eq!(txn.meta("no-such-key").expect("meta"), None);
        assert_eq!(txn.count(Collection::Environments).expect("count"), 0);
    }
    store.migrate().expect("migrate after initialize");
    store.migrate().expect("migrate again");
    let mut other = db.connect();
    other.migrate().expect("migrate from another connection");
    let mut txn = read(&mut *other);
    assert_eq!(
        txn.meta(meta::IDENTITY).expect("meta").as_deref(),
        Some("conformance-instance")
    );
}

/// `migrate` on an empty database fails with `NotAnInstance` and leaves it empty.
pub fn migrate_requires_an_instance(db: &dyn TestDb) {
    let mut store = db.connect();
    let error = expect_err(store.migrate(), "migrate on an empty database");
    assert!(matches!(error, StoreError::NotAnInstance), "{error:?}");
    store
        .initialize(META)
        .expect("initialize after the failed migrate");
}

/// A second `initialize`, from any connection, fails with `AlreadyAnInstance` and changes nothing.
pub fn initialize_twice_fails(db: &dyn TestDb) {
    let mut store = initialized(db);
    let other_meta = [(meta::IDENTITY, "impostor")];
    let error = expect_err(store.initialize(&other_meta), "initialize twice");
    assert!(matches!(error, StoreError::AlreadyAnInstance), "{error:?}");
    let mut other = db.connect();
    let error = expect_err(
        other.initialize(&other_meta),
        "initialize from another connection",
    );
    assert!(matches!(error, StoreError::AlreadyAnInstance), "{error:?}");
    let mut txn = read(&mut *store);
    assert_eq!(
        txn.meta(meta::IDENTITY).expect("meta").as_deref(),
        Some("conformance-instance")
    );
}

/// Inserted documents come back through `get`, `find`, `find_id`, `scan` (by owner, then key;
/// all owners or one), `scan_keys` and `count`: in the writing transaction, and after commit.
pub fn insert_then_read_back(db: &dyn TestDb) {
    let mut store = initialized(db);
    let mut txn = write(&mut *store);
    let range = ids(&mut *txn, 9);
    let id = |i: i64| range.start + i;
    let (web, api) = (id(0), id(1));
    let docs = vec![
        doc(web, Collection::Projects, NO_OWNER, "Web"),
        doc(api, Collection::Projects, NO_OWNER, "Api"),
        doc(id(2), Collection::Environments, NO_OWNER, "Test"),
        doc(id(3), Collection::Environments, NO_OWNER, "Dev"),
        doc(id(4), Collection::Environments, NO_OWNER, "Production"),
        doc(id(5), Collection::Channels, api, "Beta"),
        doc(id(6), Collection::Channels, api, "Alpha"),
        doc(id(7), Collection::Channels, web, "Stable"),
        doc(id(8), Collection::Channels, web, "Alpha"),
    ];
    txn.insert(&docs).expect("insert");
    check_read_back(&mut *txn, &docs, web, api);
    txn.commit().expect("commit");
    check_read_back(&mut *read(&mut *store), &docs, web, api);
}

fn check_read_back<T: ReadTxn + ?Sized>(txn: &mut T, docs: &[StoredDoc], web: DocId, api: DocId) {
    // Batches: in the order asked, missing ids left out.
    let missing = docs.iter().map(|d| d.id).max().unwrap_or(0) + 1_000;
    let mut asked: Vec<DocId> = docs.iter().rev().map(|d| d.id).collect();
    asked.insert(1, missing);
    let expected: Vec<&StoredDoc> = docs.iter().rev().collect();
    let many = txn.get_many(&asked).expect("get_many");
    assert_eq!(many.iter().collect::<Vec<_>>(), expected, "get_many");
    let addresses = txn.addresses(&asked).expect("addresses");
    let expected: Vec<(Collection, DocId, DocId, &str)> = docs
        .iter()
        .rev()
        .map(|d| (d.collection, d.id, d.owner, d.key.as_str()))
        .collect();
    let got: Vec<(Collection, DocId, DocId, &str)> = addresses
        .iter()
        .map(|(c, row)| (*c, row.id, row.owner, row.key.as_str()))
        .collect();
    assert_eq!(got, expected, "addresses");
    for d in docs {
        assert_eq!(
            txn.get(d.id).expect("get").as_ref(),
            Some(d),
            "get {}",
            d.id
        );
        assert_eq!(
            txn.find(d.collection, d.owner, &d.key)
                .expect("find")
                .as_ref(),
            Some(d),
            "find {:?}",
            d.key
        );
        assert_eq!(
            txn.find_id(d.collection, d.owner, &d.key).expect("find_id"),
            Some(d.id),
            "find_id {:?}",
            d.key
        );
    }
    let unused = docs.iter().map(|d| d.id).max().unwrap_or_default() + 1000;
    assert_eq!(txn.get(unused).expect("get"), None);
    assert_eq!(
        txn.find(Collection::Environments, NO_OWNER, "dev")
            .expect("find"),
        None,
        "keys are case-sensitive"
    );
    assert_eq!(
        txn.find(Collection::Projects, NO_OWNER, "Dev")
            .expect("find"),
        None,
        "the collection is part of the key"
    );
    assert_eq!(
        txn.find(Collection::Channels, NO_OWNER, "Alpha")
            .expect("find"),
        None,
        "the owner is part of the key"
    );
    assert_eq!(
        txn.find_id(Collection::Channels, web + api + 1000, "Alpha")
            .expect("find_id"),
        None
    );
    // Many at once, in the order asked, misses included.
    let channel_id = |owner: DocId, key: &str| {
        docs.iter()
            .find(|d| d.collection == Collection::Channels && d.owner == owner && d.key == key)
            .map(|d| d.id)
    };
    let asked = [
        (web, "Alpha"),
        (api, "Missing"),
        (api, "Alpha"),
        (web, "Stable"),
        (NO_OWNER, "Alpha"),
    ];
    assert_eq!(
        txn.find_ids(Collection::Channels, &asked)
            .expect("find_ids"),
        asked
            .iter()
            .map(|(owner, key)| channel_id(*owner, key))
            .collect::<Vec<_>>(),
        "find_ids"
    );

    let of = |collection: Collection, owner: Option<DocId>| -> Vec<StoredDoc> {
        let matching: Vec<StoredDoc> = docs
            .iter()
            .filter(|d| d.collection == collection && owner.is_none_or(|o| d.owner == o))
            .cloned()
            .collect();
        in_scan_order(&matching)
    };
    for collection in [
        Collection::Projects,
        Collection::Environments,
        Collection::Channels,
        Collection::Tenants,
    ] {
        assert_eq!(
            scan_all(txn, collection, None),
            of(collection, None),
            "scan {collection:?}"
        );
        let keys: Vec<KeyRow> = of(collection, None)
            .iter()
            .map(|d| KeyRow {
                id: d.id,
                owner: d.owner,
                key: d.key.clone(),
            })
            .collect();
        assert_eq!(
            scan_keys_all(txn, collection),
            keys,
            "scan_keys {collection:?}"
        );
        assert_eq!(
            txn.count(collection).expect("count"),
            of(collection, None).len() as u64,
            "count {collection:?}"
        );
    }
    assert_eq!(
        scan_all(txn, Collection::Channels, Some(web)),
        of(Collection::Channels, Some(web))
    );
    assert_eq!(
        scan_all(txn, Collection::Channels, Some(api)),
        of(Collection::Channels, Some(api))
    );
    assert_eq!(
        scan_all(txn, Collection::Environments, Some(NO_OWNER)).len(),
        3
    );
    assert_eq!(scan_all(txn, Collection::Channels, Some(NO_OWNER)), vec![]);
}

/// Every collection is stored and read back as itself.
pub fn every_collection_round_trips(db: &dyn TestDb) {
    let mut store = initialized(db);
    let mut txn = write(&mut *store);
    let range = ids(&mut *txn, COLLECTIONS.len() as u64);
    let docs: Vec<StoredDoc> = COLLECTIONS
        .iter()
        .zip(range)
        .map(|(decl, id)| doc(id, decl.collection, NO_OWNER, decl.name))
        .collect();
    txn.insert(&docs).expect("insert");
    txn.commit().expect("commit");
    let mut txn = read(&mut *store);
    for d in &docs {
        assert_eq!(txn.get(d.id).expect("get").as_ref(), Some(d));
        assert_eq!(
            txn.count(d.collection).expect("count"),
            1,
            "{:?}",
            d.collection
        );
        assert_eq!(scan_all(&mut *txn, d.collection, None), vec![d.clone()]);
    }
}

/// A taken natural key fails with `DuplicateKey` naming the collection and key, whether it is
/// taken by a committed document, within the same batch, in a bulk batch, or by an update; after
/// dropping the failed transaction, nothing of it is visible. The same key in another collection
/// or of another owner is no duplicate.
pub fn duplicate_keys_are_refused(db: &dyn TestDb) {
    let mut store = initialized(db);
    let awkward = "x, 1, (y)) already exists. \"it's\"";
    let (production, odd) = {
        let mut txn = write(&mut *store);
        let range = ids(&mut *txn, 2);
        let docs = [
            doc(
                range.start,
                Collection::Environments,
                NO_OWNER,
                "Production",
            ),
            doc(range.start + 1, Collection::Environments, NO_OWNER, awkward),
        ];
        txn.insert(&docs).expect("insert");
        txn.commit().expect("commit");
        (docs[0].clone(), docs[1].clone())
    };
    let check_unchanged = |store: &mut dyn Store| {
        let mut txn = write(store);
        assert_eq!(txn.count(Collection::Environments).expect("count"), 2);
        assert_eq!(
            txn.find(Collection::Environments, NO_OWNER, "Production")
                .expect("find"),
            Some(production.clone())
        );
        assert_eq!(
            txn.find(Collection::Environments, NO_OWNER, "Staging")
                .expect("find"),
            None
        );
        assert_eq!(txn.count(Collection::Channels).expect("count"), 0);
    };

    // Taken by a committed document, after another insert in the same transaction.
    {
        let mut txn = write(&mut *store);
        let range = ids(&mut *txn, 2);
        txn.insert(&[doc(
            range.start,
            Collection::Environments,
            NO_OWNER,
            "Staging",
        )])
        .expect("insert");
        let error = expect_err(
            txn.insert(&[doc(
                range.start + 1,
                Collection::Environments,
                NO_OWNER,
                "Production",
            )]),
            "inserting a taken key",
        );
        assert_duplicate(error, Collection::Environments, "Production");
    }
    check_unchanged(&mut *store);

    // A key that looks like the server's own message.
    {
        let mut txn = write(&mut *store);
        let id = ids(&mut *txn, 1).start;
        let error = expect_err(
            txn.insert(&[doc(id, Collection::Environments, NO_OWNER, awkward)]),
            "inserting a taken key",
        );
        assert_duplicate(error, Collection::Environments, awkward);
    }
    check_unchanged(&mut *store);

    // Twice in one batch.
    {
        let mut txn = write(&mut *store);
        let range = ids(&mut *txn, 3);
        let twins = [
            doc(range.start, Collection::Environments, NO_OWNER, "Staging"),
            doc(range.start + 1, Collection::Environments, NO_OWNER, "Twin"),
            doc(range.start + 2, Collection::Environments, NO_OWNER, "Twin"),
        ];
        assert_duplicate(
            expect_err(txn.insert(&twins), "inserting a key twice"),
            Collection::Environments,
            "Twin",
        );
    }
    check_unchanged(&mut *store);

    // At the end of a bulk batch.
    {
        let mut txn = write(&mut *store);
        let range = ids(&mut *txn, 501);
        let mut bulk: Vec<StoredDoc> = range
            .clone()
            .take(500)
            .map(|id| {
                doc(
                    id,
                    Collection::Channels,
                    production.id,
                    &format!("channel {id}"),
                )
            })
            .collect();
        bulk.push(doc(
            range.end - 1,
            Collection::Environments,
            NO_OWNER,
            "Production",
        ));
        assert_duplicate(
            expect_err(txn.insert(&bulk), "a bulk insert with a taken key"),
            Collection::Environments,
            "Production",
        );
    }
    check_unchanged(&mut *store);

    // By an update.
    {
        let mut txn = write(&mut *store);
        let id = ids(&mut *txn, 1).start;
        let staging = doc(id, Collection::Environments, NO_OWNER, "Staging");
        txn.insert(std::slice::from_ref(&staging)).expect("insert");
        let renamed = StoredDoc {
            key: "Production".to_owned(),
            ..staging
        };
        assert_duplicate(
            expect_err(txn.update(&renamed), "renaming onto a taken key"),
            Collection::Environments,
            "Production",
        );
    }
    check_unchanged(&mut *store);

    // The same key elsewhere is fine.
    let mut txn = write(&mut *store);
    let range = ids(&mut *txn, 3);
    let elsewhere = [
        doc(range.start, Collection::Projects, NO_OWNER, "Production"),
        doc(
            range.start + 1,
            Collection::Channels,
            production.id,
            "Production",
        ),
        doc(range.start + 2, Collection::Channels, odd.id, "Production"),
    ];
    txn.insert(&elsewhere)
        .expect("the same key in other collections and owners");
    txn.commit().expect("commit");
    assert_eq!(
        read(&mut *store)
            .count(Collection::Channels)
            .expect("count"),
        2
    );
}

/// A write transaction dropped without commit leaves no trace: not its documents, updates,
/// deletions or meta values.
pub fn dropped_write_rolls_back(db: &dyn TestDb) {
    let mut store = initialized(db);
    let kept = {
        let mut txn = write(&mut *store);
        let range = ids(&mut *txn, 2);
        let kept = [
            doc(range.start, Collection::Tenants, NO_OWNER, "Kept"),
            doc(range.start + 1, Collection::Tenants, NO_OWNER, "Also kept"),
        ];
        txn.insert(&kept).expect("insert");
        txn.commit().expect("commit");
        kept
    };
    {
        let mut txn = write(&mut *store);
        let id = ids(&mut *txn, 1).start;
        txn.insert(&[doc(id, Collection::Tenants, NO_OWNER, "Dropped")])
            .expect("insert");
        txn.update(&StoredDoc {
            key: "Renamed".to_owned(),
            body: "{}".to_owned(),
            ..kept[0].clone()
        })
        .expect("update");
        txn.delete(kept[1].id).expect("delete");
        txn.set_meta(meta::IDENTITY, "changed").expect("set_meta");
        txn.set_meta("extra", "value").expect("set_meta");
        assert_eq!(txn.count(Collection::Tenants).expect("count"), 2);
        // What a dry run does before it rolls back: everything written out, nothing committed,
        // the transaction still usable.
        txn.write_out().expect("write_out");
        assert_eq!(txn.count(Collection::Tenants).expect("count"), 2);
    }
    let mut txn = read(&mut *store);
    assert_eq!(
        scan_all(&mut *txn, Collection::Tenants, None),
        in_scan_order(&kept)
    );
    assert_eq!(
        txn.find_id(Collection::Tenants, NO_OWNER, "Dropped")
            .expect("find_id"),
        None
    );
    assert_eq!(
        txn.meta(meta::IDENTITY).expect("meta").as_deref(),
        Some("conformance-instance")
    );
    assert_eq!(txn.meta("extra").expect("meta"), None);
}

/// A commit is visible to every read that starts after it, on any connection.
pub fn commit_is_visible_to_later_reads(db: &dyn TestDb) {
    let mut store = initialized(db);
    let mut other = db.connect();
    assert_eq!(
        read(&mut *other).count(Collection::Feeds).expect("count"),
        0
    );
    let mut txn = write(&mut *store);
    let id = ids(&mut *txn, 1).start;
    let feed = doc(id, Collection::Feeds, NO_OWNER, "NuGet");
    txn.insert(std::slice::from_ref(&feed)).expect("insert");
    txn.set_meta("last-import", "today").expect("set_meta");
    txn.commit().expect("commit");
    for store in [&mut store, &mut other] {
        let mut txn = read(&mut **store);
        assert_eq!(txn.get(id).expect("get"), Some(feed.clone()));
        assert_eq!(
            txn.meta("last-import").expect("meta").as_deref(),
            Some("today")
        );
    }
    assert_eq!(
        write(&mut *other)
            .find_id(Collection::Feeds, NO_OWNER, "NuGet")
            .expect("find_id"),
        Some(id)
    );
}

/// Keys are compared byte by byte: case, trailing spaces and Unicode normalization all make
/// distinct keys, and scans order keys by their UTF-8 bytes ("B" before "a").
pub fn keys_are_compared_byte_by_byte(db: &dyn TestDb) {
    let mut store = initialized(db);
    let keys = [
        "Prod",
        "prod",
        "PROD",
        "Prod ",
        " Prod",
        "B",
        "a",
        "Z",
        "z",
        "",
        "Caf\u{e9}",
        "Cafe\u{301}",
        "\u{c5}",
        "\u{212b}",
        "A\u{30a}",
        "\u{df}",
        "ss",
        "\u{130}",
        "i",
        "\u{1f600}",
        "\u{fffd}",
        "\u{ff21}",
        "a-b",
        "a_b",
        "a b",
        "a.b",
        "\u{7f}",
        "tab\there",
        "line\nbreak",
        "back\\slash",
        "quote\"d",
        "it's",
        "a,b",
        "(x)",
        "%_",
    ];
    let mut txn = write(&mut *store);
    let range = ids(&mut *txn, keys.len() as u64);
    let docs: Vec<StoredDoc> = keys
        .iter()
        .zip(range)
        .map(|(key, id)| doc(id, Collection::Machines, NO_OWNER, key))
        .collect();
    txn.insert(&docs)
        .expect("keys that differ only in bytes are distinct");
    txn.commit().expect("commit");

    let mut txn = read(&mut *store);
    for d in &docs {
        assert_eq!(
            txn.find_id(Collection::Machines, NO_OWNER, &d.key)
                .expect("find_id"),
            Some(d.id),
            "{:?}",
            d.key
        );
    }
    for absent in [
        "PRod",
        "Prod  ",
        "caf\u{e9}",
        "CAFE\u{301}",
        "%",
        "_",
        "a%",
        "Pro",
    ] {
        assert_eq!(
            txn.find_id(Collection::Machines, NO_OWNER, absent)
                .expect("find_id"),
            None,
            "{absent:?}"
        );
    }
    let mut by_bytes: Vec<&str> = keys.to_vec();
    by_bytes.sort_unstable_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
    let scanned: Vec<String> = scan_all(&mut *txn, Collection::Machines, None)
        .into_iter()
        .map(|d| d.key)
        .collect();
    assert_eq!(scanned, by_bytes);
    let position = |key: &str| scanned.iter().position(|k| k == key);
    assert!(position("B") < position("a"), "B sorts before a");
    assert!(position("Z") < position("a"));
    assert!(
        position("\u{fffd}") < position("\u{1f600}"),
        "by UTF-8 bytes, not UTF-16 units"
    );
    let key_order: Vec<String> = scan_keys_all(&mut *txn, Collection::Machines)
        .into_iter()
        .map(|r| r.key)
        .collect();
    assert_eq!(key_order, by_bytes);
}

/// `allocate_ids` hands out ranges of the requested size that never overlap a range allocated
/// before in the same transaction or in a committed one, across connections; no range holds
/// [`NO_OWNER`]. A range taken by a transaction that rolled back may come again (SQLite can do no
/// better: its counter rolls back too); a backend may promise more (PostgreSQL's sequence never
/// repeats an id).
pub fn allocated_ids_are_never_reused(db: &dyn TestDb) {
    let mut store = initialized(db);
    let mut other = db.connect();
    // The ranges of committed transactions, in the order they were taken.
    let mut committed: Vec<Range<DocId>> = Vec::new();
    // Checks a new range against the committed ones, and against those of its own transaction.
    let check = |committed: &[Range<DocId>], own: &[Range<DocId>], range: &Range<DocId>| {
        let mut all = committed.to_vec();
        all.extend_from_slice(own);
        all.push(range.clone());
        assert_disjoint(&all);
    };
    {
        let mut txn = write(&mut *store);
        let mut own = Vec::new();
        for n in [10, 5, 1] {
            let range = ids(&mut *txn, n);
            check(&committed, &own, &range);
            own.push(range);
        }
        assert_eq!(txn.allocate_ids(0).expect("allocate_ids(0)").count(), 0);
        let users: Vec<StoredDoc> = own[0]
            .clone()
            .map(|id| doc(id, Collection::Users, NO_OWNER, &format!("user{id}")))
            .collect();
        txn.insert(&users).expect("insert");
        txn.commit().expect("commit");
        committed.extend(own);
    }
    {
        let mut txn = write(&mut *store);
        let range = ids(&mut *txn, 3);
        check(&committed, &[], &range);
        txn.insert(&[doc(range.start, Collection::Users, NO_OWNER, "rolled back")])
            .expect("insert");
        // Dropped: rolls back.
    }
    {
        let mut txn = write(&mut *store);
        let range = ids(&mut *txn, 7);
        check(&committed, &[], &range);
        txn.commit().expect("commit");
        committed.push(range);
    }
    {
        let mut txn = write(&mut *other);
        let range = ids(&mut *txn, 4);
        check(&committed, &[], &range);
    }
    {
        let mut txn = write(&mut *other);
        let range = ids(&mut *txn, 1000);
        check(&committed, &[], &range);
        txn.commit().expect("commit");
        committed.push(range);
    }
    let mut txn = write(&mut *store);
    let range = ids(&mut *txn, 2);
    check(&committed, &[], &range);
    txn.insert(&[doc(range.start, Collection::Users, NO_OWNER, "last")])
        .expect("a fresh id is free");
    txn.commit().expect("commit");
}

/// A read snapshot sees the database as it was when `read` returned: a commit from another
/// connection afterwards (even before the snapshot's first query) stays invisible to it, and
/// becomes visible to the next snapshot.
pub fn read_snapshot_ignores_later_commits(db: &dyn TestDb) {
    let mut store = initialized(db);
    let mut other = db.connect();
    let before = {
        let mut txn = write(&mut *store);
        let id = ids(&mut *txn, 1).start;
        let before = doc(id, Collection::Lifecycles, NO_OWNER, "Before");
        txn.insert(std::slice::from_ref(&before)).expect("insert");
        txn.commit().expect("commit");
        before
    };
    let mut snapshot = read(&mut *store);
    let after = {
        let mut txn = write(&mut *other);
        let id = ids(&mut *txn, 1).start;
        let after = doc(id, Collection::Lifecycles, NO_OWNER, "After");
        txn.insert(std::slice::from_ref(&after)).expect("insert");
        txn.update(&StoredDoc {
            body: "{\"changed\":true}".to_owned(),
            ..before.clone()
        })
        .expect("update");
        txn.set_meta(meta::IDENTITY, "changed").expect("set_meta");
        txn.commit().expect("commit");
        after
    };
    assert_eq!(snapshot.count(Collection::Lifecycles).expect("count"), 1);
    assert_eq!(snapshot.get(after.id).expect("get"), None);
    assert_eq!(snapshot.get(before.id).expect("get"), Some(before.clone()));
    assert_eq!(
        snapshot
            .find_id(Collection::Lifecycles, NO_OWNER, "After")
            .expect("find_id"),
        None
    );
    assert_eq!(
        scan_all(&mut *snapshot, Collection::Lifecycles, None),
        vec![before.clone()]
    );
    assert_eq!(
        snapshot.meta(meta::IDENTITY).expect("meta").as_deref(),
        Some("conformance-instance")
    );
    drop(snapshot);
    let mut fresh = read(&mut *store);
    assert_eq!(fresh.count(Collection::Lifecycles).expect("count"), 2);
    assert_eq!(fresh.get(after.id).expect("get"), Some(after));
    assert_eq!(
        fresh.meta(meta::IDENTITY).expect("meta").as_deref(),
        Some("changed")
    );
}

/// A second writer waits until the first commits, then sees its commit.
pub fn writers_take_turns(db: &dyn TestDb) {
    let mut store = initialized(db);
    let mut other = db.connect();
    let mut first = write(&mut *store);
    let id = ids(&mut *first, 1).start;
    first
        .insert(&[doc(id, Collection::Teams, NO_OWNER, "Ops")])
        .expect("insert");

    let (sender, receiver) = mpsc::channel();
    let second = std::thread::spawn(move || {
        let result = (|| {
            let mut txn = other.write()?;
            let count = txn.count(Collection::Teams)?;
            txn.commit()?;
            Ok::<_, StoreError>(count)
        })();
        let _ = sender.send(result);
    });
    if let Ok(result) = receiver.recv_timeout(Duration::from_millis(300)) {
        panic!("the second writer did not wait for the first (it got {result:?})");
    }
    first.commit().expect("commit");
    let seen = receiver
        .recv_timeout(Duration::from_secs(30))
        .expect("the second writer finished");
    assert_eq!(
        seen.expect("the second writer"),
        1,
        "the second writer sees the first one's commit"
    );
    second.join().expect("the second writer's thread");
}

/// One `insert` of 10,000 documents; the scans then stream all of them in order.
pub fn bulk_insert_of_ten_thousand(db: &dyn TestDb) {
    const N: u64 = 10_000;
    const PROJECTS: u64 = 10;
    let mut store = initialized(db);
    let mut txn = write(&mut *store);
    let projects = ids(&mut *txn, PROJECTS);
    let range = ids(&mut *txn, N);
    let docs: Vec<StoredDoc> = range
        .clone()
        .map(|id| {
            let owner = projects.start + id % PROJECTS as DocId;
            let mut d = doc(
                id,
                Collection::ProjectVariables,
                owner,
                &format!("variable {:05}", (id * 7919) % N as DocId),
            );
            d.body.push_str(&"x".repeat((id % 300) as usize));
            d
        })
        .collect();
    txn.insert(&docs).expect("bulk insert");
    assert_eq!(txn.count(Collection::ProjectVariables).expect("count"), N);
    txn.commit().expect("commit");

    let mut txn = read(&mut *store);
    assert_eq!(txn.count(Collection::ProjectVariables).expect("count"), N);
    let expected = in_scan_order(&docs);
    let mut seen = 0usize;
    txn.scan(Collection::ProjectVariables, None, &mut |d| {
        assert_eq!(d, expected[seen], "scan position {seen}");
        seen += 1;
        Ok(())
    })
    .expect("scan");
    assert_eq!(seen as u64, N);
    let one_owner = scan_all(
        &mut *txn,
        Collection::ProjectVariables,
        Some(projects.start + 3),
    );
    assert_eq!(one_owner.len() as u64, N / PROJECTS);
    assert!(one_owner.iter().all(|d| d.owner == projects.start + 3));
    let mut keys = 0u64;
    let mut last: Option<(DocId, String)> = None;
    txn.scan_keys(Collection::ProjectVariables, &mut |row| {
        let this = (row.owner, row.key);
        assert!(last.as_ref().is_none_or(|l| l < &this), "scan_keys order");
        last = Some(this);
        keys += 1;
        Ok(())
    })
    .expect("scan_keys");
    assert_eq!(keys, N);
    let probe = &docs[4321];
    assert_eq!(
        txn.find(probe.collection, probe.owner, &probe.key)
            .expect("find")
            .as_ref(),
        Some(probe)
    );
}

/// `update` replaces a document's key and body, keeping its id, collection and owner.
pub fn update_changes_key_and_body(db: &dyn TestDb) {
    let mut store = initialized(db);
    let mut txn = write(&mut *store);
    let range = ids(&mut *txn, 2);
    let project = range.start;
    let original = doc(range.start + 1, Collection::Triggers, project, "Nightly");
    txn.insert(std::slice::from_ref(&original)).expect("insert");
    txn.commit().expect("commit");

    let updated = StoredDoc {
        key: "Nightly build".to_owned(),
        body: "{\"schedule\":\"0 3 * * *\"}".to_owned(),
        ..original.clone()
    };
    let mut txn = write(&mut *store);
    txn.update(&updated).expect("update");
    assert_eq!(txn.get(original.id).expect("get"), Some(updated.clone()));
    assert_eq!(
        txn.find_id(Collection::Triggers, project, "Nightly")
            .expect("find_id"),
        None
    );
    txn.commit().expect("commit");

    let mut txn = read(&mut *store);
    assert_eq!(txn.get(original.id).expect("get"), Some(updated.clone()));
    assert_eq!(
        txn.find(Collection::Triggers, project, "Nightly build")
            .expect("find"),
        Some(updated.clone())
    );
    assert_eq!(
        txn.find(Collection::Triggers, project, "Nightly")
            .expect("find"),
        None
    );
    assert_eq!(
        scan_all(&mut *txn, Collection::Triggers, Some(project)),
        vec![updated]
    );
}

/// `delete` removes a document, and frees its key for a new one.
pub fn delete_removes(db: &dyn TestDb) {
    let mut store = initialized(db);
    let mut txn = write(&mut *store);
    let range = ids(&mut *txn, 2);
    let gone = doc(range.start, Collection::Certificates, NO_OWNER, "Old cert");
    let kept = doc(
        range.start + 1,
        Collection::Certificates,
        NO_OWNER,
        "New cert",
    );
    txn.insert(&[gone.clone(), kept.clone()]).expect("insert");
    txn.commit().expect("commit");

    let mut txn = write(&mut *store);
    txn.delete(gone.id).expect("delete");
    assert_eq!(txn.get(gone.id).expect("get"), None);
    assert_eq!(txn.count(Collection::Certificates).expect("count"), 1);
    txn.commit().expect("commit");

    {
        let mut txn = read(&mut *store);
        assert_eq!(txn.get(gone.id).expect("get"), None);
        assert_eq!(
            txn.find(Collection::Certificates, NO_OWNER, "Old cert")
                .expect("find"),
            None
        );
        assert_eq!(
            scan_all(&mut *txn, Collection::Certificates, None),
            vec![kept.clone()]
        );
        assert_eq!(scan_keys_all(&mut *txn, Collection::Certificates).len(), 1);
    }

    let mut txn = write(&mut *store);
    let id = ids(&mut *txn, 1).start;
    txn.insert(&[doc(id, Collection::Certificates, NO_OWNER, "Old cert")])
        .expect("the deleted document's key is free");
    txn.commit().expect("commit");
    assert_eq!(
        read(&mut *store)
            .find_id(Collection::Certificates, NO_OWNER, "Old cert")
            .expect("find_id"),
        Some(id)
    );
}

/// `set_meta` adds and replaces meta values; `meta` reads them, in the transaction and after;
/// `peek_meta` reads them as of now.
pub fn meta_values(db: &dyn TestDb) {
    let mut store = initialized(db);
    let mut txn = write(&mut *store);
    assert_eq!(
        txn.meta(meta::CREATED).expect("meta").as_deref(),
        Some("2024-05-06T07:08:09Z")
    );
    txn.set_meta(meta::PRODUCT_VERSION, "9.9.9")
        .expect("replace");
    txn.set_meta("import.last", "ünïcödé ✓").expect("add");
    txn.set_meta("empty", "").expect("add an empty value");
    assert_eq!(
        txn.meta(meta::PRODUCT_VERSION).expect("meta").as_deref(),
        Some("9.9.9")
    );
    txn.commit().expect("commit");

    let mut txn = read(&mut *store);
    assert_eq!(
        txn.meta(meta::PRODUCT_VERSION).expect("meta").as_deref(),
        Some("9.9.9")
    );
    assert_eq!(
        txn.meta("import.last").expect("meta").as_deref(),
        Some("ünïcödé ✓")
    );
    assert_eq!(txn.meta("empty").expect("meta").as_deref(), Some(""));
    assert_eq!(
        txn.meta("Import.last").expect("meta"),
        None,
        "meta keys are case-sensitive"
    );
    assert_eq!(
        txn.meta(meta::IDENTITY).expect("meta").as_deref(),
        Some("conformance-instance")
    );
    drop(txn);

    // A peek reads the value as of now: another connection's commit, not its open write.
    assert_eq!(
        store
            .peek_meta(meta::PRODUCT_VERSION)
            .expect("peek")
            .as_deref(),
        Some("9.9.9")
    );
    assert_eq!(store.peek_meta("absent").expect("peek"), None);
    let mut other = db.connect();
    let mut pending = write(&mut *other);
    pending
        .set_meta(meta::PRODUCT_VERSION, "10.0.0")
        .expect("set");
    assert_eq!(
        store
            .peek_meta(meta::PRODUCT_VERSION)
            .expect("peek")
            .as_deref(),
        Some("9.9.9"),
        "an uncommitted write is not seen"
    );
    pending.commit().expect("commit");
    assert_eq!(
        store
            .peek_meta(meta::PRODUCT_VERSION)
            .expect("peek")
            .as_deref(),
        Some("10.0.0")
    );
}

/// Instance-local records: ids grow, keys are unique within a kind and compared byte by byte,
/// pages come in either direction, a dropped write leaves none behind, and no record is a
/// document.
pub fn records_are_kept_apart(db: &dyn TestDb) {
    use crate::RecordKind::{ApiKey, Audit};
    let mut store = initialized(db);
    let mut txn = write(&mut *store);
    let a = txn
        .insert_record(ApiKey, Some("hash-a"), "{\"n\":1}")
        .expect("insert");
    let b = txn
        .insert_record(ApiKey, Some("Hash-a"), "{\"n\":2}")
        .expect("keys are case-sensitive");
    let audit: Vec<i64> = (0..5)
        .map(|i| {
            txn.insert_record(Audit, None, &format!("{{\"i\":{i}}}"))
                .expect("insert")
        })
        .collect();
    assert!(a < b && b < audit[0] && audit.windows(2).all(|w| w[0] < w[1]));
    match txn.insert_record(ApiKey, Some("hash-a"), "{}") {
        Err(StoreError::DuplicateKey { .. }) => {}
        other => panic!("a key taken within its kind: {other:?}"),
    }
    drop(txn);

    // The failed statement rolled the transaction back: nothing of it stays.
    let mut txn = read(&mut *store);
    assert!(txn.record(ApiKey, "hash-a").expect("read").is_none());
    drop(txn);

    let mut txn = write(&mut *store);
    let a = txn
        .insert_record(ApiKey, Some("hash-a"), "{\"n\":1}")
        .expect("insert");
    txn.insert_record(Audit, Some("hash-a"), "{}")
        .expect("the same key in another kind");
    let audit: Vec<i64> = (0..5)
        .map(|i| {
            txn.insert_record(Audit, None, &format!("{{\"i\":{i}}}"))
                .expect("insert")
        })
        .collect();
    txn.update_record(ApiKey, a, "{\"n\":3}").expect("update");
    txn.commit().expect("commit");

    let mut txn = read(&mut *store);
    let found = txn.record(ApiKey, "hash-a").expect("read").expect("found");
    assert_eq!(
        (found.id, found.key.as_deref(), found.body.as_str()),
        (a, Some("hash-a"), "{\"n\":3}")
    );
    assert!(txn.record(ApiKey, "hash-b").expect("read").is_none());
    let page = txn.records(Audit, 0, 3, false).expect("page");
    assert_eq!(page.len(), 3);
    assert!(page[0].key.as_deref() == Some("hash-a") && page[1].id == audit[0]);
    let rest = txn
        .records(Audit, page[2].id, 10, false)
        .expect("next page");
    assert_eq!(rest.iter().map(|r| r.id).collect::<Vec<_>>(), audit[2..]);
    let newest = txn.records(Audit, i64::MAX, 2, true).expect("newest first");
    assert_eq!(
        newest.iter().map(|r| r.id).collect::<Vec<_>>(),
        [audit[4], audit[3]]
    );
    for decl in COLLECTIONS {
        assert_eq!(
            txn.count(decl.collection).expect("count"),
            0,
            "records are no documents"
        );
    }
}

/// A lookup of a key holding a NUL character (which no name holds, and PostgreSQL's text cannot)
/// finds nothing, and leaves the transaction usable.
pub fn a_key_with_a_nul_finds_nothing(db: &dyn TestDb) {
    let mut store = initialized(db);
    let mut txn = write(&mut *store);
    txn.insert(&[doc(1, Collection::Environments, NO_OWNER, "a")])
        .expect("insert");
    for key in ["a\0", "\0", "a\0b"] {
        assert!(
            txn.find(Collection::Environments, NO_OWNER, key)
                .expect("find")
                .is_none()
        );
        assert!(
            txn.find_id(Collection::Environments, NO_OWNER, key)
                .expect("find_id")
                .is_none()
        );
        assert!(
            txn.record(crate::RecordKind::ApiKey, key)
                .expect("record")
                .is_none()
        );
    }
    let found = txn
        .find_ids(
            Collection::Environments,
            &[(NO_OWNER, "a\0"), (NO_OWNER, "a")],
        )
        .expect("find_ids");
    assert_eq!(found, [None, Some(1)]);
    txn.commit().expect("the transaction is still good");
}

/// A scan whose visitor fails stops and returns the visitor's error; the transaction goes on.
pub fn scan_stops_at_the_visitors_error(db: &dyn TestDb) {
    let mut store = initialized(db);
    let mut txn = write(&mut *store);
    let range = ids(&mut *txn, 50);
    let docs: Vec<StoredDoc> = range
        .map(|id| {
            doc(
                id,
                Collection::StepTemplates,
                NO_OWNER,
                &format!("template {id:04}"),
            )
        })
        .collect();
    txn.insert(&docs).expect("insert");

    let mut visited = 0;
    let result = txn.scan(Collection::StepTemplates, None, &mut |_| {
        visited += 1;
        if visited == 3 {
            Err(StoreError::Corrupt("stop here".to_owned()))
        } else {
            Ok(())
        }
    });
    assert!(
        matches!(expect_err(result, "a failing visitor"), StoreError::Corrupt(m) if m == "stop here")
    );
    assert_eq!(visited, 3);
    let mut visited = 0;
    let result = txn.scan_keys(Collection::StepTemplates, &mut |_| {
        visited += 1;
        Err(StoreError::Corrupt("stop at once".to_owned()))
    });
    assert!(
        matches!(expect_err(result, "a failing visitor"), StoreError::Corrupt(m) if m == "stop at once")
    );
    assert_eq!(visited, 1);
    assert_eq!(
        txn.count(Collection::StepTemplates)
            .expect("the transaction goes on"),
        50
    );
    txn.commit().expect("commit after a failed visitor");
    assert_eq!(
        read(&mut *store)
            .count(Collection::StepTemplates)
            .expect("count"),
        50
    );
}

/// `drop_instance` removes the instance: the database can then be initialized anew, empty.
pub fn drop_instance_removes_everything(db: &dyn TestDb) {
    let mut store = initialized(db);
    let first_ids = {
        let mut txn = write(&mut *store);
        let range = ids(&mut *txn, 3);
        let docs: Vec<StoredDoc> = range
            .clone()
            .map(|id| doc(id, Collection::UserRoles, NO_OWNER, &format!("role {id}")))
            .collect();
        txn.insert(&docs).expect("insert");
        txn.commit().expect("commit");
        range
    };
    store.drop_instance().expect("drop_instance");
    assert!(matches!(
        expect_err(store.migrate(), "migrate after drop_instance"),
        StoreError::NotAnInstance
    ));
    store
        .initialize(&[(meta::IDENTITY, "second")])
        .expect("initialize after drop_instance");
    let mut txn = write(&mut *store);
    assert_eq!(txn.count(Collection::UserRoles).expect("count"), 0);
    assert_eq!(txn.get(first_ids.start).expect("get"), None);
    assert_eq!(
        txn.meta(meta::IDENTITY).expect("meta").as_deref(),
        Some("second")
    );
    assert_eq!(txn.meta(meta::CREATED).expect("meta"), None);
    let again = ids(&mut *txn, 3);
    assert!(!again.contains(&NO_OWNER));
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn cases_have_unique_names() {
        let names: HashSet<&str> = CASES.iter().map(|(name, _)| *name).collect();
        assert_eq!(names.len(), CASES.len());
    }

    #[test]
    fn scan_order_is_by_owner_then_bytes() {
        let docs = [
            doc(1, Collection::Channels, 2, "a"),
            doc(2, Collection::Channels, 1, "b"),
            doc(3, Collection::Channels, 1, "B"),
            doc(4, Collection::Channels, 1, "\u{e9}"),
        ];
        let keys: Vec<(DocId, String)> = in_scan_order(&docs)
            .into_iter()
            .map(|d| (d.owner, d.key))
            .collect();
        assert_eq!(
            keys,
            [
                (1, "B".to_owned()),
                (1, "b".to_owned()),
                (1, "\u{e9}".to_owned()),
                (2, "a".to_owned())
            ]
        );
    }

    #[test]
    fn the_bodies_are_json() {
        let d = doc(7, Collection::Feeds, 0, "quote\" back\\ tab\t");
        assert_eq!(
            d.body,
            "{\"name\":\"quote\\\" back\\\\ tab\\u0009\",\"id\":7,\"note\":\"naïve \\\"quotes\\\" ✓\"}"
        );
    }

    /// The macro expands, and lists every case (its own `conformance_runs_every_case` checks).
    mod expansion {
        fn never() -> Option<Box<dyn crate::conformance::TestDb>> {
            None
        }
        crate::conformance_tests!(never);
    }
}
