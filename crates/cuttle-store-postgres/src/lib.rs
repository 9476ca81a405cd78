//! Cuttle's PostgreSQL backend: the [`Store`] trait on a PostgreSQL database, with the synchronous
//! `postgres` driver.
//!
//! # Layout
//!
//! An instance is four objects in the connection's current schema (the first schema of its
//! `search_path` it may create in, usually `public`):
//!
//! - `cuttle_schema(version)`: one row, the schema version (see [`PostgresStore::migrate`]);
//! - `cuttle_meta(key, value)`: the instance's meta values ([`cuttle_store::meta`]);
//! - `cuttle_documents(id, collection, owner, key, body)`: every document, the collection by its
//!   command-line name ([`cuttle_domain::Collection::name`]), unique on `(collection, owner, key)`; keys compare
//!   byte by byte (`COLLATE "C"` on a UTF-8 database), so that `Prod`, `prod` and the NFD spelling
//!   of a name are three keys, ordered as Rust orders strings;
//! - the sequence `cuttle_document_ids`, from which [`WriteTxn::allocate_ids`] takes ids: a
//!   sequence never hands out a value twice, even when the transaction that took it rolls back.
//!
//! # Transactions
//!
//! [`Store::read`] is a `REPEATABLE READ READ ONLY` transaction whose snapshot is taken when it
//! starts. [`Store::write`] is a `READ COMMITTED` transaction that first takes a
//! transaction-scoped advisory lock ([`WRITER_LOCK`]), so Cuttle's writers on one database take
//! turns and what a writer reads stays true until it commits; a reader is never blocked.
//! Initialization, migration and removal take the same lock.
//!
//! Once a statement has failed, PostgreSQL refuses every further statement of its transaction; the
//! write transaction then refuses to commit (it would silently roll back) and must be dropped.
//!
//! # Connecting
//!
//! [`PostgresStore::connect`] takes a `postgres://` URL (or a `key=value` connection string);
//! without a password in it, the environment's `PGPASSWORD` is used. Connections are unencrypted
//! (`NoTls`): reach a remote server through a tunnel or a local proxy.

use std::ffi::OsString;
use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use cuttle_store::{ReadTxn, Result, Store, StoreError, WriteTxn};
use postgres::{Client, Config, IsolationLevel, NoTls, Transaction};

mod error;
#[cfg(feature = "testing")]
pub mod testing;
mod txn;

pub use error::PostgresError;

use error::{database, database_message};

/// The key of the transaction-scoped advisory lock every Cuttle writer takes (the ASCII bytes of
/// "CuttleWR"). Advisory locks are per database, so instances in different databases of one
/// server do not wait for each other.
pub const WRITER_LOCK: i64 = 0x4375_7474_6c65_5752;

/// The schema migrations, in order: migration `i` takes the schema from version `i` to `i + 1`.
/// Each runs, with the update of `cuttle_schema`, in the transaction of [`PostgresStore::migrate`]
/// (or of [`PostgresStore::initialize`], which runs them all). Never edit a released migration:
/// append a new one.
const MIGRATIONS: &[&str] = &[
    // 1: the first schema.
    r#"
    CREATE TABLE cuttle_meta (
        key TEXT COLLATE "C" PRIMARY KEY,
        value TEXT NOT NULL
    );
    CREATE TABLE cuttle_documents (
        id BIGINT PRIMARY KEY,
        collection TEXT COLLATE "C" NOT NULL,
        owner BIGINT NOT NULL,
        key TEXT COLLATE "C" NOT NULL,
        body TEXT NOT NULL,
        CONSTRAINT cuttle_documents_natural_key UNIQUE (collection, owner, key)
    );
    CREATE SEQUENCE cuttle_document_ids AS BIGINT MINVALUE 1 START WITH 1 NO CYCLE;
    "#,
    // 2: what an instance keeps for itself alone (API keys, the audit log).
    r#"
    CREATE TABLE cuttle_records (
        id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        kind TEXT COLLATE "C" NOT NULL,
        key TEXT COLLATE "C",
        body TEXT NOT NULL
    );
    CREATE UNIQUE INDEX cuttle_records_key ON cuttle_records (kind, key) WHERE key IS NOT NULL;
    CREATE INDEX cuttle_records_kind ON cuttle_records (kind, id);
    "#,
];

