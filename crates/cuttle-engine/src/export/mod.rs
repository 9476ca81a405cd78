//! Export (SPEC 5): one read snapshot of an instance to a deterministic directory tree, one file
//! per document, references by name, sensitive values re-encrypted under a password.
//!
//! # Pipeline
//!
//! The store's read transaction belongs to one thread, so the calling thread reads: it takes
//! every document to export, collection by collection in the order of [`COLLECTIONS`] (or the
//! selection's closure), numbers it, and hands it, in batches of consecutive documents (waking a
//! thread per document would cost more than the work), over a bounded channel (so that memory
//! stays bounded, however large the instance) to a pool of workers, one per core
//! ([`std::thread::available_parallelism`], at most 8). A worker does the rest for its document:
//! renders it (ids to names, from the address map read once beforehand: [`Names::preloaded`],
//! shared by every worker), re-encrypts its sensitive values, serializes it into a buffer of its
//! own, and writes its file(s) through the shared `Tree`.
//!
//! The export key's derivation (Argon2, a tenth of a second or more of one core) starts on a
//! thread of its own beside the first reads. Over an earlier export it must open that export's
//! manifest, so it is waited for before anything is written; into a directory without one it
//! cannot fail, and the first document with a sensitive value waits for it (`LazyKey`).
//!
//! The output does not depend on the scheduling: each file's path and bytes depend on its
//! document alone, the manifest is written after every document, and the summary's counts are
//! sums (the per-collection counts are taken by the reader, in order). A failure is reported as
//! the sequential export would report it: the one of the lowest-numbered document that fails
//! (documents after it are skipped, the ones before it still done), before any read error. (Two
//! documents bound for one path, which would be a bug of the format, are reported with that path
//! whichever of the two comes second.)

mod tree;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, sync_channel};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use cuttle_crypto::export::{ExportKey, KdfParams, Salt};
use cuttle_crypto::{Place, Sealer};
use std::collections::BTreeSet;

use cuttle_domain::decl::CollectionDecl;
use cuttle_domain::path::{self, Step};
use cuttle_domain::sensitive;
use cuttle_domain::{COLLECTIONS, Collection};
use cuttle_instance::Instance;
use cuttle_instance::codec::{self, Names};
use cuttle_instance::error::{Hint, Message};
use cuttle_instance::large;
use cuttle_store::{ReadTxn, StoreError};
use serde_json::{Value, json};

use crate::closure::{self, ClosureError, Selection};
use crate::format::{self, Contents, ContentsKind, Encryption, InlineScripts, Kdf, Manifest};
use crate::layout;
use tree::Tree;

/// What to export and how.
#[derive(Clone, Debug)]
pub struct ExportOptions {
    pub output: Output,
    /// Remove every format-owned file first.
    pub clean: bool,
    /// Remove format-owned files that no longer match a document (mirroring); off with
    /// `--no-prune`.
    pub prune: bool,
    /// A new salt (and so new ciphertexts) even if the directory's manifest does not verify.
    pub rekey: bool,
    /// Releases and deployments.
    pub history: bool,
    /// Deployments' task logs (with history only).
    pub task_logs: bool,
    pub inline_scripts: InlineScripts,
    /// A partial export of these projects with their closure; `None` exports the instance.
    pub selection: Option<Selection>,
    /// Who may see what: every exported document must pass, or the export stops (nothing is
    /// left out silently: a partial export without a document it needs would not import).
    /// `None`: everything may be exported.
    pub visible: Option<Visibility>,
}

/// Where an export goes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Output {
    /// A directory (SPEC 5): each file written in place, a file already right left alone.
    Directory(PathBuf),
    /// One deterministic archive at this file ([`crate::archive`]), written whole or not at all;
    /// an archive already there is the export's base, as an earlier export is in a directory.
    Archive(PathBuf, crate::archive::Compression),
}

impl Output {
    /// The directory, or the archive file.
    pub fn path(&self) -> &Path {
        match self {
            Output::Directory(path) | Output::Archive(path, _) => path,
        }
    }
}

/// A check of each document an export writes, in the export shape: `Err` says why it may not be
/// exported.
#[derive(Clone)]
pub struct Visibility(pub Arc<VisibilityCheck>);

