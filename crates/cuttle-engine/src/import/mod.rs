//! Import (SPEC 6): one or several export directories, or an instance backup, into an instance.
//!
//! The stages, each its own module:
//!
//! 1. [`sources`]: open every source (format version, then the password against the key check,
//!    before anything else is read), read it, [`upgrade`] it to the running format, and combine
//!    the sources, later ones winning, with a conflict report;
//! 2. [`plan`]: inside the destination's write transaction, match every document by natural key
//!    and decide its action under the policy and its collection's merge rule, with a field-level
//!    [`diff`]; the plan streams to a [`PlanSink`] as it is made;
//! 3. apply: the documents to write go through the one validated write path
//!    ([`cuttle_instance::documents::write_documents`]) and the removals follow, in the same
//!    transaction, which is committed only when everything succeeded (and never on a dry run).
//!
//! The transaction is a writer's on either backend (SQLite `BEGIN IMMEDIATE`, PostgreSQL a
//! transaction-scoped advisory lock that every writer takes), so no concurrent writer can change
//! what the plan was made from.
//!
//! Memory does not follow the size of the import: the sources are read as a stream, each
//! document's text goes to the spool (`spool.rs`, a temporary file), and the plan and the apply
//! read it back a bounded chunk at a time. What stays in memory for the whole import is a small
//! index per document (its identity, where it came from, its key and id).

pub mod diff;
mod merge;
mod plan;
pub mod sources;
mod spool;
pub mod upgrade;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::reader::Tree;
use std::time::{Duration, Instant};

use cuttle_crypto::MasterKey;
use cuttle_crypto::export::ExportKey;
use cuttle_instance::error::{Hint, Message};
use cuttle_instance::{Instance, Problems, WriteOptions};
use cuttle_store::{StoreError, WriteTxn};
use serde::Serialize;
use serde_json::Value;
use zeroize::Zeroizing;

pub use diff::{Change, ChangeKind};
pub use sources::ExportSource;

/// Where the documents come from.
#[derive(Debug)]
pub enum Sources {
    /// Exports (directories or archives), combined in order (later ones win).
    Exports(Vec<ExportSource>),
    /// An instance backup and the master key of the instance it came from.
    Backup {
        file: PathBuf,
        master_key: MasterKey,
    },
}

/// How to import.
#[derive(Clone, Debug, Default)]
pub struct ImportOptions {
    /// Replace (under the merge rules) what the destination has; otherwise skip it.
    pub overwrite: bool,
    /// Everything, writes included, then roll back.
    pub dry_run: bool,
    /// Never replace a sensitive value the destination holds.
    pub keep_destination_secrets: bool,
    /// Import the sources' task logs too.
    pub task_logs: bool,
    /// Read an export of a newer format version anyway.
    pub ignore_version_check: bool,
    /// The import may hold the destination alone while it writes
    /// ([`cuttle_store::Store::write_alone`]): a command's import, not a server's.
    pub alone: bool,
    /// Stop before committing when asked (checked between chunks of the plan, before writing
    /// and before committing): a cancelled import writes nothing.
    pub cancel: crate::Cancel,
}

/// What the plan does with one document (SPEC 6.5).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    Create,
    Overwrite,
    Merge,
    Remove,
    Skip,
    Unchanged,
}

impl Action {
    pub const ALL: [Action; 6] = [
        Action::Create,
        Action::Overwrite,
        Action::Merge,
        Action::Remove,
        Action::Skip,
        Action::Unchanged,
    ];
    pub fn name(self) -> &'static str {
        match self {
            Action::Create => "create",
            Action::Overwrite => "overwrite",
            Action::Merge => "merge",
            Action::Remove => "remove",
            Action::Skip => "skip",
            Action::Unchanged => "unchanged",
        }
    }
}

