//! Migrations as tasks (SPEC 9): a request starts a task and returns at once; one worker thread
//! runs the tasks in the order they came, each on a session of its own, an import in the
//! writers' queue (so at most one task, or document write, writes at a time). A task's record is
//! kept in the instance (`cuttle_service::tasks`) at every change of state; its progress and log
//! live here while it runs.
//!
//! What a task makes (an archive, a backup, a plan's lines) and what is uploaded for an import are
//! files in the server's working folder, which lives as long as the server: a task's record
//! outlives them, and says so when they are asked for after a restart.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, mpsc};

use cuttle_engine::Cancel;
use cuttle_engine::archive::{Archive, Compression};
use cuttle_engine::import::{PlanEvent, PlanSink};
use cuttle_service::request::{
    Backup, Export, Import, ImportSource, Output, PartialExport, PasswordSource,
};
use cuttle_service::tasks::{Task, TaskState};
use cuttle_service::{Access, Error, ErrorKind, ImportControl, PlanSummary, SavedPlan, Session};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::state::State;

/// What a task is to do, resolved from its request.
pub(crate) enum Work {
    Export(Export),
    PartialExport(PartialExport),
    Import {
        request: Import,
        /// Applying a previewed plan: commit only if planning again gives this one.
        expected: Option<Box<SavedPlan>>,
    },
    Backup,
}

/// A task waiting for the worker.
pub(crate) struct Job {
    pub(crate) id: i64,
    pub(crate) work: Work,
    pub(crate) password: Option<Zeroizing<String>>,
    pub(crate) access: Access,
}

/// A task not yet ended: its record as it stands, and how to stop it.
struct Live {
    task: Task,
    cancel: Cancel,
}

/// An uploaded archive, for an import.
#[derive(Clone, Debug)]
pub(crate) struct Upload {
    pub(crate) path: PathBuf,
    /// Who uploaded it: only they import it.
    pub(crate) actor: String,
    /// Its index, made as it arrived, so that an import does not read it through again; kept
    /// for the last [`INDEXES_KEPT`] uploads only (an index takes memory: about 100 bytes a
    /// file).
    pub(crate) index: Option<Arc<Archive>>,
    /// When it came, in order.
    pub(crate) order: u64,
}

/// Uploads whose index is kept.
const INDEXES_KEPT: usize = 4;

pub(crate) struct Tasks {
    work: PathBuf,
    live: Mutex<HashMap<i64, Live>>,
    uploads: Mutex<HashMap<String, Upload>>,
    queue: Mutex<Option<mpsc::Sender<Box<Job>>>>,
    /// Folders under which an import may read export directories (`--migration-root`),
    /// canonical.
    pub(crate) roots: Vec<PathBuf>,
    /// Woken when a task ends, so that its followers hear of it at once.
    pub(crate) ended: tokio::sync::Notify,
}

impl Tasks {
    pub(crate) fn new(work: PathBuf, roots: Vec<PathBuf>) -> Tasks {
        Tasks {
            work,
            live: Mutex::new(HashMap::new()),
            uploads: Mutex::new(HashMap::new()),
            queue: Mutex::new(None),
            roots,
            ended: tokio::sync::Notify::new(),
        }
    }

    /// Starts the worker; it runs until the server stops.
    pub(crate) fn start(state: &Arc<State>) -> std::thread::JoinHandle<()> {
        let (sender, jobs) = mpsc::channel::<Box<Job>>();
        *state.tasks.queue.lock().expect("the queue's lock") = Some(sender);
        let state = state.clone();
        std::thread::Builder::new()
            .name("cuttle-tasks".into())
            .spawn(move || {
                for job in jobs {
                    run(&state, *job);
                }
            })
            .expect("the tasks' thread starts")
    }

    /// Stops taking tasks, cancels the running one and those queued, and lets the worker end.
    pub(crate) fn stop(&self) {
        self.queue.lock().expect("the queue's lock").take();
        for live in self.live.lock().expect("the tasks' lock").values() {
            live.cancel.cancel();
        }
    }

    /// The folder of a task's files.
    pub(crate) fn folder(&self, id: i64) -> PathBuf {
        self.work.join("tasks").join(id.to_string())
    }