/// The check a [`Visibility`] makes.
pub type VisibilityCheck = dyn Fn(&CollectionDecl, &Value) -> Result<(), String> + Send + Sync;

impl std::fmt::Debug for Visibility {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Visibility(…)")
    }
}

/// What an export did.
#[derive(Clone, Debug, Default)]
pub struct ExportSummary {
    pub documents: Vec<(Collection, u64)>,
    pub files_written: u64,
    pub files_unchanged: u64,
    pub files_removed: u64,
    /// The bytes of every file of the export (written or already right).
    pub bytes: u64,
    pub elapsed: Duration,
}

#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("{0}")]
    Password(Message),
    #[error("{0}")]
    Directory(Message),
    /// The selection of a partial export names nothing, or something the instance lacks.
    #[error("{0}")]
    Selection(Message),
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "a sensitive value of {document} at {path} does not open under this instance's master key: {detail}"
    )]
    Sealed {
        document: String,
        path: String,
        detail: String,
    },
    /// A document the exporting person may not see.
    #[error("{0}")]
    NotVisible(String),
    /// The archive already at the output, which an export into it reads, is refused.
    #[error(transparent)]
    Archive(#[from] crate::archive::ArchiveError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Instance(#[from] cuttle_instance::Error),
}

impl From<ClosureError> for ExportError {
    fn from(error: ClosureError) -> Self {
        match error {
            ClosureError::Selection(message) => ExportError::Selection(message),
            ClosureError::Store(error) => ExportError::Store(error),
        }
    }
}

/// Progress: documents done out of a total.
pub type Progress<'a> = &'a mut dyn FnMut(u64, u64);

/// Exports `instance` to `options.output` with `password`. An export that fails before it wrote
/// a file leaves no folder it made behind (a wrong selection or password changes nothing); an
/// export into an archive writes it whole or not at all.
pub fn export(
    instance: &mut Instance,
    password: &[u8],
    options: &ExportOptions,
    progress: Progress<'_>,
) -> Result<ExportSummary, ExportError> {
    let Output::Directory(directory) = &options.output else {
        return export_into(instance, password, options, progress);
    };
    // The folders the export makes: the directory, and those above it that are missing.
    let made: Vec<PathBuf> = directory
        .ancestors()
        .take_while(|dir| !dir.as_os_str().is_empty() && std::fs::symlink_metadata(dir).is_err())
        .map(Path::to_owned)
        .collect();
    let result = export_into(instance, password, options, progress);
    if result.is_err() {
        // Only what is still empty: `remove_dir` refuses anything else.
        for dir in &made {
            if std::fs::remove_dir(dir).is_err() {
                break;
            }
        }
    }
    result
}

