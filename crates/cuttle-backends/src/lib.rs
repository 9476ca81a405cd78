//! The one place that knows the database drivers.
//!
//! Everything below the surfaces (the validated write path, the engine, the service) works on the
//! storage trait of `cuttle-store` alone; the binary (and a test) chooses the backends here and
//! hands them to the registry ([`cuttle_instance::Home`]), which opens each instance with the
//! backend its registration names.

use std::path::Path;

use cuttle_instance::{Backends, Home};
use cuttle_store::Store;

/// Every backend this build has: embedded SQLite and PostgreSQL.
pub const ALL: Backends = Backends { sqlite, postgres };

fn sqlite(path: &Path, create: bool) -> cuttle_store::Result<Box<dyn Store>> {
    Ok(Box::new(cuttle_store_sqlite::SqliteStore::open(
        path, create,
    )?))
}

fn postgres(url: &str) -> cuttle_store::Result<Box<dyn Store>> {
    Ok(Box::new(cuttle_store_postgres::PostgresStore::connect(
        url,
    )?))
}

/// The registry under `CUTTLE_HOME` (or the platform's data directory), with every backend.
pub fn home_from_env() -> cuttle_instance::Result<Home> {
    Home::from_env(ALL)
}

/// The registry at `root`, with every backend.
pub fn home_at(root: std::path::PathBuf) -> Home {
    Home::at(root, ALL)
}