    pub(crate) fn uploads_folder(&self) -> PathBuf {
        self.work.join("uploads")
    }

    /// Adds an upload; the indexes of all but the last few are dropped.
    pub(crate) fn add_upload(&self, id: String, mut upload: Upload) {
        let mut uploads = self.uploads.lock().expect("the uploads' lock");
        upload.order = uploads.values().map(|u| u.order + 1).max().unwrap_or(0);
        uploads.insert(id, upload);
        let mut indexed: Vec<&mut Upload> =
            uploads.values_mut().filter(|u| u.index.is_some()).collect();
        indexed.sort_by_key(|u| std::cmp::Reverse(u.order));
        for old in indexed.into_iter().skip(INDEXES_KEPT) {
            old.index = None;
        }
    }

    /// The indexes kept of the uploads at `paths`.
    fn indexes(&self, paths: &[PathBuf]) -> Vec<(PathBuf, Arc<Archive>)> {
        let uploads = self.uploads.lock().expect("the uploads' lock");
        uploads
            .values()
            .filter(|u| paths.contains(&u.path))
            .filter_map(|u| Some((u.path.clone(), u.index.clone()?)))
            .collect()
    }

    pub(crate) fn upload(&self, id: &str) -> Option<Upload> {
        self.uploads
            .lock()
            .expect("the uploads' lock")
            .get(id)
            .cloned()
    }

    /// Queues a recorded task.
    pub(crate) fn queue(&self, task: Task, job: Job) -> Result<(), Error> {
        let cancel = Cancel::new();
        self.live
            .lock()
            .expect("the tasks' lock")
            .insert(task.id, Live { task, cancel });
        let queue = self.queue.lock().expect("the queue's lock");
        let sent = queue.as_ref().map(|q| q.send(Box::new(job)));
        match sent {
            Some(Ok(())) => Ok(()),
            _ => Err(Error::new(
                ErrorKind::Storage,
                "the server is stopping and takes no more tasks",
            )),
        }
    }

    /// The task as it stands now, where it is still running (its progress and log are here).
    pub(crate) fn current(&self, id: i64) -> Option<Task> {
        self.live
            .lock()
            .expect("the tasks' lock")
            .get(&id)
            .map(|l| l.task.clone())
    }

    /// Asks a task to stop; false when it has already ended.
    pub(crate) fn cancel(&self, id: i64) -> bool {
        match self.live.lock().expect("the tasks' lock").get(&id) {
            Some(live) => {
                live.cancel.cancel();
                true
            }
            None => false,
        }
    }

    fn update(&self, id: i64, change: impl FnOnce(&mut Task)) -> Option<Task> {
        let mut live = self.live.lock().expect("the tasks' lock");
        live.get_mut(&id).map(|l| {
            change(&mut l.task);
            l.task.clone()
        })
    }

    fn say(&self, id: i64, line: String) {
        self.update(id, |t| t.log.push(line));
    }

    fn cancel_of(&self, id: i64) -> Cancel {
        self.live
            .lock()
            .expect("the tasks' lock")
            .get(&id)
            .map(|l| l.cancel.clone())
            .unwrap_or_default()
    }
}

/// Runs one task to its end, and records it.
fn run(state: &Arc<State>, job: Job) {
    let tasks = &state.tasks;
    let id = job.id;
    let cancel = tasks.cancel_of(id);
    let Ok(mut session) = state.open_session() else {
        finish(
            state,
            None,
            id,
            &job.access,
            Err(Error::new(
                ErrorKind::Storage,
                "the instance's database cannot be reached",
            )),
        );
        return;
    };
    if cancel.is_cancelled() {
        let error = Error::new(ErrorKind::Cancelled, "cancelled before it started");
        finish(state, Some(&mut session), id, &job.access, Err(error));
        return;
    }
    let Some(task) = tasks.update(id, |t| {
        t.state = TaskState::Running;
        t.started = Some(cuttle_domain::documents::Timestamp::now());
    }) else {
        return;
    };
    if let Err(error) = session.update_task(&task) {
        finish(state, Some(&mut session), id, &job.access, Err(error));
        return;
    }
    let outcome = perform(state, &mut session, &job, &cancel);
    finish(state, Some(&mut session), id, &job.access, outcome);
}