/// The schema version this build writes.
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// How long [`PostgresStore::connect`] waits for the server, unless the URL says
/// (`connect_timeout`).
const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(30);

/// A Cuttle instance in a PostgreSQL database, over one connection.
pub struct PostgresStore {
    client: Client,
    /// Statements prepared on this connection, by their text: prepared once, used by every
    /// transaction after (a prepared statement outlives the transaction that prepared it).
    statements: std::collections::HashMap<&'static str, postgres::Statement>,
}

impl fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PostgresStore").finish_non_exhaustive()
    }
}

impl PostgresStore {
    /// Connects to the database named by `url` (`postgres://user:password@host:port/database`,
    /// or any connection string the `postgres` driver takes).
    ///
    /// Without a password in the URL, the environment's `PGPASSWORD` is used. The connection is
    /// not encrypted. Errors never repeat the password.
    pub fn connect(url: &str) -> Result<Self> {
        let config = connection_config(url, std::env::var_os("PGPASSWORD"))?;
        let client = config
            .connect(NoTls)
            .map_err(|e| database("connecting to the PostgreSQL server", e))?;
        Ok(PostgresStore {
            client,
            statements: std::collections::HashMap::new(),
        })
    }

    /// Starts a transaction that holds the writer lock.
    fn locked_transaction(&mut self, context: &'static str) -> Result<Transaction<'_>> {
        locked_transaction(&mut self.client, context)
    }
}

/// A write transaction that holds the writer's lock.
fn locked_transaction<'c>(
    client: &'c mut Client,
    context: &'static str,
) -> Result<Transaction<'c>> {
    let mut txn = client
        .build_transaction()
        .isolation_level(IsolationLevel::ReadCommitted)
        .start()
        .map_err(|e| database(context, e))?;
    txn.batch_execute(&format!("SELECT pg_advisory_xact_lock({WRITER_LOCK})"))
        .map_err(|e| database("waiting for the other Cuttle writers", e))?;
    Ok(txn)
}

/// The driver's configuration for `url`, with `env_password` (the environment's `PGPASSWORD`) when
/// the URL has no password.
fn connection_config(url: &str, env_password: Option<OsString>) -> Result<Config> {
    let mut config = Config::from_str(url).map_err(|e| {
        // The parser's messages may quote a character of the connection string, which could be
        // one of the password's: keep only what says where and what was expected.
        let mut message = PostgresError::from(e).to_string();
        if let Some(at) = message.find(" but got ") {
            message.truncate(at);
        }
        database_message("reading the PostgreSQL connection URL", message)
    })?;
    let env_password = env_password.filter(|p| !p.is_empty() && config.get_password().is_none());
    if let Some(password) = env_password {
        config.password(password.into_encoded_bytes());
    }
    if config.get_application_name().is_none() {
        config.application_name("cuttle");
    }
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(DEFAULT_CONNECT_TIMEOUT);
    }
    Ok(config)
}

/// What of an instance the current schema holds.
struct Presence {
    /// `cuttle_schema`, the mark of an instance.
    schema_table: bool,
    /// Any of the instance's objects.
    any: bool,
}

fn presence(txn: &mut Transaction<'_>) -> Result<Presence> {
    let row = txn
        .query_one(
            "SELECT to_regclass('cuttle_schema') IS NOT NULL,
                    to_regclass('cuttle_meta') IS NOT NULL
                    OR to_regclass('cuttle_documents') IS NOT NULL
                    OR to_regclass('cuttle_document_ids') IS NOT NULL",
            &[],
        )
        .map_err(|e| database("looking for a Cuttle instance in the database", e))?;
    let schema_table: bool = row
        .try_get(0)
        .map_err(|e| database("looking for a Cuttle instance in the database", e))?;
    let others: bool = row
        .try_get(1)
        .map_err(|e| database("looking for a Cuttle instance in the database", e))?;
    Ok(Presence {
        schema_table,
        any: schema_table || others,
    })
}

