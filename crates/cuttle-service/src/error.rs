//! What went wrong, as data: a [`kind`](ErrorKind) a surface can branch on (a status code, the
//! question a wizard goes back to), a message for people that names no command-line option, the
//! problems of documents with their file, line, column and JSON path, the blockers of an import,
//! and a [`Hint`] that each surface says in its own words.

use std::fmt;

use cuttle_engine::backup::BackupError;
use cuttle_engine::export::ExportError;
use cuttle_engine::import::{Blocker, ImportError};
use cuttle_engine::reader::ReadError;
use cuttle_store::StoreError;
use serde::Serialize;

pub use cuttle_instance::error::{Hint, Message, Problem};

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What kind of error: what a surface branches on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ErrorKind {
    /// The request contradicts itself or lacks something it needs.
    Usage,
    /// An instance, a document or a project that does not exist.
    NotFound,
    /// Documents that do not validate ([`Error::problems`]); nothing was written.
    Invalid,
    /// The selection of a partial export.
    Selection,
    /// A wrong password, or a key derivation that cannot be used.
    Password,
    /// An export directory that cannot be written.
    Directory,
    /// An import source that cannot be read.
    Source,
    /// An export or a backup of a format this Cuttle does not read.
    Version,
    /// The import would lose information ([`Error::blockers`]); nothing was written.
    Blocked,
    /// A backup that cannot be written or read.
    Backup,
    /// An instance that already holds documents, where that was not expected.
    Populated,
    /// The registry under `CUTTLE_HOME`.
    Registry,
    /// A master key that is missing, malformed, or not the instance's.
    MasterKey,
    /// An instance's database that lacks what every instance's holds.
    Damaged,
    /// A file or folder that cannot be used as it is.
    File,
    /// The disk holding the database is full.
    NoRoom,
    /// The database failed.
    Storage,
    /// Reading or writing a file failed.
    Io,
    /// The output (a plan being written) failed.
    Output,
    /// No credentials, or credentials that name no active user.
    Unauthenticated,
    /// The actor lacks a permission ([`Error::refusal`] says which, where, and who has it).
    Forbidden,
    /// A write based on a version of the document that is no longer the current one.
    PreconditionFailed,
    /// A document that others refer to (the problems list them), so it cannot be deleted.
    InUse,
    /// An export archive that cannot be read as one: damaged, truncated, too large, or holding
    /// what no export holds (links, devices, paths outside it, the same path twice).
    Archive,
    /// A saved plan that no longer describes what the import would do (the destination or a
    /// source changed since the preview): nothing was written.
    StalePlan,
    /// The work was cancelled before it committed: nothing was written.
    Cancelled,
}

/// An error of the service.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Error {
    pub kind: ErrorKind,
    /// What is wrong; names no command-line option (see `hint`).
    pub message: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub problems: Vec<Problem>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub blockers: Vec<Blocker>,
    /// What can be done about it, where something can.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hint: Option<Hint>,
    /// For [`ErrorKind::Forbidden`]: the permission missing, where, and which teams grant it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refusal: Option<Box<crate::access::Refusal>>,
}

impl Error {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Error {
            kind,
            message: message.into(),
            problems: Vec::new(),
            blockers: Vec::new(),
            hint: None,
            refusal: None,
        }
    }

    pub fn usage(message: impl Into<String>) -> Self {
        Error::new(ErrorKind::Usage, message)
    }

    pub fn with_hint(mut self, hint: Option<Hint>) -> Self {
        self.hint = hint;
        self
    }

    fn said(kind: ErrorKind, message: Message) -> Self {
        Error::new(kind, message.text).with_hint(message.hint)
    }
}

/// The message, then each problem and each blocker on a line of its own. (The hint is the
/// surface's to say.)
impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)?;
        for problem in &self.problems {
            write!(f, "\n  - {problem}")?;
        }
        for b in &self.blockers {
            write!(f, "\n  - {} {:?}: {}", b.collection, b.name(), b.message)?;
        }
        Ok(())
    }
}

impl std::error::Error for Error {}