/// Ends a task: its record written, an audit entry made, and it leaves the running ones.
fn finish(
    state: &Arc<State>,
    session: Option<&mut Session>,
    id: i64,
    access: &Access,
    outcome: Result<Value, Error>,
) {
    let tasks = &state.tasks;
    let Some(task) = tasks.update(id, |t| {
        t.end(match &outcome {
            Ok(result) => Ok(result.clone()),
            Err(error) => Err(error),
        });
        // The error as the API says errors: a problem, with the status a request would have
        // had (a stale plan is 409).
        if let Err(error) = &outcome {
            t.error = Some(crate::problem::ApiError::from(error.clone()).problem_json());
        }
    }) else {
        return;
    };
    if let Some(session) = session {
        let _ = session.update_task(&task);
        let mut entry = cuttle_service::audit::Audit::of_task(
            access.actor(),
            &format!("task-{}", task.kind.name()),
            match task.state {
                TaskState::Succeeded => cuttle_service::audit::Outcome::Succeeded,
                _ => cuttle_service::audit::Outcome::Failed,
            },
            &task,
        );
        if let Err(error) = &outcome {
            entry = entry.ended(error);
        }
        let _ = session.record(&[entry]);
    }
    tasks.live.lock().expect("the tasks' lock").remove(&id);
    tasks.ended.notify_waiters();
    tracing::info!(task = id, kind = task.kind.name(), state = ?task.state, "task ended");
}

fn perform(
    state: &Arc<State>,
    session: &mut Session,
    job: &Job,
    cancel: &Cancel,
) -> Result<Value, Error> {
    let tasks = &state.tasks;
    let id = job.id;
    let folder = tasks.folder(id);
    std::fs::create_dir_all(&folder).map_err(|e| io_error(&folder, e))?;
    let stage = |name: &str| {
        let name = name.to_owned();
        tasks.update(id, move |t| {
            t.progress.stage = name;
            t.progress.done = 0;
            t.progress.total = 0;
        });
    };
    let mut progress = |done: u64, total: u64| {
        tasks.update(id, |t| {
            t.progress.done = done;
            t.progress.total = total;
        });
    };
    let password = job.password.as_ref().map(|p| p.as_bytes());
    match &job.work {
        Work::Export(r) => {
            stage("exporting");
            let summary =
                session.export_as(r, password.unwrap_or_default(), &job.access, &mut progress)?;
            archived(state, id, r.output.path(), cancel, &summary)
        }
        Work::PartialExport(r) => {
            stage("exporting");
            let summary = session.partial_export_as(
                r,
                password.unwrap_or_default(),
                &job.access,
                &mut progress,
            )?;
            archived(state, id, r.output.path(), cancel, &summary)
        }
        Work::Backup => {
            stage("backing up");
            let file = folder.join("instance.backup");
            let summary = session.backup(&Backup {
                instance: state.instance().to_owned(),
                file: file.clone(),
            })?;
            tasks.say(id, format!("backed up {} documents", summary.documents));
            check_cancel(cancel, &file)?;
            Ok(json!({
                "documents": summary.documents,
                "download": download(&file, id, "backup")?,
            }))
        }
        Work::Import { request, expected } => {
            stage("planning");
            let lines = folder.join("plan.jsonl");
            let file = std::fs::File::create(&lines).map_err(|e| io_error(&lines, e))?;
            let mut sink = TaskPlan {
                out: std::io::BufWriter::new(file),
                tasks,
                id,
            };
            // An import (a dry run too: it writes, then rolls back) waits for every other
            // writer: one at a time, in order.
            let _turn = state.writer_blocking();
            let indexed = match &request.source {
                ImportSource::Archives(paths) => tasks.indexes(paths),
                _ => Vec::new(),
            };
            let imported = session.import_controlled(
                request,
                password,
                &job.access,
                &mut sink,
                &mut progress,
                &ImportControl {
                    cancel: cancel.clone(),
                    expected: expected.as_deref(),
                    indexed,
                },
            );
            let imported = match imported {
                Ok(imported) => imported,
                Err(error) => {
                    let _ =
                        sink.finish(&json!({"type": "error", "committed": false, "error": error}));
                    return Err(error);
                }
            };
            let summary = PlanSummary::from(&imported.summary);
            sink.finish(&serde_json::to_value(&summary).unwrap_or_default())
                .map_err(|e| io_error(&lines, e))?;
            tasks.say(
                id,
                format!(
                    "{}: {}",
                    if imported.summary.committed {
                        "imported"
                    } else {
                        "dry run (rolled back, nothing written)"
                    },
                    totals(&imported.summary)
                ),
            );
            let mut result = json!({
                "summary": summary,
                "plan": format!("/api/v1/tasks/{id}/plan"),
            });
            if let Some(plan) = imported.plan {
                result["planId"] = json!(plan.id);
                result["savedPlan"] = serde_json::to_value(&plan).unwrap_or_default();
            }
            if let Some(plan) = expected {
                result["appliedPlan"] = json!(plan.id);
            }
            Ok(result)
        }
    }
}