/// Refuses a database whose text is not UTF-8: keys must keep every character and compare by
/// their UTF-8 bytes.
fn require_utf8(txn: &mut Transaction<'_>) -> Result<()> {
    const CONTEXT: &str = "checking the database's encoding";
    let row = txn
        .query_one("SELECT current_setting('server_encoding')", &[])
        .map_err(|e| database(CONTEXT, e))?;
    let encoding: String = row.try_get(0).map_err(|e| database(CONTEXT, e))?;
    if encoding != "UTF8" {
        return Err(database_message(
            CONTEXT,
            format!(
                "the database's encoding is {encoding}; Cuttle needs a database created with ENCODING 'UTF8'"
            ),
        ));
    }
    Ok(())
}

/// Runs the migrations from `from` (exclusive) to [`SCHEMA_VERSION`].
fn run_migrations(txn: &mut Transaction<'_>, from: i64) -> Result<()> {
    let first = usize::try_from(from)
        .map_err(|_| StoreError::Corrupt(format!("the schema version {from} is negative")))?;
    for migration in MIGRATIONS.iter().skip(first) {
        txn.batch_execute(migration)
            .map_err(|e| database("migrating the schema", e))?;
    }
    Ok(())
}

impl Store for PostgresStore {
    fn initialize(&mut self, meta: &[(&str, &str)]) -> Result<()> {
        // What the schema changes, statements prepared before may no longer fit.
        self.statements.clear();
        let mut txn =
            self.locked_transaction("starting the transaction that creates the instance")?;
        if presence(&mut txn)?.any {
            return Err(StoreError::AlreadyAnInstance);
        }
        require_utf8(&mut txn)?;
        txn.batch_execute("CREATE TABLE cuttle_schema (version BIGINT NOT NULL)")
            .map_err(|e| database("creating the schema", e))?;
        run_migrations(&mut txn, 0)?;
        txn.execute(
            "INSERT INTO cuttle_schema (version) VALUES ($1)",
            &[&SCHEMA_VERSION],
        )
        .map_err(|e| database("recording the schema version", e))?;
        if !meta.is_empty() {
            let insert = txn
                .prepare("INSERT INTO cuttle_meta (key, value) VALUES ($1, $2)")
                .map_err(|e| database("recording the instance's meta values", e))?;
            for (key, value) in meta {
                txn.execute(&insert, &[key, value])
                    .map_err(|e| database("recording the instance's meta values", e))?;
            }
        }
        txn.commit()
            .map_err(|e| database("committing the new instance", e))
    }

    fn migrate(&mut self) -> Result<()> {
        self.statements.clear();
        let mut txn = self.locked_transaction("starting the migration transaction")?;
        if !presence(&mut txn)?.schema_table {
            return Err(StoreError::NotAnInstance);
        }
        let rows = txn
            .query("SELECT version FROM cuttle_schema", &[])
            .map_err(|e| database("reading the schema version", e))?;
        let found: i64 = match rows.as_slice() {
            [row] => row
                .try_get(0)
                .map_err(|e| database("reading the schema version", e))?,
            _ => {
                return Err(StoreError::Corrupt(format!(
                    "the table cuttle_schema holds {} rows instead of one",
                    rows.len()
                )));
            }
        };
        if found > SCHEMA_VERSION {
            return Err(StoreError::SchemaTooNew {
                found,
                supported: SCHEMA_VERSION,
            });
        }
        if found < 1 {
            return Err(StoreError::Corrupt(format!(
                "the schema version {found} is not one Cuttle ever wrote"
            )));
        }
        if found == SCHEMA_VERSION {
            return Ok(());
        }
        run_migrations(&mut txn, found)?;
        txn.execute("UPDATE cuttle_schema SET version = $1", &[&SCHEMA_VERSION])
            .map_err(|e| database("recording the schema version", e))?;
        txn.commit()
            .map_err(|e| database("committing the migration", e))
    }

    fn schema_version(&self) -> i64 {
        SCHEMA_VERSION
    }

