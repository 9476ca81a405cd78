//! The store conformance suite on SQLite: one test per case, each on a file of its own.

use cuttle_store::Store;
use cuttle_store::conformance::TestDb;
use cuttle_store_sqlite::SqliteStore;
use tempfile::TempDir;

struct SqliteTestDb {
    dir: TempDir,
}

impl TestDb for SqliteTestDb {
    fn connect(&self) -> Box<dyn Store> {
        Box::new(
            SqliteStore::open(&self.dir.path().join("cuttle.db"), true)
                .expect("opening the test database"),
        )
    }
}

fn fresh() -> Option<Box<dyn TestDb>> {
    Some(Box::new(SqliteTestDb {
        dir: TempDir::new().expect("a temporary directory"),
    }))
}

cuttle_store::conformance_tests!(fresh);