/// A document of the plan.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DocumentPlan {
    pub collection: &'static str,
    /// The owning project, for a project-owned document.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub project: Option<String>,
    /// The natural key within the project (parts separated by ` / `); empty for a project's
    /// singleton parts.
    pub key: String,
    pub action: Action,
    /// Why, when the action is not obvious (a skip, a removal).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// What would change the action, where something would (a skip: overwrite).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hint: Option<Hint>,
    /// The source the document comes from (absent for a removal).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub changes: Vec<Change>,
    /// What the plan decided beyond the merge rule, and why (what `--keep-destination-secrets`
    /// kept that the source would have changed).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

impl DocumentPlan {
    /// `collection "project / key"`, as messages name a document.
    pub fn title(&self) -> String {
        format!(
            "{} {:?}",
            self.collection,
            qualified(self.project.as_deref(), &self.key)
        )
    }
}

/// A document's name as messages show it: its project, then its key within the project
/// (`Web / Hotfix`); either may be absent.
pub fn qualified(project: Option<&str>, key: &str) -> String {
    match project {
        Some(project) if key.is_empty() => project.to_owned(),
        Some(project) => format!(
            "{project}{}{key}",
            cuttle_instance::codec::DISPLAY_SEPARATOR
        ),
        None => key.to_owned(),
    }
}

/// A change that grants access: a member or a role assignment added to a team.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Grant {
    pub team: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub member: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role_assignment: Option<Value>,
}

/// A document that more than one source defines.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Conflict {
    pub collection: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub project: Option<String>,
    pub key: String,
    /// Every source that defines it, in order.
    pub sources: Vec<String>,
    /// The source whose version is imported.
    pub winner: String,
    /// True when the winner replaced it as part of its project (a project's parts come whole).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub with_project: bool,
}

impl Conflict {
    fn new(id: &sources::Identity, first: &str) -> Conflict {
        let key: Vec<Value> = serde_json::from_str(&id.2).unwrap_or_default();
        Conflict {
            collection: id.0.name(),
            project: (!id.1.is_empty()).then(|| id.1.clone()),
            key: key
                .iter()
                .map(cuttle_instance::codec::display)
                .collect::<Vec<_>>()
                .join(cuttle_instance::codec::DISPLAY_SEPARATOR),
            sources: vec![first.to_owned()],
            winner: first.to_owned(),
            with_project: false,
        }
    }
    /// Its name: the project and the key within it.
    pub fn name(&self) -> String {
        qualified(self.project.as_deref(), &self.key)
    }
    fn replaced_by(&mut self, source: &str, with_project: bool) {
        if self.sources.last().map(String::as_str) != Some(source) {
            self.sources.push(source.to_owned());
        }
        self.winner = source.to_owned();
        self.with_project = with_project;
    }
}

/// Why the import stops before writing (SPEC 6.3): it would orphan history or widen a scope.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Blocker {
    pub collection: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub project: Option<String>,
    pub key: String,
    pub message: String,
    /// What would let the import go on, where something would.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hint: Option<Hint>,
}