fn totals(summary: &cuttle_engine::import::ImportSummary) -> String {
    let totals: Vec<String> = summary
        .totals()
        .iter()
        .map(|(a, n)| format!("{n} {}", a.name()))
        .collect();
    if totals.is_empty() {
        "nothing to do".into()
    } else {
        totals.join(", ")
    }
}

/// The result of an export: its archive, unless the task was cancelled meanwhile.
fn archived(
    state: &Arc<State>,
    id: i64,
    file: &Path,
    cancel: &Cancel,
    summary: &cuttle_engine::export::ExportSummary,
) -> Result<Value, Error> {
    let documents: u64 = summary.documents.iter().map(|(_, n)| n).sum();
    check_cancel(cancel, file)?;
    state
        .tasks
        .say(id, format!("exported {documents} documents"));
    Ok(json!({
        "documents": documents,
        "download": download(file, id, "archive")?,
    }))
}

/// A cancelled task's file is removed, and the task ends cancelled.
fn check_cancel(cancel: &Cancel, file: &Path) -> Result<(), Error> {
    if cancel.is_cancelled() {
        let _ = std::fs::remove_file(file);
        return Err(Error::new(
            ErrorKind::Cancelled,
            "cancelled: what it made was removed",
        ));
    }
    Ok(())
}

/// Where a task's file is downloaded, with its size and digest (the same data exported again
/// gives the same digest).
fn download(file: &Path, id: i64, what: &str) -> Result<Value, Error> {
    let bytes = std::fs::read(file).map_err(|e| io_error(file, e))?;
    let name = file
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    Ok(json!({
        "href": format!("/api/v1/tasks/{id}/{what}"),
        "file": name,
        "bytes": bytes.len(),
        "sha256": hex::encode(Sha256::digest(&bytes)),
        "mediaType": if what == "backup" {
            "application/octet-stream"
        } else {
            Compression::for_path(file).media_type()
        },
    }))
}

fn io_error(path: &Path, e: std::io::Error) -> Error {
    Error::new(ErrorKind::Io, format!("{}: {e}", path.display()))
}

/// An import task's plan: its lines to a file (what `cuttle import --format json` prints), its
/// warnings and blockers to the task's log.
struct TaskPlan<'t> {
    out: std::io::BufWriter<std::fs::File>,
    tasks: &'t crate::tasks::Tasks,
    id: i64,
}

impl TaskPlan<'_> {
    fn finish(&mut self, last: &Value) -> std::io::Result<()> {
        serde_json::to_writer(&mut self.out, last)?;
        self.out.write_all(b"\n")?;
        self.out.flush()
    }
}

impl PlanSink for TaskPlan<'_> {
    fn committing(
        &mut self,
        txn: &mut dyn cuttle_store::WriteTxn,
    ) -> Result<(), cuttle_engine::import::ImportError> {
        if let Some(task) = self.tasks.current(self.id) {
            task.record_committed(txn).map_err(|e| {
                cuttle_engine::import::ImportError::Output(std::io::Error::other(e.message))
            })?;
        }
        Ok(())
    }

    fn event(&mut self, event: PlanEvent<'_>) -> std::io::Result<()> {
        match &event {
            PlanEvent::Warning { message, .. } => {
                self.tasks.say(self.id, format!("warning: {message}"))
            }
            PlanEvent::Blocker(b) => self.tasks.say(
                self.id,
                format!("blocked: {} {:?}: {}", b.collection, b.name(), b.message),
            ),
            _ => {}
        }
        serde_json::to_writer(&mut self.out, &event)?;
        self.out.write_all(b"\n")
    }
}

