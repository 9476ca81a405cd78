//! A PostgreSQL database of its own for each test (feature `testing`).
//!
//! Tests reach a server through the environment:
//!
//! - `CUTTLE_TEST_POSTGRES_URL`: a URL to a database on it whose role may create databases, such
//!   as `postgres://cuttle:cuttle@127.0.0.1:5432/cuttle` (what `.ci/postgres.sh` sets up);
//! - `CUTTLE_REQUIRE_POSTGRES=1`: fail, rather than skip, when that URL is not set.
//!
//! [`fresh_database`] creates a new, empty database with a unique name and drops it when the
//! returned [`TestDatabase`] goes out of scope:
//!
//! ```no_run
//! let Some(db) = cuttle_store_postgres::testing::fresh_database() else { return };
//! let url = db.url(); // hand it to the code under test, e.g. `cuttle --database <url>`
//! ```
//!
//! Everything here panics on failure: it is for tests.

use std::io::Write as _;
use std::sync::Once;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use cuttle_store::Store;
use cuttle_store::conformance::TestDb;
use postgres::NoTls;

use crate::PostgresStore;

/// The variable that names the test server.
pub const URL_VARIABLE: &str = "CUTTLE_TEST_POSTGRES_URL";
/// The variable that, set to `1`, makes a missing [`URL_VARIABLE`] a failure.
pub const REQUIRE_VARIABLE: &str = "CUTTLE_REQUIRE_POSTGRES";

/// A database created for one test, dropped (with its connections) when this goes out of scope.
#[derive(Debug)]
pub struct TestDatabase {
    name: String,
    url: String,
    /// The URL the database was created through, to drop it through.
    admin_url: String,
}

/// A fresh, empty database on the test server, or `None` when [`URL_VARIABLE`] is not set (after
/// saying so once, loudly, on stderr).
///
/// # Panics
///
/// When [`URL_VARIABLE`] is not set but [`REQUIRE_VARIABLE`] is `1`, or when the server cannot
/// create the database.
pub fn fresh_database() -> Option<TestDatabase> {
    fresh_database_with("")
}

/// Like [`fresh_database`], with `options` appended to `CREATE DATABASE <name>` (say
/// `ENCODING 'SQL_ASCII' LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0`).
///
/// # Panics
///
/// As [`fresh_database`].
pub fn fresh_database_with(options: &str) -> Option<TestDatabase> {
    let admin_url = match std::env::var(URL_VARIABLE) {
        Ok(url) if !url.trim().is_empty() => url,
        _ => {
            if std::env::var(REQUIRE_VARIABLE).is_ok_and(|v| v == "1") {
                panic!("{REQUIRE_VARIABLE}=1, but {URL_VARIABLE} is not set");
            }
            static SKIPPED: Once = Once::new();
            SKIPPED.call_once(|| {
                // Straight to the process's stderr: the test harness captures `eprintln!`.
                let _ = writeln!(
                    std::io::stderr(),
                    "SKIPPED: PostgreSQL tests ({URL_VARIABLE} is not set)"
                );
            });
            return None;
        }
    };
    let name = unique_name();
    let mut admin = admin_client(&admin_url);
    if let Err(e) = admin.batch_execute(&format!("CREATE DATABASE \"{name}\" {options}")) {
        panic!(
            "creating the test database {name}: {}",
            crate::PostgresError::from(e)
        );
    }
    let url = with_database(&admin_url, &name);
    Some(TestDatabase {
        name,
        url,
        admin_url,
    })
}

impl TestDatabase {
    /// The database's URL: the test server's, with this database's name.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The database's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// A new connection to the database.
    ///
    /// # Panics
    ///
    /// When the connection fails.
    pub fn store(&self) -> PostgresStore {
        match PostgresStore::connect(&self.url) {
            Ok(store) => store,
            Err(e) => panic!("connecting to the test database {}: {e}", self.name),
        }
    }

    /// A plain connection to the database, for a test to look under the store.
    ///
    /// # Panics
    ///
    /// When the connection fails.
    pub fn client(&self) -> postgres::Client {
        admin_client(&self.url)
    }
}

impl TestDb for TestDatabase {
    fn connect(&self) -> Box<dyn Store> {
        Box::new(self.store())
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let dropped = crate::connection_config(&self.admin_url, std::env::var_os("PGPASSWORD"))
            .map_err(|e| e.to_string())
            .and_then(|config| {
                config
                    .connect(NoTls)
                    .map_err(|e| crate::PostgresError::from(e).to_string())
            })
            .and_then(|mut admin| {
                admin
                    .batch_execute(&format!(
                        "DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)",
                        self.name
                    ))
                    .map_err(|e| crate::PostgresError::from(e).to_string())
            });
        if let Err(e) = dropped {
            let _ = writeln!(
                std::io::stderr(),
                "warning: could not drop the test database {}: {e}",
                self.name
            );
        }
    }
}

/// A database name no other test, process or run uses: seconds since the epoch, process id, and a
/// counter (lower case, well under PostgreSQL's 63 bytes).
fn unique_name() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let seconds = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default();
    format!(
        "cuttle_test_{seconds}_{}_{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

fn admin_client(url: &str) -> postgres::Client {
    let config = match crate::connection_config(url, std::env::var_os("PGPASSWORD")) {
        Ok(config) => config,
        Err(e) => panic!("{URL_VARIABLE}: {e}"),
    };
    match config.connect(NoTls) {
        Ok(client) => client,
        Err(e) => panic!(
            "connecting to the PostgreSQL test server ({URL_VARIABLE}): {}",
            crate::PostgresError::from(e)
        ),
    }
}

/// `url` with its database replaced by `name`: the path of a `postgres://` URL, or a `dbname`
/// appended to a `key=value` connection string (the last one counts).
fn with_database(url: &str, name: &str) -> String {
    let Some(scheme_end) = url.find("://") else {
        return format!("{url} dbname={name}");
    };
    let authority_start = scheme_end + 3;
    let authority_end = url[authority_start..]
        .find(['/', '?'])
        .map_or(url.len(), |i| authority_start + i);
    let query = url[authority_end..]
        .find('?')
        .map_or("", |i| &url[authority_end + i..]);
    format!("{}/{name}{query}", &url[..authority_end])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_the_database_of_a_url() {
        let cases = [
            (
                "postgres://cuttle:pw@127.0.0.1:5432/cuttle",
                "postgres://cuttle:pw@127.0.0.1:5432/t1",
            ),
            (
                "postgres://cuttle:pw@127.0.0.1:5432",
                "postgres://cuttle:pw@127.0.0.1:5432/t1",
            ),
            (
                "postgresql://h/db?sslmode=disable",
                "postgresql://h/t1?sslmode=disable",
            ),
            (
                "postgres://h?connect_timeout=5",
                "postgres://h/t1?connect_timeout=5",
            ),
            (
                "host=localhost user=cuttle dbname=cuttle",
                "host=localhost user=cuttle dbname=cuttle dbname=t1",
            ),
        ];
        for (url, expected) in cases {
            assert_eq!(with_database(url, "t1"), expected, "{url}");
        }
        let config: postgres::Config = with_database("host=h dbname=a", "t1").parse().unwrap();
        assert_eq!(config.get_dbname(), Some("t1"));
    }

    #[test]
    fn names_are_unique() {
        assert_ne!(unique_name(), unique_name());
    }
}