fn export_into(
    instance: &mut Instance,
    password: &[u8],
    options: &ExportOptions,
    progress: Progress<'_>,
) -> Result<ExportSummary, ExportError> {
    let started = Instant::now();
    let mut tree = Tree::open(&options.output)?;
    let existing = tree.manifest()?;
    let contents = contents_of(options);
    check_directory(&tree, existing.as_ref(), &contents, options.clean)?;
    let identity = instance.identity();

    let mut summary = ExportSummary::default();
    let key = LazyKey {
        derived: OnceLock::new(),
        password,
        existing: existing.as_ref(),
        rekey: options.rekey,
        identity,
    };
    std::thread::scope(|scope| -> Result<(), ExportError> {
        // The derivation starts at once, beside the store's first reads.
        scope.spawn(|| key.get().is_ok());
        let (store, sealer) = instance.parts();
        let wanted = |decl: &&CollectionDecl| {
            (!decl.history || contents.history)
                && (decl.collection != Collection::TaskLogs || contents.task_logs)
        };
        let prepared = store
            .read()
            .map_err(ExportError::from)
            .and_then(|mut read| {
                let names = Names::preloaded(&mut *read)?;
                // What to write, collection by collection: every document, or the selection's
                // closure.
                let partial = match &options.selection {
                    Some(selection) => Some(closure::closure(&mut *read, selection)?),
                    None => None,
                };
                Ok((read, names, partial))
            });
        // Over an earlier export, the password must open it: said before anything is written
        // (or cleaned). Into a directory without one, the key (its salt derived from the
        // instance's identity) cannot be refused, so the documents go ahead while it is derived:
        // the first one with a sensitive value waits for it.
        if existing.is_some() || options.clean {
            key.get()?;
        }
        let (mut read, names, partial) = prepared?;
        if options.clean {
            tree.clean()?;
        }
        let selected: Option<BTreeSet<String>> = partial
            .as_ref()
            .map(|c| c.projects.values().cloned().collect());
        // What to read, collection by collection: all of it, or the closure's documents.
        let sources: Vec<(&'static CollectionDecl, Source<'_>)> = COLLECTIONS
            .iter()
            .filter(wanted)
            .map(|decl| {
                let source = match &partial {
                    None => Source::Scan,
                    Some(closure) => Source::Ids(
                        closure
                            .documents
                            .values()
                            .find(|(c, _)| *c == decl.collection)
                            .map(|(_, ids)| ids.as_slice())
                            .unwrap_or_default(),
                    ),
                };
                (decl, source)
            })
            .collect();
        let mut total = 0;
        for (decl, source) in &sources {
            total += match source {
                Source::Ids(ids) => ids.len() as u64,
                Source::Scan => read.count(decl.collection)?,
            };
        }
        progress(0, total);

        let shared = Shared {
            sealer,
            key: &key,
            contents: &contents,
            selected: selected.as_ref(),
            visible: options.visible.as_ref(),
            tree: &tree,
            failure: Failure::default(),
            done: AtomicU64::new(0),
        };
        let read_result = shared.run(&mut *read, &sources, &names, total, progress);
        // A document's failure comes first: the reader stopped because of it, or read further
        // than the sequential export would have.
        if let Some(error) = shared.failure.take() {
            return Err(error);
        }
        summary.documents = read_result?;
        progress(shared.done.load(Ordering::Relaxed), total);
        Ok(())
    })?;
    let (key, kdf) = key.get()?;

    let manifest = Manifest {
        format_version: format::FORMAT_VERSION,
        product_version: env!("CARGO_PKG_VERSION").to_owned(),
        schema_version: cuttle_domain::DOMAIN_VERSION,
        contents,
        encryption: Encryption {
            algorithm: format::SIV.to_owned(),
            kdf: kdf.clone(),
            key_check: key.key_check(),
        },
    };
    let mut bytes = Vec::new();
    format::write_document(
        &serde_json::to_value(&manifest).expect("a manifest serializes"),
        &mut bytes,
    );
    tree.write(Path::new(format::MANIFEST), &bytes)?;
    if options.prune && (existing.is_some() || options.clean) {
        tree.prune()?;
    }
    summary.files_written = tree.written();
    summary.files_unchanged = tree.unchanged();
    summary.files_removed = tree.removed();
    summary.bytes = tree.bytes();
    tree.finish()?;
    summary.elapsed = started.elapsed();
    Ok(summary)
}

/// At most this many workers, however many cores: creating files in a handful of folders does
/// not go faster with many more, and each worker holds batches in memory.
const MAX_WORKERS: usize = 8;

/// Batches waiting in the channel per worker: enough to keep every worker busy while the reader
/// waits on the store, few enough to bound memory.
const BATCHES_PER_WORKER: usize = 2;

/// A batch holds up to this many documents, or as many as make this many bytes of stored bodies:
/// handing documents over one by one would cost more in waking threads than the work itself.
const BATCH_DOCUMENTS: usize = 128;
const BATCH_BYTES: usize = 1 << 20;

/// How often (in documents read) progress is reported.
const PROGRESS_EVERY: u64 = 256;

/// One document for a worker, numbered in the order of the sequential export.
struct Job {
    sequence: u64,
    decl: &'static CollectionDecl,
    doc: cuttle_store::StoredDoc,
}

/// Documents handed to one worker at once, in order.
type Batch = Vec<Job>;

/// The failure of the lowest-numbered document that failed, and where to stop.
struct Failure {
    /// Documents numbered from here on are not exported (`u64::MAX`: no failure).
    stop_at: AtomicU64,
    first: Mutex<Option<(u64, ExportError)>>,
}

impl Default for Failure {
    fn default() -> Self {
        Failure {
            stop_at: AtomicU64::new(u64::MAX),
            first: Mutex::new(None),
        }
    }
}