/// An import request for the sources a task names: uploads (archives) or directories under
/// the migration roots.
pub(crate) fn import_request(
    state: &State,
    access: &Access,
    uploads: &[String],
    directories: &[PathBuf],
    options: ImportOptions,
) -> Result<Import, Error> {
    let source = match (uploads.is_empty(), directories.is_empty()) {
        (false, true) => {
            let mut archives = Vec::with_capacity(uploads.len());
            for id in uploads {
                let upload = state
                    .tasks
                    .upload(id)
                    .filter(|u| u.actor == access.actor().name())
                    .ok_or_else(|| {
                        Error::new(
                            ErrorKind::NotFound,
                            format!(
                                "there is no upload {id:?} of yours on this server (uploads last as long as the server runs)"
                            ),
                        )
                    })?;
                archives.push(upload.path);
            }
            ImportSource::Archives(archives)
        }
        (true, false) => {
            let mut allowed = Vec::with_capacity(directories.len());
            for directory in directories {
                allowed.push(under_root(&state.tasks.roots, directory)?);
            }
            ImportSource::Directories(allowed)
        }
        _ => {
            return Err(Error::usage(
                "an import reads uploads or directories (one kind, at least one)",
            ));
        }
    };
    Ok(Import {
        instance: state.instance().to_owned(),
        source,
        overwrite: options.overwrite,
        dry_run: options.dry_run,
        keep_destination_secrets: options.keep_destination_secrets,
        include_task_logs: options.include_task_logs,
        ignore_version_check: options.ignore_version_check,
        password: PasswordSource::Default,
        save_plan: None,
    })
}

/// The options of an import task.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct ImportOptions {
    pub(crate) overwrite: bool,
    pub(crate) dry_run: bool,
    pub(crate) keep_destination_secrets: bool,
    pub(crate) include_task_logs: bool,
    pub(crate) ignore_version_check: bool,
}

/// `directory`, canonical, when it is under one of the roots; refused otherwise.
fn under_root(roots: &[PathBuf], directory: &Path) -> Result<PathBuf, Error> {
    let refused = || {
        Error::usage(format!(
            "{} is not under a folder this server reads imports from{}",
            directory.display(),
            if roots.is_empty() {
                " (it reads none: the operator allows folders with `cuttle serve --migration-root DIR`)"
                    .to_owned()
            } else {
                String::new()
            }
        ))
    };
    let canonical = std::fs::canonicalize(directory).map_err(|_| refused())?;
    if roots.iter().any(|root| canonical.starts_with(root)) {
        Ok(canonical)
    } else {
        Err(refused())
    }
}

/// The archive of an earlier export task, to seed a new one with (its salt kept).
pub(crate) fn base_archive(tasks: &Tasks, base: i64) -> Result<PathBuf, Error> {
    ["export.tar", "export.tar.gz"]
        .iter()
        .map(|n| tasks.folder(base).join(n))
        .find(|p| p.is_file())
        .ok_or_else(|| {
            Error::new(
                ErrorKind::NotFound,
                format!(
                    "task {base} has no export archive on this server (archives last as long as the server runs)"
                ),
            )
        })
}

/// The archive of an export task: in its folder, compressed as asked; an earlier archive copied
/// there first, so that its salt is kept and unchanged data gives the same bytes.
pub(crate) fn export_output(
    tasks: &Tasks,
    id: i64,
    compression: Compression,
    base: Option<&Path>,
) -> Result<Output, Error> {
    let folder = tasks.folder(id);
    std::fs::create_dir_all(&folder).map_err(|e| io_error(&folder, e))?;
    let name = match compression {
        Compression::None => "export.tar",
        Compression::Gzip => "export.tar.gz",
    };
    let file = folder.join(name);
    if let Some(base) = base {
        std::fs::copy(base, &file).map_err(|e| io_error(&file, e))?;
    }
    Ok(Output::Archive(file))
}