    fn read(&mut self) -> Result<Box<dyn ReadTxn + '_>> {
        let PostgresStore { client, statements } = self;
        let mut txn = client
            .build_transaction()
            .isolation_level(IsolationLevel::RepeatableRead)
            .read_only(true)
            .start()
            .map_err(|e| database("starting a read transaction", e))?;
        // PostgreSQL takes the snapshot at the transaction's first statement, not at BEGIN: take
        // it now, so that the snapshot is the database as of this call.
        txn.batch_execute("SELECT 1")
            .map_err(|e| database("taking the read snapshot", e))?;
        Ok(Box::new(txn::Txn::new(txn, statements)))
    }

    fn write(&mut self) -> Result<Box<dyn WriteTxn + '_>> {
        let PostgresStore { client, statements } = self;
        let txn = locked_transaction(client, "starting the write transaction")?;
        Ok(Box::new(txn::Txn::new(txn, statements)))
    }

    fn peek_meta(&mut self, key: &str) -> Result<Option<String>> {
        const CONTEXT: &str = "reading a meta value";
        let PostgresStore { client, statements } = self;
        let statement = match statements.get(txn::META) {
            Some(statement) => statement.clone(),
            None => {
                let statement = client
                    .prepare(txn::META)
                    .map_err(|e| database(CONTEXT, e))?;
                statements.insert(txn::META, statement.clone());
                statement
            }
        };
        let row = client
            .query_opt(&statement, &[&key])
            .map_err(|e| database(CONTEXT, e))?;
        row.map(|row| txn::column(&row, 0)).transpose()
    }

    fn drop_instance(&mut self) -> Result<()> {
        self.statements.clear();
        let mut txn =
            self.locked_transaction("starting the transaction that removes the instance")?;
        if !presence(&mut txn)?.schema_table {
            return Err(StoreError::NotAnInstance);
        }
        txn.batch_execute(
            "DROP TABLE IF EXISTS cuttle_documents, cuttle_records, cuttle_meta, cuttle_schema;
             DROP SEQUENCE IF EXISTS cuttle_document_ids;",
        )
        .map_err(|e| database("removing the instance's tables", e))?;
        txn.commit()
            .map_err(|e| database("committing the removal of the instance", e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_environment_supplies_a_missing_password() {
        let config = connection_config(
            "postgres://cuttle@localhost/cuttle",
            Some("from-env".into()),
        )
        .unwrap();
        assert_eq!(config.get_password(), Some(&b"from-env"[..]));
        let config = connection_config(
            "postgres://cuttle:in-url@localhost/cuttle",
            Some("from-env".into()),
        )
        .unwrap();
        assert_eq!(config.get_password(), Some(&b"in-url"[..]));
        let config = connection_config("postgres://cuttle@localhost/cuttle", None).unwrap();
        assert_eq!(config.get_password(), None);
        let config =
            connection_config("postgres://cuttle@localhost/cuttle", Some("".into())).unwrap();
        assert_eq!(config.get_password(), None);
    }

    #[test]
    fn defaults_fill_in_what_the_url_leaves_out() {
        let config = connection_config("postgres://cuttle@localhost/cuttle", None).unwrap();
        assert_eq!(config.get_application_name(), Some("cuttle"));
        assert_eq!(config.get_connect_timeout(), Some(&DEFAULT_CONNECT_TIMEOUT));
        let config = connection_config(
            "postgres://cuttle@localhost/cuttle?application_name=ops&connect_timeout=3",
            None,
        )
        .unwrap();
        assert_eq!(config.get_application_name(), Some("ops"));
        assert_eq!(config.get_connect_timeout(), Some(&Duration::from_secs(3)));
    }

    #[test]
    fn a_bad_url_is_reported_without_its_password() {
        for url in [
            "postgres://cuttle:hunter2-secret@localhost:notaport/cuttle",
            "host=localhost password=hunter2-secret port=x",
            "host=localhost password='hunter2-secret",
            "password=hunter2-secret host",
            "host=localhost password hunter2-secret",
        ] {
            let message = match connection_config(url, None) {
                Ok(_) => panic!("{url} parsed"),
                Err(e) => format!("{e} / {e:?}"),
            };
            assert!(
                !message.contains("hunter2") && !message.contains("`h`"),
                "{message}"
            );
        }
    }

    #[test]
    fn the_writer_lock_spells_its_name() {
        assert_eq!(&WRITER_LOCK.to_be_bytes(), b"CuttleWR");
    }
}
