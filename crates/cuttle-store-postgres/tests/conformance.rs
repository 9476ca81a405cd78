//! The store conformance suite on PostgreSQL: one test per case, each on a database of its own on
//! the server named by `CUTTLE_TEST_POSTGRES_URL` (skipped when it is not set, unless
//! `CUTTLE_REQUIRE_POSTGRES=1`).

use cuttle_store::conformance::TestDb;
use cuttle_store_postgres::testing::fresh_database;

fn fresh() -> Option<Box<dyn TestDb>> {
    fresh_database().map(|db| Box::new(db) as Box<dyn TestDb>)
}

cuttle_store::conformance_tests!(fresh);
