//! Errors a person can act on: which document, which field (JSON path), what is wrong.

use std::fmt;

use cuttle_domain::JsonPath;
use cuttle_store::StoreError;

/// One thing wrong with one document.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    /// The file (or other input) the document came from, when known: an import adds the line
    /// and column from it.
    pub origin: Option<String>,
    /// The document, as `collection "natural key"` (or where it came from, when its key is not
    /// known yet).
    pub document: String,
    pub path: JsonPath,
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.origin, self.document.is_empty()) {
            (Some(origin), true) => write!(f, "{origin}, ")?,
            (Some(origin), false) => write!(f, "{origin}: {}, ", self.document)?,
            (None, _) => write!(f, "{}, ", self.document)?,
        }
        write!(f, "at {}: {}", self.path, self.message)
    }
}

/// The problems found in a set of documents; nothing was written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problems(pub Vec<Problem>);

impl fmt::Display for Problems {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.0.len();
        write!(
            f,
            "{n} problem{} found; nothing was written:",
            if n == 1 { "" } else { "s" }
        )?;
        for problem in &self.0 {
            write!(f, "\n  - {problem}")?;
        }
        Ok(())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    Invalid(Problems),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Registry(String),
    #[error("{0}")]
    MasterKey(String),
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl Error {
    pub fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> Error {
        let context = context.into();
        move |source| Error::Io { context, source }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