impl Failure {
    fn stopped(&self) -> bool {
        self.stop_at.load(Ordering::Relaxed) != u64::MAX
    }

    fn skips(&self, sequence: u64) -> bool {
        sequence >= self.stop_at.load(Ordering::Relaxed)
    }

    fn record(&self, sequence: u64, error: ExportError) {
        let mut first = self.first.lock().unwrap_or_else(|e| e.into_inner());
        if first.as_ref().is_none_or(|(at, _)| sequence < *at) {
            *first = Some((sequence, error));
        }
        self.stop_at.fetch_min(sequence, Ordering::Relaxed);
    }

    fn take(&self) -> Option<ExportError> {
        let mut first = self.first.lock().unwrap_or_else(|e| e.into_inner());
        first.take().map(|(_, error)| error)
    }
}

/// What every worker reads (and the few things they update together).
struct Shared<'a> {
    sealer: &'a Sealer,
    key: &'a LazyKey<'a>,
    contents: &'a Contents,
    selected: Option<&'a BTreeSet<String>>,
    visible: Option<&'a Visibility>,
    tree: &'a Tree,
    failure: Failure,
    /// Documents exported.
    done: AtomicU64,
}

/// Where the documents of one collection come from.
enum Source<'a> {
    /// Every document of the collection, in the store's order.
    Scan,
    /// These documents, in this order.
    Ids(&'a [cuttle_store::DocId]),
}

impl Shared<'_> {
    /// The pipeline (see the module's documentation): reads the documents of `sources` on this
    /// thread, which owns `read`, and exports them on a pool of workers. Returns the documents
    /// read per collection, in order; a document's failure is left in `self.failure`.
    fn run(
        &self,
        read: &mut dyn ReadTxn,
        sources: &[(&'static CollectionDecl, Source<'_>)],
        names: &Names<'_>,
        total: u64,
        progress: Progress<'_>,
    ) -> Result<Vec<(Collection, u64)>, StoreError> {
        let workers = std::thread::available_parallelism()
            .map_or(1, |n| n.get())
            .min(MAX_WORKERS);
        let (sender, receiver) = sync_channel::<Batch>(workers * BATCHES_PER_WORKER);
        // Owned by the workers alone: should they all stop (a panic), the reader's next send
        // fails instead of waiting for ever.
        let receiver = Arc::new(Mutex::new(receiver));
        std::thread::scope(|scope| {
            let handles: Vec<_> = (0..workers)
                .map(|_| {
                    let receiver = Arc::clone(&receiver);
                    let addresses = names.addresses();
                    scope.spawn(move || self.work(&receiver, Names::shared(addresses)))
                })
                .collect();
            drop(receiver);

            let mut documents: Vec<(Collection, u64)> = Vec::new();
            let mut sequence = 0;
            let mut batch = Batch::with_capacity(BATCH_DOCUMENTS);
            let mut batch_bytes = 0;
            let stopped = || StoreError::Corrupt("export stopped".into());
            let send = |batch: &mut Batch, batch_bytes: &mut usize| -> Result<(), StoreError> {
                *batch_bytes = 0;
                sender
                    .send(std::mem::replace(
                        batch,
                        Vec::with_capacity(BATCH_DOCUMENTS),
                    ))
                    .map_err(|_| stopped())
            };
            let mut dispatch = |decl: &'static CollectionDecl,
                                doc: cuttle_store::StoredDoc|
             -> Result<(), StoreError> {
                if self.failure.stopped() {
                    return Err(stopped());
                }
                match documents.last_mut() {
                    Some((last, n)) if *last == decl.collection => *n += 1,
                    _ => documents.push((decl.collection, 1)),
                }
                batch_bytes += doc.body.len();
                batch.push(Job {
                    sequence,
                    decl,
                    doc,
                });
                sequence += 1;
                if batch.len() >= BATCH_DOCUMENTS || batch_bytes >= BATCH_BYTES {
                    send(&mut batch, &mut batch_bytes)?;
                }
                if sequence % PROGRESS_EVERY == 0 {
                    progress(self.done.load(Ordering::Relaxed), total);
                }
                Ok(())
            };
            let mut read_all = || -> Result<(), StoreError> {
                for (decl, source) in sources {
                    match source {
                        Source::Scan => {
                            read.scan(decl.collection, None, &mut |doc| dispatch(decl, doc))?
                        }
                        Source::Ids(ids) => {
                            for id in *ids {
                                let doc = read.get(*id)?.ok_or_else(|| {
                                    StoreError::Corrupt(format!("document {id} vanished"))
                                })?;
                                dispatch(decl, doc)?;
                            }
                        }
                    }
                }
                Ok(())
            };
            let result = read_all().and_then(|()| {
                if batch.is_empty() {
                    Ok(())
                } else {
                    send(&mut batch, &mut batch_bytes)
                }
            });
            drop(sender);
            for handle in handles {
                if let Err(panic) = handle.join() {
                    std::panic::resume_unwind(panic);
                }
            }
            result.map(|()| documents)
        })
    }

    /// A worker: exports the documents of batches from `batches` until the reader is done.
    fn work(&self, batches: &Mutex<Receiver<Batch>>, mut names: Names<'_>) {
        let mut buffer = Vec::new();
        loop {
            // The lock is held only to take one batch.
            let batch = match batches.lock() {
                Ok(receiver) => receiver.recv(),
                Err(_) => return,
            };
            let Ok(batch) = batch else {
                return;
            };
            for Job {
                sequence,
                decl,
                doc,
            } in batch
            {
                if self.failure.skips(sequence) {
                    break;
                }
                match export_document(decl, &doc, &mut names, self, &mut buffer) {
                    Ok(()) => {
                        self.done.fetch_add(1, Ordering::Relaxed);
                    }
                    Err(error) => {
                        self.failure.record(sequence, error);
                        break;
                    }
                }
            }
        }
    }
}