impl From<StoreError> for Error {
    fn from(error: StoreError) -> Self {
        let kind = match error {
            StoreError::NoRoom { .. } => ErrorKind::NoRoom,
            StoreError::DuplicateKey { .. } => ErrorKind::Invalid,
            StoreError::NotAnInstance | StoreError::AlreadyAnInstance => ErrorKind::Registry,
            _ => ErrorKind::Storage,
        };
        Error::new(kind, error.to_string())
    }
}

impl From<cuttle_instance::Error> for Error {
    fn from(error: cuttle_instance::Error) -> Self {
        use cuttle_instance::Error as E;
        match error {
            E::InUse(problems) => Error {
                problems: problems.0,
                ..Error::new(
                    ErrorKind::InUse,
                    "other documents refer to it, so it cannot be deleted; nothing was deleted:",
                )
            },
            E::Invalid(problems) => {
                let n = problems.0.len();
                Error {
                    problems: problems.0,
                    ..Error::new(
                        ErrorKind::Invalid,
                        format!(
                            "{n} problem{} found; nothing was written:",
                            if n == 1 { "" } else { "s" }
                        ),
                    )
                }
            }
            E::NotFound(m) => Error::said(ErrorKind::NotFound, m),
            E::Registry(m) => Error::said(ErrorKind::Registry, m),
            E::MasterKey(m) => Error::new(ErrorKind::MasterKey, m),
            E::File(m) => Error::new(ErrorKind::File, m),
            E::Damaged(m) => Error::new(ErrorKind::Damaged, m),
            e @ E::Io { .. } => Error::new(ErrorKind::Io, e.to_string()),
            E::Store(e) => e.into(),
        }
    }
}

impl From<ExportError> for Error {
    fn from(error: ExportError) -> Self {
        match error {
            ExportError::Password(m) => Error::said(ErrorKind::Password, m),
            ExportError::Directory(m) => Error::said(ErrorKind::Directory, m),
            ExportError::Selection(m) => Error::said(ErrorKind::Selection, m),
            e @ ExportError::Io { .. } => Error::new(ErrorKind::Io, e.to_string()),
            e @ ExportError::Sealed { .. } => Error::new(ErrorKind::MasterKey, e.to_string()),
            ExportError::NotVisible(m) => Error::new(ErrorKind::Forbidden, m),
            ExportError::Archive(e) => crate::export::archive_error(e),
            ExportError::Store(e) => e.into(),
            ExportError::Instance(e) => e.into(),
        }
    }
}

impl From<ImportError> for Error {
    fn from(error: ImportError) -> Self {
        match error {
            ImportError::Password(m) => Error::new(ErrorKind::Password, m),
            ImportError::Version(m) => Error::said(ErrorKind::Version, m),
            ImportError::Source(m) => Error::new(ErrorKind::Source, m),
            ImportError::Archive(e) => crate::export::archive_error(e),
            ImportError::Invalid(problems) => cuttle_instance::Error::Invalid(problems).into(),
            ImportError::Blocked(blockers) => {
                let n = blockers.len();
                Error {
                    blockers,
                    ..Error::new(
                        ErrorKind::Blocked,
                        format!(
                            "the import stops before writing: {n} change{} would lose information:",
                            if n == 1 { "" } else { "s" }
                        ),
                    )
                }
            }
            ImportError::Backup(m) => Error::said(ErrorKind::Backup, m),
            e @ ImportError::Output(_) => Error::new(ErrorKind::Output, e.to_string()),
            e @ ImportError::Cancelled => Error::new(ErrorKind::Cancelled, e.to_string()),
            ImportError::Store(e) => e.into(),
            ImportError::Instance(e) => e.into(),
        }
    }
}

impl From<BackupError> for Error {
    fn from(error: BackupError) -> Self {
        let hint = error.hint();
        match error {
            BackupError::Store(e) => e.into(),
            e => Error::new(ErrorKind::Backup, e.to_string()).with_hint(hint),
        }
    }
}

impl From<ReadError> for Error {
    fn from(error: ReadError) -> Self {
        match error {
            ReadError::Password(m) => Error::new(ErrorKind::Password, m),
            e => Error::new(ErrorKind::Source, e.to_string()),
        }
    }
}