/// What the plan reports, in order: warnings, conflicts, grants, then documents (and the
/// blockers, if any). `--format json` prints each as one line.
#[derive(Clone, Debug, Serialize)]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum PlanEvent<'a> {
    Warning {
        message: &'a str,
        #[serde(skip_serializing_if = "Option::is_none")]
        hint: Option<Hint>,
    },
    Conflict(&'a Conflict),
    Grant(&'a Grant),
    Document(&'a DocumentPlan),
    Blocker(&'a Blocker),
}

/// Receives the plan as it is made.
pub trait PlanSink {
    fn event(&mut self, event: PlanEvent<'_>) -> std::io::Result<()>;

    /// Called once the whole plan has been sent and nothing stops it, before anything is
    /// written: an error stops the import there (a saved plan that this one does not match).
    fn confirm(&mut self) -> std::io::Result<()> {
        Ok(())
    }

    /// Called in the import's transaction just before it commits (never on a dry run): what is
    /// written here commits with the import or not at all (a task's record that says so).
    fn committing(&mut self, _txn: &mut dyn WriteTxn) -> Result<(), ImportError> {
        Ok(())
    }
}

/// What an import did (or, on a dry run, would do).
#[derive(Clone, Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ImportSummary {
    /// Documents per collection and action, in declaration order.
    pub counts: Vec<(&'static str, Action, u64)>,
    pub conflicts: u64,
    pub grants: u64,
    pub dry_run: bool,
    /// Whether the transaction was committed.
    pub committed: bool,
    #[serde(skip)]
    pub elapsed: Duration,
}

impl ImportSummary {
    /// Documents per action, over every collection.
    pub fn totals(&self) -> Vec<(Action, u64)> {
        Action::ALL
            .iter()
            .map(|a| {
                let n = self
                    .counts
                    .iter()
                    .filter(|(_, b, _)| b == a)
                    .map(|(_, _, n)| n)
                    .sum();
                (*a, n)
            })
            .filter(|(_, n)| *n > 0)
            .collect()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// A wrong password, or a key that cannot be derived; reported before anything else.
    #[error("{0}")]
    Password(String),
    #[error("{0}")]
    Version(Message),
    /// A source that cannot be read (a file, a manifest, the layout).
    #[error("{0}")]
    Source(String),
    /// An archive that is refused or cannot be read.
    #[error(transparent)]
    Archive(#[from] crate::archive::ArchiveError),
    /// Documents that do not validate; nothing was written.
    #[error("{0}")]
    Invalid(Problems),
    /// The plan would orphan history or widen a scope; nothing was written.
    #[error(
        "the import stops before writing: {} change{} would lose information:{}",
        .0.len(),
        if .0.len() == 1 { "" } else { "s" },
        .0.iter().map(|b| format!("\n  - {} {:?}: {}", b.collection, b.name(), b.message)).collect::<String>()
    )]
    Blocked(Vec<Blocker>),
    #[error("{0}")]
    Backup(Message),
    #[error("writing the plan: {0}")]
    Output(#[from] std::io::Error),
    /// Cancelled before it committed: nothing was written.
    #[error("the import was cancelled before it committed: nothing was written")]
    Cancelled,
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Instance(cuttle_instance::Error),
}

impl Blocker {
    /// Its name: the project and the key within it.
    pub fn name(&self) -> String {
        qualified(self.project.as_deref(), &self.key)
    }
}

impl From<cuttle_instance::Error> for ImportError {
    fn from(error: cuttle_instance::Error) -> Self {
        match error {
            cuttle_instance::Error::Invalid(problems) => ImportError::Invalid(problems),
            cuttle_instance::Error::Store(e) => ImportError::Store(e),
            other => ImportError::Instance(other),
        }
    }
}

/// Progress: documents done out of a total.
pub type Progress<'a> = &'a mut dyn FnMut(u64, u64);

/// Imports `sources` into `instance` under `options`, reporting the plan to `sink`.
pub fn import(
    instance: &mut Instance,
    sources: &Sources,
    password: Option<&[u8]>,
    options: &ImportOptions,
    sink: &mut dyn PlanSink,
    progress: Progress<'_>,
) -> Result<ImportSummary, ImportError> {
    let started = Instant::now();
    let mut warnings = Vec::new();
    let mut opened = match sources {
        Sources::Exports(exports) => {
            let password = password
                .ok_or_else(|| ImportError::Password("an export needs its password".into()))?;
            sources::open_exports(
                exports,
                password,
                options.ignore_version_check,
                &options.cancel,
                &mut warnings,
            )?
        }
        Sources::Backup { .. } => Vec::new(),
    };
    let imported = import_opened(
        instance,
        sources,
        &mut opened,
        warnings,
        options,
        sink,
        progress,
    )
    .map_err(|e| match e {
        ImportError::Invalid(problems) => ImportError::Invalid(positioned(problems, &opened)),
        e => e,
    })?;
    Ok(ImportSummary {
        elapsed: started.elapsed(),
        ..imported
    })
}

/// [`import`], its exports opened.
fn import_opened(
    instance: &mut Instance,
    sources: &Sources,
    opened: &mut [sources::Opened],
    mut warnings: Vec<Message>,
    options: &ImportOptions,
    sink: &mut dyn PlanSink,
    progress: Progress<'_>,
) -> Result<ImportSummary, ImportError> {
    let mut spool = spool::Spool::new().map_err(sources::spool_error)?;
    let (docs, conflicts, keys) = match sources {
        Sources::Exports(_) => {
            let (docs, conflicts) = sources::read_and_combine(
                opened,
                options.task_logs,
                &mut warnings,
                &mut spool,
                &options.cancel,
            )?;
            // Every document is in the spool now: an archive's index is no longer needed.
            opened.iter_mut().for_each(sources::Opened::release);
            let keys: Vec<ExportKey> = opened.iter().map(|o| o.key.clone()).collect();
            (docs, conflicts, keys)
        }
        Sources::Backup { file, master_key } => {
            let key =
                ExportKey::ephemeral().map_err(|e| ImportError::Backup(e.to_string().into()))?;
            let backup_error = |e: crate::backup::BackupError| {
                ImportError::Backup(Message {
                    text: e.to_string(),
                    hint: e.hint(),
                })
            };
            let backup =
                crate::backup::read_backup(file, master_key, &key, options.ignore_version_check)
                    .map_err(backup_error)?;
            let mut docs = Vec::with_capacity(backup.documents.len());
            let mut project_names = sources::ProjectNames::default();
            for incoming in backup.documents {
                if options.cancel.is_cancelled() {
                    return Err(ImportError::Cancelled);
                }
                let incoming = incoming.map_err(backup_error)?;
                let decl = incoming.collection.decl();
                let mut value = cuttle_instance::codec::parse(
                    decl,
                    &incoming.json,
                    cuttle_instance::codec::Part::Identity,
                )
                .map_err(|e| ImportError::Backup(format!("{}: {e}", incoming.origin).into()))?;
                cuttle_instance::codec::normalize_key_fields(decl, &mut value);
                let project = sources::project_of(incoming.collection, &value)
                    .map(|name| project_names.share(name));
                docs.push(sources::SourceDoc {
                    doc: spool::Spooled::push(
                        &mut spool,
                        incoming.collection,
                        &incoming.json,
                        &value,
                        &incoming.origin,
                    )
                    .map_err(sources::spool_error)?,
                    source: 0,
                    project,
                });
            }
            docs.sort_by_key(|d| d.doc.collection.rank());
            (docs, Vec::new(), vec![key])
        }
    };
    for warning in &warnings {
        sink.event(PlanEvent::Warning {
            message: &warning.text,
            hint: warning.hint,
        })?;
    }
    let labels: Vec<String> = match sources {
        Sources::Exports(_) => opened.iter().map(|o| o.label.clone()).collect(),
        Sources::Backup { file, .. } => vec![file.display().to_string()],
    };

    let decrypt = |text: &str| -> Result<Zeroizing<String>, String> {
        let plain = open_any(&keys, text)?;
        String::from_utf8(plain.to_vec())
            .map(Zeroizing::new)
            .map_err(|_| "the decrypted value is not UTF-8 text".to_owned())
    };
    let (store, sealer) = instance.parts();
    let mut txn = if options.alone {
        store.write_alone()?
    } else {
        store.write()?
    };
    let planned = plan::plan(
        &mut *txn, sealer, &mut spool, docs, &conflicts, &keys, &labels, options, sink, progress,
    )?;
    // The plan says why it stops, whatever else is wrong.
    for blocker in &planned.blockers {
        sink.event(PlanEvent::Blocker(blocker))?;
    }
    if !planned.problems.is_empty() {
        return Err(ImportError::Invalid(Problems(planned.problems)));
    }
    if !planned.blockers.is_empty() {
        return Err(ImportError::Blocked(planned.blockers));
    }
    sink.confirm()?;
    if options.cancel.is_cancelled() {
        return Err(ImportError::Cancelled);
    }
    cuttle_instance::documents::write_documents(
        &mut *txn,
        sealer,
        &spool::SpooledDocs {
            spool: &spool,
            docs: &planned.writes,
        },
        WriteOptions {
            decrypt: Some(&decrypt),
        },
        &mut |_| {},
    )?;
    for id in &planned.removals {
        txn.delete(*id)?;
    }
    if options.cancel.is_cancelled() {
        return Err(ImportError::Cancelled);
    }
    let committed = if options.dry_run {
        // Everything the commit would write is written, then rolled back: a dry run fails where
        // the import would (a disk without room for it).
        txn.write_out()?;
        drop(txn);
        false
    } else {
        sink.committing(&mut *txn)?;
        txn.commit()?;
        true
    };
    Ok(ImportSummary {
        counts: planned.counts,
        conflicts: conflicts.len() as u64,
        grants: planned.grants,
        dry_run: options.dry_run,
        committed,
        elapsed: Duration::ZERO,
    })
}

/// Opens an export ciphertext with whichever source key it was made with (each source has its
/// own salt; AES-SIV authenticates, so a wrong key fails rather than misreads).
fn open_any(keys: &[ExportKey], text: &str) -> Result<Zeroizing<Vec<u8>>, String> {
    for key in keys {
        if let Ok(plain) = key.decrypt(text) {
            return Ok(plain);
        }
    }
    Err(
        "the encrypted value does not open under the export's password: it was altered \
         (tampered or damaged) or copied from another export; export it again"
            .into(),
    )
}

/// Adds the line and column to every problem whose origin is a JSON file of a source, and to a
/// reference that resolves nowhere, what to do about it.
fn positioned(problems: Problems, opened: &[sources::Opened]) -> Problems {
    // Archives released after reading are reopened, once, if a problem is in a JSON file.
    let trees: Vec<(&str, Arc<dyn Tree + Send>)> = if problems
        .0
        .iter()
        .any(|p| p.origin.as_deref().is_some_and(|o| o.ends_with(".json")))
    {
        opened
            .iter()
            .filter_map(|o| Some((o.label.as_str(), o.reopened()?)))
            .collect()
    } else {
        Vec::new()
    };
    Problems(
        problems
            .0
            .into_iter()
            .map(|mut problem| {
                if let Some(origin) = &problem.origin
                    && origin.ends_with(".json")
                    && let Some(position) = position_in(&trees, origin, &problem.path.pointer())
                {
                    problem.line = Some(position.line as u64);
                    problem.column = Some(position.column as u64);
                }
                if problem.message.starts_with("there is no ") {
                    problem.message.push_str(
                        ", neither in the imported sources nor in the destination: export it with \
                         the document that refers to it, create it in the destination first, or \
                         correct the name",
                    );
                }
                problem
            })
            .collect(),
    )
}

/// Where `pointer` stands in the file `origin` (a source's label, `/`, the file's path in it).
fn position_in(
    trees: &[(&str, Arc<dyn Tree + Send>)],
    origin: &str,
    pointer: &str,
) -> Option<crate::jsonpos::Position> {
    let text = trees.iter().find_map(|(label, tree)| {
        let relative = origin.strip_prefix(label)?.strip_prefix('/')?;
        tree.read(Path::new(relative)).ok()
    })?;
    crate::jsonpos::locate(&text, pointer)
}

/// A text field of a document, or "" when it is missing or not text.
pub(crate) fn text_of(value: Option<&Value>) -> String {
    value
        .and_then(Value::as_str)
        .map(str::to_owned)
        .unwrap_or_default()
}