/// The manifest's account of what `options` export.
fn contents_of(options: &ExportOptions) -> Contents {
    let sorted = |names: &[String]| -> Vec<String> {
        let set: BTreeSet<String> = names
            .iter()
            .map(|n| cuttle_domain::names::nfc(n).into_owned())
            .collect();
        set.into_iter().collect()
    };
    match &options.selection {
        None => Contents {
            kind: ContentsKind::Instance,
            projects: Vec::new(),
            project_groups: Vec::new(),
            ignored: Vec::new(),
            history: options.history,
            task_logs: options.history && options.task_logs,
            inline_scripts: options.inline_scripts,
        },
        Some(selection) => {
            let history = options.history && !selection.ignore.history;
            Contents {
                kind: ContentsKind::Partial,
                projects: sorted(&selection.projects),
                project_groups: sorted(&selection.project_groups),
                ignored: selection.ignore.names(),
                history,
                task_logs: history && !selection.ignore.deployments && options.task_logs,
                inline_scripts: options.inline_scripts,
            }
        }
    }
}

/// An instance export goes into any directory (mirroring an earlier instance export); a partial
/// export into a directory without files the format owns (SPEC 5.9: empty, or a fresh clone with
/// only a README and `.git`) or an earlier partial export of the same selection.
/// `--clean` lets either replace an earlier export of another kind or selection.
fn check_directory(
    tree: &Tree,
    existing: Option<&Manifest>,
    contents: &Contents,
    clean: bool,
) -> Result<(), ExportError> {
    let root = tree.root().display();
    let same_selection = |m: &Manifest| {
        m.contents.kind == contents.kind
            && m.contents.projects == contents.projects
            && m.contents.project_groups == contents.project_groups
            && m.contents.ignored == contents.ignored
    };
    match (contents.kind, existing) {
        (_, Some(m)) if same_selection(m) || clean => Ok(()),
        (ContentsKind::Instance, Some(_)) => Err(ExportError::Directory(Message::hinted(
            format!(
                "{root} holds a partial export; an instance export goes into an empty directory or an earlier instance export"
            ),
            Hint::Clean,
        ))),
        (ContentsKind::Partial, Some(m)) => Err(ExportError::Directory(Message::hinted(
            format!(
                "{root} holds {}; a partial export goes into a directory without an export or an earlier partial export of the same selection",
                match m.contents.kind {
                    ContentsKind::Instance => "an instance export".to_owned(),
                    ContentsKind::Partial => format!(
                        "a partial export of another selection (projects {:?}, project groups {:?}, ignoring {:?})",
                        m.contents.projects, m.contents.project_groups, m.contents.ignored
                    ),
                }
            ),
            Hint::Clean,
        ))),
        // Only files the format owns occupy a directory: a fresh clone (`.git`, a README) is as
        // good as empty.
        (ContentsKind::Partial, None) if !clean => match tree.owned()?.0.first() {
            Some(file) => Err(ExportError::Directory(Message::hinted(
                format!(
                    "{root} holds files of an export ({} among them) but no manifest; a partial export goes into a directory \
                     without such files (others, such as a README or .git, may stay) or an earlier partial export of the same selection: \
                     remove them, or remove every file the format owns",
                    file.display()
                ),
                Hint::Clean,
            ))),
            None => Ok(()),
        },
        _ => Ok(()),
    }
}

