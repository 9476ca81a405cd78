//! Turning the driver's errors into [`StoreError`]s that say what went wrong.

use std::collections::HashSet;
use std::error::Error as _;
use std::fmt;

use cuttle_store::{StoreError, StoredDoc};
use postgres::error::SqlState;

/// The name of the unique constraint on a document's natural key (see the schema in `lib.rs`).
pub(crate) const NATURAL_KEY_CONSTRAINT: &str = "cuttle_documents_natural_key";

/// An error from PostgreSQL or from the driver, as the `source` of [`StoreError::Database`].
///
/// The driver's own `Display` says only "db error" and leaves the server's message to its error
/// chain; this one says it all on one line: the server's message, its detail and hint, and the
/// SQLSTATE (`relation "cuttle_meta" does not exist [SQLSTATE 42P01]`), or the driver's message
/// with its causes (`error connecting to server: Connection refused (os error 111)`). Neither
/// ever holds the connection's password. The driver's error stays reachable through
/// [`PostgresError::driver_error`] (downcast the `source` to get there).
#[derive(Debug)]
pub struct PostgresError {
    inner: postgres::Error,
}

impl PostgresError {
    /// The SQLSTATE the server reported, if the error came from the server.
    pub fn sqlstate(&self) -> Option<&SqlState> {
        self.inner.code()
    }

    /// The driver's error.
    pub fn driver_error(&self) -> &postgres::Error {
        &self.inner
    }
}

impl From<postgres::Error> for PostgresError {
    fn from(inner: postgres::Error) -> Self {
        PostgresError { inner }
    }
}

impl fmt::Display for PostgresError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(db) = self.inner.as_db_error() {
            f.write_str(db.message())?;
            if let Some(detail) = db.detail() {
                write!(f, " ({detail})")?;
            }
            if let Some(hint) = db.hint() {
                write!(f, "; hint: {hint}")?;
            }
            return write!(f, " [SQLSTATE {}]", db.code().code());
        }
        write!(f, "{}", self.inner)?;
        let mut cause = self.inner.source();
        while let Some(error) = cause {
            write!(f, ": {error}")?;
            cause = error.source();
        }
        Ok(())
    }
}

/// No source: the message already carries the driver's whole chain, and a reporter that walks the
/// chain would otherwise print it twice.
impl std::error::Error for PostgresError {}

/// A [`StoreError::Database`] for a driver error.
pub(crate) fn database(context: &'static str, error: postgres::Error) -> StoreError {
    if error.code() == Some(&SqlState::DISK_FULL) {
        return StoreError::NoRoom { context };
    }
    StoreError::database(context, PostgresError::from(error))
}

/// A [`StoreError::Database`] for a failure this crate detects itself.
pub(crate) fn database_message(context: &'static str, message: String) -> StoreError {
    StoreError::Database {
        context,
        source: message.into(),
    }
}

/// Whether `error` is the server refusing a second document with the same natural key.
fn is_natural_key_violation(error: &postgres::Error) -> bool {
    error.as_db_error().is_some_and(|db| {
        *db.code() == SqlState::UNIQUE_VIOLATION && db.constraint() == Some(NATURAL_KEY_CONSTRAINT)
    })
}

/// Maps the error of a statement that inserted or updated `docs`: a violation of the natural key
/// becomes [`StoreError::DuplicateKey`] (with the collection and key the server names, or failing
/// that the best the batch tells), anything else [`StoreError::Database`].
pub(crate) fn write_error(
    context: &'static str,
    error: postgres::Error,
    docs: &[StoredDoc],
) -> StoreError {
    if !is_natural_key_violation(&error) {
        return database(context, error);
    }
    let (collection, key) = error
        .as_db_error()
        .and_then(|db| db.detail())
        .and_then(parse_duplicate_detail)
        .unwrap_or_else(|| describe_duplicate(docs));
    StoreError::DuplicateKey { collection, key }
}

/// The collection and key out of a unique violation's detail,
/// `Key (collection, owner, key)=(environments, 0, Production) already exists.`
///
/// The values are printed unquoted and joined by ", ", but the collection never holds a comma and
/// the owner is a number, so everything after the second separator is the key, up to the last
/// closing parenthesis. Only the `(...)=(...)` frame is relied on, which translations keep.
pub(crate) fn parse_duplicate_detail(detail: &str) -> Option<(String, String)> {
    let values = &detail[detail.find(")=(")? + 3..];
    let values = &values[..values.rfind(')')?];
    let (collection, rest) = values.split_once(", ")?;
    let (owner, key) = rest.split_once(", ")?;
    owner.parse::<i64>().ok()?;
    cuttle_domain::Collection::from_name(collection)?;
    Some((collection.to_owned(), key.to_owned()))
}

/// The duplicate as far as the batch itself tells, for when the server's detail could not be read.
fn describe_duplicate(docs: &[StoredDoc]) -> (String, String) {
    let mut seen = HashSet::new();
    if let Some(doc) = docs
        .iter()
        .find(|d| !seen.insert((d.collection, d.owner, d.key.as_str())))
    {
        return (doc.collection.name().to_owned(), doc.key.clone());
    }
    match docs {
        [doc] => (doc.collection.name().to_owned(), doc.key.clone()),
        _ => {
            let first = docs.first().map(|d| d.collection);
            let collection = match first {
                Some(c) if docs.iter().all(|d| d.collection == c) => c.name().to_owned(),
                _ => "a collection".to_owned(),
            };
            (
                collection,
                format!("<one of the {} keys inserted>", docs.len()),
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cuttle_domain::Collection;

    #[test]
    fn parses_the_detail_of_a_unique_violation() {
        assert_eq!(
            parse_duplicate_detail(
                "Key (collection, owner, key)=(environments, 0, Production) already exists."
            ),
            Some(("environments".to_owned(), "Production".to_owned()))
        );
        assert_eq!(
            parse_duplicate_detail(
                "Key (collection, owner, key)=(channels, 42, a, 1, (b)) already exists."
            ),
            Some(("channels".to_owned(), "a, 1, (b)".to_owned()))
        );
        assert_eq!(
            parse_duplicate_detail(
                "Schlüssel »(collection, owner, key)=(tag-sets, 7, )« existiert bereits."
            ),
            Some(("tag-sets".to_owned(), String::new()))
        );
        assert_eq!(parse_duplicate_detail("Key (id)=(5) already exists."), None);
        assert_eq!(
            parse_duplicate_detail("Key (collection, owner, key)=(nope, 0, x) already exists."),
            None
        );
        assert_eq!(parse_duplicate_detail("something else"), None);
    }

    fn doc(collection: Collection, owner: i64, key: &str) -> StoredDoc {
        StoredDoc {
            id: 1,
            collection,
            owner,
            key: key.to_owned(),
            body: "{}".to_owned(),
        }
    }

    #[test]
    fn describes_a_duplicate_from_the_batch() {
        let twice = [
            doc(Collection::Channels, 3, "a"),
            doc(Collection::Channels, 3, "b"),
            doc(Collection::Channels, 3, "a"),
        ];
        assert_eq!(
            describe_duplicate(&twice),
            ("channels".to_owned(), "a".to_owned())
        );
        assert_eq!(
            describe_duplicate(&[doc(Collection::Feeds, 0, "x")]),
            ("feeds".to_owned(), "x".to_owned())
        );
        let mixed = [
            doc(Collection::Feeds, 0, "x"),
            doc(Collection::Teams, 0, "y"),
        ];
        assert_eq!(describe_duplicate(&mixed).0, "a collection");
    }
}
