//! Errors a person can act on: which document, which field (JSON path), what is wrong.

use std::fmt;

use cuttle_domain::{JsonPath, names};
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
        // Each part is shortened (a hostile document's 20 MB name is not echoed back whole) and
        // shows what cannot be seen escaped (a file name may hold a terminal's escape sequence).
        let part = |text: &str, max: usize| names::visible(&shortened(text, max)).into_owned();
        let document = part(&self.document, 200);
        match (&self.origin, self.document.is_empty()) {
            (Some(origin), true) => write!(f, "{}, ", part(origin, 400))?,
            (Some(origin), false) => write!(f, "{}: {document}, ", part(origin, 400))?,
            (None, _) => write!(f, "{document}, ")?,
        }
        write!(
            f,
            "at {}: {}",
            part(&self.path.to_string(), 400),
            part(&self.message, 2000)
        )
    }
}

/// `text`, or its first `max` characters and how long it is.
pub fn shortened(text: &str, max: usize) -> std::borrow::Cow<'_, str> {
    match text.char_indices().nth(max) {
        None => std::borrow::Cow::Borrowed(text),
        Some((end, _)) => std::borrow::Cow::Owned(format!(
            "{}… ({} characters in all)",
            &text[..end],
            text.chars().count()
        )),
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
    /// A file or folder that cannot be used as it is (what it is, where, what to do).
    #[error("{0}")]
    File(String),
    /// An instance's database that lacks what every instance's holds (its identity, its master
    /// key check), or holds it malformed.
    #[error("{0}")]
    Damaged(String),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_huge_name_is_not_echoed_whole() {
        let name = "x".repeat(1 << 20);
        let problem = Problem {
            origin: Some("environments/x.json".into()),
            document: format!("environments {name:?}"),
            path: JsonPath::root().field("name"),
            message: format!("there is no environment named {name:?}"),
        };
        let shown = problem.to_string();
        assert!(shown.len() < 3000, "{} bytes", shown.len());
        assert!(shown.starts_with("environments/x.json: environments \"xxx"));
        assert!(shown.contains("characters in all"));
        assert_eq!(shortened("été", 3), "été");
        assert_eq!(shortened("été!", 3), "été… (4 characters in all)");
    }
}