/// The export key, derived (Argon2: a tenth of a second or more of one core) once, by the first
/// thread that needs it, while the others that need it wait.
struct LazyKey<'a> {
    /// The key, or why there is none: a wrong password, or a directory whose manifest cannot
    /// be used (each waiting thread gets the same error).
    derived: OnceLock<Result<(ExportKey, Kdf), (bool, Message)>>,
    password: &'a [u8],
    existing: Option<&'a Manifest>,
    rekey: bool,
    identity: [u8; 16],
}

impl LazyKey<'_> {
    /// The export key and its parameters (see [`export_key`]).
    fn get(&self) -> Result<&(ExportKey, Kdf), ExportError> {
        self.derived
            .get_or_init(|| {
                export_key(self.password, self.existing, self.rekey, self.identity).map_err(|e| {
                    match e {
                        ExportError::Directory(m) => (false, m),
                        ExportError::Password(m) => (true, m),
                        other => (true, other.to_string().into()),
                    }
                })
            })
            .as_ref()
            .map_err(|(password, message)| match password {
                true => ExportError::Password(message.clone()),
                false => ExportError::Directory(message.clone()),
            })
    }
}

/// The export key: the existing manifest's salt and parameters when the password verifies
/// against it; a new salt with `--rekey`; for a directory without a manifest, a salt derived from
/// the instance's identity, so that re-exports into fresh directories are identical too.
fn export_key(
    password: &[u8],
    existing: Option<&Manifest>,
    rekey: bool,
    identity: [u8; 16],
) -> Result<(ExportKey, Kdf), ExportError> {
    let fresh = |salt: Salt| -> Result<(ExportKey, Kdf), ExportError> {
        let params = KdfParams::DEFAULT;
        let key = ExportKey::derive_cached(password, &salt, &params)
            .map_err(|e| ExportError::Password(e.to_string().into()))?;
        Ok((key, kdf_of(&params, &salt)))
    };
    match existing {
        None => fresh(Salt::from_identity(&identity)),
        Some(manifest) => {
            // Reuse the earlier export's salt and parameters when the password opens it and
            // the parameters are not weaker than an export may use.
            let kdf = &manifest.encryption.kdf;
            let params = KdfParams {
                memory_kib: kdf.memory_kib,
                iterations: kdf.iterations,
                parallelism: kdf.parallelism,
            };
            let opened = crate::reader::export_key(manifest, password);
            let weak = params.check_for_export().err();
            match (opened, weak) {
                (Ok(key), None) => Ok((key, kdf.clone())),
                _ if rekey => {
                    fresh(Salt::random().map_err(|e| ExportError::Password(e.to_string().into()))?)
                }
                (Ok(_), Some(weak)) => Err(ExportError::Password(Message::hinted(
                    format!(
                        "the export already in this directory was made with a weaker key derivation than an export may use ({weak})"
                    ),
                    Hint::Rekey,
                ))),
                (Err(crate::reader::ReadError::Password(_)), _) => {
                    Err(ExportError::Password(Message::hinted(
                        "the password does not open the export already in this directory (its manifest's key check); \
                     give the password it was made with",
                        Hint::Rekey,
                    )))
                }
                // A damaged manifest is said as such, not as a wrong password.
                (Err(damaged), _) => Err(ExportError::Directory(Message::hinted(
                    damaged.to_string(),
                    Hint::Rekey,
                ))),
            }
        }
    }
}

