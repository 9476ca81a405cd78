//! Errors a person can act on: which document, which field (JSON path), what is wrong, and
//! what can be done about it ([`Hint`]), as data that each surface says in its own words.

use std::fmt;

use cuttle_domain::{JsonPath, names};
use cuttle_store::StoreError;

/// What a person can do about an error or a message, as data: the command line says it with
/// its options (`--overwrite replaces it`), a web page with a field or a button. Messages never
/// name a command-line option themselves.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Hint {
    /// Replace what the destination has, under the merge rules (import).
    Overwrite,
    /// Write the sample over the documents the instance holds.
    SampleOverwrite,
    /// Remove the files the format owns from the export directory first.
    Clean,
    /// Re-encrypt the export under a new salt (the password does not open the earlier one).
    Rekey,
    /// Read an export or a backup of a newer format anyway.
    IgnoreVersionCheck,
    /// Reading a newer format anyway, as asked.
    VersionCheckIgnored,
    /// Import the sources' task logs too.
    IncludeTaskLogs,
    /// An export found inside another: import it as a source of its own.
    SourceOfItsOwn,
    /// Select at least one project, or a project group that has projects.
    SelectProjects,
    /// The collection's documents belong to projects: name the project.
    GiveProject,
    /// The collection's documents belong to no project: leave the project out.
    NoProject,
    /// An embedded instance takes no database URL.
    EmbeddedDatabase,
    /// See which instances are registered.
    ListInstances,
    /// Create an instance first.
    CreateInstance,
}

/// One thing wrong with one document.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Problem {
    /// The file (or other input) the document came from, when known.
    #[serde(rename = "file", skip_serializing_if = "Option::is_none")]
    pub origin: Option<String>,
    /// Where in that file, when known (an import finds it from the JSON path).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub column: Option<u64>,
    /// The document, as `collection "natural key"` (or where it came from, when its key is not
    /// known yet).
    pub document: String,
    #[serde(serialize_with = "serialize_path")]
    pub path: JsonPath,
    pub message: String,
}

fn serialize_path<S: serde::Serializer>(path: &JsonPath, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(path)
}

impl Problem {
    /// A problem of `document` at `path`, with no file.
    pub fn new(document: impl Into<String>, path: JsonPath, message: impl Into<String>) -> Self {
        Problem {
            origin: None,
            line: None,
            column: None,
            document: document.into(),
            path,
            message: message.into(),
        }
    }

    /// The same, read from `origin` (a file, standard input).
    pub fn from(mut self, origin: impl Into<String>) -> Self {
        self.origin = Some(origin.into());
        self
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Each part is shortened (a hostile document's 20 MB name is not echoed back whole) and
        // shows what cannot be seen escaped (a file name may hold a terminal's escape sequence).
        let part = |text: &str, max: usize| names::visible(&shortened(text, max)).into_owned();
        let document = part(&self.document, 200);
        let origin = self.origin.as_ref().map(|origin| {
            let mut shown = part(origin, 400);
            if let (Some(line), Some(column)) = (self.line, self.column) {
                shown.push_str(&format!(":{line}:{column}"));
            }
            shown
        });
        match (origin, self.document.is_empty()) {
            (Some(origin), true) => write!(f, "{origin}, ")?,
            (Some(origin), false) => write!(f, "{origin}: {document}, ")?,
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

/// A message for people, and what they can do about it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    pub text: String,
    pub hint: Option<Hint>,
}

impl Message {
    pub fn hinted(text: impl Into<String>, hint: Hint) -> Self {
        Message {
            text: text.into(),
            hint: Some(hint),
        }
    }
}

impl From<String> for Message {
    fn from(text: String) -> Self {
        Message { text, hint: None }
    }
}

impl From<&str> for Message {
    fn from(text: &str) -> Self {
        Message::from(text.to_owned())
    }
}

impl fmt::Display for Message {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    Invalid(Problems),
    /// A document that others refer to: the problems name them.
    #[error("{0}")]
    InUse(Problems),
    #[error("{0}")]
    NotFound(Message),
    #[error("{0}")]
    Registry(Message),
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
    /// What can be done about it, where something can.
    pub fn hint(&self) -> Option<Hint> {
        match self {
            Error::NotFound(m) | Error::Registry(m) => m.hint,
            _ => None,
        }
    }

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
        let problem = Problem::new(
            format!("environments {name:?}"),
            JsonPath::root().field("name"),
            format!("there is no environment named {name:?}"),
        )
        .from("environments/x.json");
        let shown = problem.to_string();
        assert!(shown.len() < 3000, "{} bytes", shown.len());
        assert!(shown.starts_with("environments/x.json: environments \"xxx"));
        assert!(shown.contains("characters in all"));
        assert_eq!(shortened("été", 3), "été");
        assert_eq!(shortened("été!", 3), "été… (4 characters in all)");
    }
}