fn kdf_of(params: &KdfParams, salt: &Salt) -> Kdf {
    Kdf {
        algorithm: format::ARGON2ID.to_owned(),
        memory_kib: params.memory_kib,
        iterations: params.iterations,
        parallelism: params.parallelism,
        salt: salt.encode(),
    }
}

fn text<'v>(value: &'v Value, field: &str) -> &'v str {
    value.get(field).and_then(Value::as_str).unwrap_or_default()
}

/// Moves every inline script of a rendered document into a file of its own: the JSON keeps
/// `{"syntax", "file"}`, the file's name made of the stems of the named elements on the way
/// (`deploy.run-script.sh`), or `script.<ext>`.
fn extract_scripts(decl: &CollectionDecl, value: &mut Value) -> Vec<(PathBuf, String)> {
    let mut found = Vec::new();
    for script_path in decl.scripts {
        let _ = path::for_each::<()>(value, script_path, None, &mut |script, at| {
            if script.is_object() {
                found.push(at.to_path());
            }
            Ok(())
        });
    }
    let dir = layout::scripts_dir(decl, value);
    let mut files = Vec::new();
    for at in found {
        let mut parts = Vec::new();
        let mut cursor = &*value;
        for step in at.steps() {
            cursor = match step {
                Step::Field(name) => &cursor[name.as_str()],
                Step::Index(i) => {
                    parts.push(format::stem(text(&cursor[*i], "name")));
                    &cursor[*i]
                }
            };
        }
        let syntax = cursor.get("syntax").cloned().unwrap_or(Value::Null);
        let body = text(cursor, "body").to_owned();
        let extension = serde_json::from_value(syntax.clone())
            .map(format::script_extension)
            .unwrap_or("txt");
        // A step with one action usually shares its name: say it once.
        parts.dedup();
        let stem = if parts.is_empty() {
            "script".to_owned()
        } else {
            parts.join(".")
        };
        let file = format!("{stem}.{extension}");
        if let Some(slot) = value.pointer_mut(&at.pointer()) {
            *slot = json!({ "syntax": syntax, "file": file });
        }
        files.push((dir.join(&file), body));
    }
    files
}

/// Re-encrypts a stored sealed value (as `render` hands it over) under the export key: the form
/// of a sensitive value in an export.
pub(crate) fn reencrypt(
    sealer: &Sealer,
    key: &ExportKey,
    slot: &mut Value,
    place: Place<'_>,
) -> Result<(), cuttle_crypto::CryptoError> {
    let plain = codec::open_sealed(sealer, slot, place)?;
    *slot = json!({ sensitive::ENCRYPTED: key.encrypt(&plain) });
    Ok(())
}

/// What re-encrypting a document's sealed values under the export key met: the first value that
/// did not open, or the export key's own failure.
struct Reencrypt<'s, 'a> {
    shared: &'s Shared<'a>,
    sealed_failure: Option<(String, String)>,
    key_failure: Option<ExportError>,
}

impl<'s, 'a> Reencrypt<'s, 'a> {
    fn new(shared: &'s Shared<'a>) -> Self {
        Reencrypt {
            shared,
            sealed_failure: None,
            key_failure: None,
        }
    }

    /// Re-encrypts one sealed value, as [`codec::render`] hands it over.
    fn slot(&mut self, slot: &mut Value, place: Place<'_>) -> Result<(), StoreError> {
        match self.shared.key.get() {
            Ok((key, _)) => {
                if let Err(e) = reencrypt(self.shared.sealer, key, slot, place) {
                    self.sealed_failure
                        .get_or_insert_with(|| (place.pointer.to_owned(), e.to_string()));
                }
            }
            Err(e) => self.key_failure = Some(e),
        }
        Ok(())
    }

    /// The failure met so far, in the document `value` (rendered) of `decl`.
    fn check(&mut self, decl: &CollectionDecl, value: &Value) -> Result<(), ExportError> {
        if let Some(failure) = self.key_failure.take() {
            return Err(failure);
        }
        if let Some((path, detail)) = self.sealed_failure.take() {
            return Err(ExportError::Sealed {
                document: cuttle_instance::documents::describe(decl, value),
                path,
                detail,
            });
        }
        Ok(())
    }
}

/// Renders, re-encrypts and writes one document (and its extracted scripts); `buffer` is the
/// worker's serialization buffer. A large document ([`large`]) is rendered and printed an
/// element at a time.
fn export_document(
    decl: &CollectionDecl,
    doc: &cuttle_store::StoredDoc,
    names: &mut Names<'_>,
    shared: &Shared<'_>,
    buffer: &mut Vec<u8>,
) -> Result<(), ExportError> {
    let mut re = Reencrypt::new(shared);
    // A tenant trimmed to the selected projects is rendered whole, and so is a document with
    // scripts in more than one kind of place (their files are named in the whole's order).
    let large = match (shared.selected, decl.collection) {
        (Some(_), Collection::Tenants) => None,
        _ if decl.scripts.len() > 1 => None,
        _ => large::render(decl, doc.id, &doc.body, names, &mut |v, p| re.slot(v, p))?,
    };
    let mut value = match &large {
        Some(rendering) => rendering.head.clone(),
        None => codec::render(decl, doc.id, &doc.body, names, &mut |v, p| re.slot(v, p))?,
    };
    re.check(decl, &value)?;
    if let (Some(projects), Collection::Tenants) = (shared.selected, decl.collection) {
        closure::trim_tenant(&mut value, &|project| {
            project.as_str().is_some_and(|p| projects.contains(p))
        });
    }
    // Printed first (a large document's elements are rendered as they are printed), so that
    // what fails in rendering is reported before whether the document is visible, whichever way
    // it goes.
    let extract = shared.contents.inline_scripts == InlineScripts::Extract;
    let mut files = Vec::new();
    match &large {
        _ if decl.collection == Collection::TaskLogs => {}
        None => {
            if extract {
                files = extract_scripts(decl, &mut value);
            }
            format::write_document(&value, buffer);
        }
        Some(rendering) => {
            let field = rendering.field();
            buffer.clear();
            large::print_with::<ExportError>(
                &value,
                field,
                rendering.len(),
                large::Print::Pretty,
                buffer,
                &mut |index| {
                    let element = rendering.element(index, names, &mut |v, p| re.slot(v, p))?;
                    if !extract || decl.scripts.is_empty() {
                        return Ok(element);
                    }
                    // A script is named after the elements it stands in: extracted from the
                    // element in a document of its own.
                    let mut alone = rendering.head.clone();
                    alone[field] = Value::Array(vec![element]);
                    files.extend(extract_scripts(decl, &mut alone));
                    Ok(alone[field][0].take())
                },
            )?;
            buffer.push(b'\n');
            re.check(decl, &value)?;
        }
    }
    if let Some(visible) = shared.visible {
        (visible.0)(decl, &value).map_err(ExportError::NotVisible)?;
    }
    let tree = shared.tree;
    let path = layout::document_path(decl, &value);
    if decl.collection == Collection::TaskLogs {
        return tree.write(&path, text(&value, "log").as_bytes());
    }
    for (file, body) in files {
        tree.write(&file, body.as_bytes())?;
    }
    tree.write(&path, buffer)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scripts_are_named_after_their_step_and_action() {
        let decl = Collection::DeploymentProcesses.decl();
        let mut value = json!({"project": "Web App", "steps": [{"name": "Deploy", "actions": [
            {"name": "Run script", "script": {"syntax": "Bash", "body": "echo hi\n"}},
            {"name": "No script", "script": null}
        ]}]});
        let files = extract_scripts(decl, &mut value);
        let dir = crate::layout::project_dir("Web App").join("scripts");
        assert_eq!(
            files,
            vec![(
                dir.join(format!(
                    "{}.{}.sh",
                    format::stem("Deploy"),
                    format::stem("Run script")
                )),
                "echo hi\n".to_owned()
            )]
        );
        assert_eq!(
            value["steps"][0]["actions"][0]["script"]["file"],
            format!(
                "{}.{}.sh",
                format::stem("Deploy"),
                format::stem("Run script")
            )
        );
        assert!(
            value["steps"][0]["actions"][0]["script"]
                .get("body")
                .is_none()
        );
    }
}
