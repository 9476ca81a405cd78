//! The migration routes (SPEC 9): uploads of export archives, tasks (export, partial export,
//! import with its preview and the apply of a previewed plan, backup), their progress, log,
//! events, cancellation, and downloads. Each route parses, authorises in one blocking call, and
//! hands the work to the tasks' worker ([`crate::tasks`]); none holds its connection for the
//! length of a migration.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::State as Shared;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use cuttle_domain::access::Permission;
use cuttle_engine::archive::Compression;
use cuttle_engine::closure::Ignore;
use cuttle_engine::format::InlineScripts;
use cuttle_service::request::{Export, Output, PartialExport, PasswordSource};
use cuttle_service::tasks::{Task, TaskKind};
use cuttle_service::{Error, ErrorKind, SavedPlan};
use serde::{Deserialize, Deserializer, Serialize};
use utoipa::{IntoParams, ToSchema};
use zeroize::Zeroizing;

use crate::extract::{Caller, Params, TaskId, page_limit};
use crate::problem::ApiError;
use crate::state::State;
use crate::tasks::{self, ImportOptions, Job, Upload, Work};

type Api = Arc<State>;

/// A password in a request's body: never logged, never recorded, wiped when dropped.
#[derive(Clone, ToSchema)]
#[schema(value_type = String, format = Password)]
pub struct Password(Zeroizing<String>);

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Password(…)")
    }
}

impl<'de> Deserialize<'de> for Password {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(|s| Password(Zeroizing::new(s)))
    }
}

/// What a task is to do. `password` is the export's (an import of archives or directories
/// needs the one they were made with); it is never recorded.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum TaskRequest {
    /// The whole instance, as one deterministic archive.
    Export(ExportTask),
    /// Some projects with everything they need, as one deterministic archive.
    PartialExport(PartialExportTask),
    /// Uploaded archives, or export directories under the server's migration roots; or, with
    /// `plan`, a previewed plan applied exactly.
    Import(ImportTask),
    /// A consistent backup of the whole instance.
    Backup(BackupTask),
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ExportTask {
    password: Password,
    #[serde(default)]
    include_task_logs: bool,
    #[serde(default)]
    ignore_history: bool,
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    inline_scripts: Option<InlineScripts>,
    /// `none` (a tar) or `gzip`.
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    compression: Compression,
    /// An earlier export task whose archive this one mirrors (its salt kept): unchanged data
    /// then gives the same bytes.
    #[serde(default)]
    base: Option<i64>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PartialExportTask {
    password: Password,
    #[serde(default)]
    projects: Vec<String>,
    #[serde(default)]
    project_groups: Vec<String>,
    /// The kinds left out: `machines`, `tenants`, `certificates`, `history`, `deployments`.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    ignore: Ignore,
    #[serde(default)]
    include_task_logs: bool,
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    inline_scripts: Option<InlineScripts>,
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    compression: Compression,
    #[serde(default)]
    base: Option<i64>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ImportTask {
    password: Option<Password>,
    /// Uploads (`POST /api/v1/uploads`), combined in order, later ones win.
    #[serde(default)]
    uploads: Vec<String>,
    /// Export directories on the server, under a `--migration-root`.
    #[serde(default)]
    #[schema(value_type = Vec<String>)]
    directories: Vec<PathBuf>,
    #[serde(default)]
    overwrite: bool,
    /// Plan, write, roll back: the result holds the plan's id, to apply with `plan`.
    #[serde(default)]
    dry_run: bool,
    #[serde(default)]
    keep_destination_secrets: bool,
    #[serde(default)]
    include_task_logs: bool,
    #[serde(default)]
    ignore_version_check: bool,
    /// A plan id from a dry run: import exactly what it previewed (same sources, same
    /// options), or nothing (409, stale plan).
    plan: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BackupTask {}

/// One server-sent event of a task: `event: task`, and the task (as `GET /api/v1/tasks/{id}`
/// gives it) as its data.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct TaskEvent {
    /// Always `task`.
    event: String,
    /// The task, as JSON.
    data: String,
}

/// What was uploaded.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Uploaded {
    /// Name it in an import task's `uploads`.
    id: String,
    bytes: u64,
    files: u64,
    sha256: String,
}

#[utoipa::path(post, path = "/api/v1/uploads", tag = "migrations", security(("bearer" = [])),
    request_body(content = Vec<u8>, content_type = "application/octet-stream",
        description = "An export archive, as `cuttle export --archive` or an export task makes it: a tar, or a tar.gz (told apart by their first bytes), sent as application/octet-stream, application/x-tar or application/gzip"),
    responses((status = 201, body = Uploaded),
        (status = 401, body = crate::problem::Problem), (status = 403, body = crate::problem::Problem),
        (status = 413, body = crate::problem::Problem), (status = 415, body = crate::problem::Problem),
        (status = 422, description = "Not an export archive, or a hostile one", body = crate::problem::Problem)))]
pub(crate) async fn upload(
    Shared(state): Shared<Api>,
    caller: Caller,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let media = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|v| v.trim().to_ascii_lowercase());
    let accepted = [
        "application/x-tar",
        "application/gzip",
        "application/octet-stream",
    ];
    if !media.as_deref().is_some_and(|m| accepted.contains(&m)) {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported-media-type",
            "an upload is an export archive: `Content-Type: application/x-tar` (or application/gzip)",
        ));
    }
    let actor = state
        .authorized(caller, |_, access| {
            access.require(Permission::ImportData, "upload archives to import")?;
            Ok(access.actor().name())
        })
        .await?;
    let folder = state.tasks.uploads_folder();
    std::fs::create_dir_all(&folder)
        .map_err(|e| ApiError::internal(&format!("the uploads' folder: {e}")))?;
    let id = random_id();
    let path = folder.join(format!("{id}.archive"));
    // The body to a file, as it arrives, under the limit, checked meanwhile: never held whole
    // in memory, never read back.
    let refused = |error: Error| async {
        let _ = tokio::fs::remove_file(&path).await;
        Err(ApiError::from(error))
    };
    let received = match crate::upload::receive(body, &path).await {
        Ok(received) => received,
        Err(error) => {
            let _ = tokio::fs::remove_file(&path).await;
            return Err(error);
        }
    };
    let (bytes, sha256) = (received.bytes, received.sha256);
    let (files, index) = match received.checked {
        Ok((unpacked, index)) if unpacked.manifest => (unpacked.files, index),
        Ok(_) => {
            return refused(Error::new(
                ErrorKind::Archive,
                format!(
                    "the upload is a tar archive but not an export's: it has no {} at its root",
                    cuttle_engine::format::MANIFEST
                ),
            ))
            .await;
        }
        Err(e) => {
            let kind = if e.is_hostile() {
                ErrorKind::Archive
            } else {
                ErrorKind::Io
            };
            let said = e
                .to_string()
                .replace(&format!("archive {}", path.display()), "the upload")
                .replace(&path.display().to_string(), "the upload");
            return refused(Error::new(kind, said)).await;
        }
    };
    state.tasks.add_upload(
        id.clone(),
        Upload {
            path,
            actor,
            index: Some(Arc::new(index)),
            order: 0,
        },
    );
    Ok((
        StatusCode::CREATED,
        axum::Json(Uploaded {
            id,
            bytes,
            files,
            sha256,
        }),
    )
        .into_response())
}

fn random_id() -> String {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).expect("the system's random numbers");
    hex::encode(bytes)
}

#[utoipa::path(post, path = "/api/v1/tasks", tag = "migrations", security(("bearer" = [])),
    request_body(content = TaskRequest, content_type = "application/json"),
    responses((status = 202, description = "Started: poll its location", body = Object,
            headers(("Location" = String, description = "The task"))),
        (status = 400, body = crate::problem::Problem), (status = 401, body = crate::problem::Problem),
        (status = 403, body = crate::problem::Problem), (status = 404, body = crate::problem::Problem),
        (status = 415, body = crate::problem::Problem), (status = 422, body = crate::problem::Problem)))]
pub(crate) async fn start(
    Shared(state): Shared<Api>,
    caller: Caller,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    crate::routes::require_json(&headers)?;
    let mut options: serde_json::Value = serde_json::from_slice(&body).map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "usage",
            format!("the body is not JSON: {e}"),
        )
    })?;
    let request: TaskRequest = serde_json::from_value(options.clone())
        .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "usage", format!("not a task: {e}")))?;
    // What the task records of its request: everything but the password.
    if let Some(o) = options.as_object_mut() {
        o.remove("password");
    }
    let shared = state.clone();
    let task = state
        .authorized(caller, move |session, access| {
            let (kind, password) = match &request {
                TaskRequest::Export(r) => (TaskKind::Export, Some(r.password.clone())),
                TaskRequest::PartialExport(r) => (TaskKind::PartialExport, Some(r.password.clone())),
                TaskRequest::Import(r) => (TaskKind::Import, r.password.clone()),
                TaskRequest::Backup(_) => (TaskKind::Backup, None),
            };
            match kind {
                // And, as the export runs, each document's export permission in its scope.
                TaskKind::Export | TaskKind::PartialExport => {
                    access.require(Permission::ExportData, "export")?
                }
                TaskKind::Import => access.require(Permission::ImportData, "import")?,
                TaskKind::Backup => access.require(Permission::AdministerSystem, "back up the instance")?,
            }
            if access.read_only() && kind.writes() {
                return Err(Error::new(
                    ErrorKind::Forbidden,
                    "a read-only API key does not import (not even a dry run, which writes and rolls back)",
                ));
            }
            // The plan to apply, found before anything is recorded.
            let expected = match &request {
                TaskRequest::Import(ImportTask { plan: Some(plan), .. }) => {
                    Some(Box::new(find_plan(session, plan, access)?))
                }
                _ => None,
            };
            // Everything that can be refused is, before the task is recorded.
            let (base, compression) = match &request {
                TaskRequest::Export(r) => (r.base, r.compression),
                TaskRequest::PartialExport(r) => (r.base, r.compression),
                _ => (None, Compression::None),
            };
            let base = base
                .map(|b| tasks::base_archive(&shared.tasks, b))
                .transpose()?;
            let placeholder = || Output::Archive(PathBuf::new());
            let mut work = match request {
                TaskRequest::Export(r) => Work::Export(Export {
                    instance: shared.instance().to_owned(),
                    output: placeholder(),
                    clean: false,
                    no_prune: false,
                    rekey: false,
                    include_task_logs: r.include_task_logs,
                    ignore_history: r.ignore_history,
                    inline_scripts: r.inline_scripts.unwrap_or(InlineScripts::Extract),
                    password: PasswordSource::Default,
                }),
                TaskRequest::PartialExport(r) => Work::PartialExport(PartialExport {
                    instance: shared.instance().to_owned(),
                    output: placeholder(),
                    projects: r.projects,
                    project_groups: r.project_groups,
                    ignore: r.ignore,
                    clean: false,
                    rekey: false,
                    include_task_logs: r.include_task_logs,
                    inline_scripts: r.inline_scripts.unwrap_or(InlineScripts::Extract),
                    password: PasswordSource::Default,
                }),
                TaskRequest::Import(r) => match expected {
                    Some(plan) => Work::Import {
                        request: cuttle_service::request::Import {
                            instance: shared.instance().to_owned(),
                            ..plan.request.clone()
                        },
                        expected: Some(plan),
                    },
                    None => Work::Import {
                        request: tasks::import_request(
                            &shared,
                            access,
                            &r.uploads,
                            &r.directories,
                            ImportOptions {
                                overwrite: r.overwrite,
                                dry_run: r.dry_run,
                                keep_destination_secrets: r.keep_destination_secrets,
                                include_task_logs: r.include_task_logs,
                                ignore_version_check: r.ignore_version_check,
                            },
                        )?,
                        expected: None,
                    },
                },
                TaskRequest::Backup(_) => Work::Backup,
            };
            let mut task = session.record_task(Task::new(kind, access, options))?;
            let id = task.id;
            session.record(&[cuttle_service::audit::Audit::of_task(
                access.actor(),
                &format!("task-{}-start", kind.name()),
                cuttle_service::audit::Outcome::Succeeded,
                &task,
            )])?;
            // The task's archive, in its folder (an earlier one copied there first).
            let placed = match &mut work {
                Work::Export(Export { output, .. })
                | Work::PartialExport(PartialExport { output, .. }) => {
                    tasks::export_output(&shared.tasks, id, compression, base.as_deref())
                        .map(|placed| *output = placed)
                }
                _ => Ok(()),
            };
            let queued = placed.and_then(|()| {
                shared.tasks.queue(
                    task.clone(),
                    Job {
                        id,
                        work,
                        password: password.map(|p| p.0),
                        access: access.clone(),
                    },
                )
            });
            if let Err(error) = queued {
                // Recorded, and never to run: it ends here.
                task.end(Err(&error));
                let _ = session.update_task(&task);
                return Err(error);
            }
            Ok(task)
        })
        .await?;
    let location = format!("/api/v1/tasks/{}", task.id);
    Ok((
        StatusCode::ACCEPTED,
        [(header::LOCATION, location)],
        axum::Json(task),
    )
        .into_response())
}

/// The saved plan of the dry run whose plan id is `plan` (among the recent tasks).
fn find_plan(
    session: &mut cuttle_service::Session,
    plan: &str,
    access: &cuttle_service::Access,
) -> Result<SavedPlan, Error> {
    let mut before = None;
    for _ in 0..10 {
        let page = session.tasks(before, 1000, access)?;
        for task in &page {
            let Some(result) = &task.result else { continue };
            if result.get("planId").and_then(|p| p.as_str()) == Some(plan) {
                return serde_json::from_value(result["savedPlan"].clone()).map_err(|e| {
                    Error::new(
                        ErrorKind::Damaged,
                        format!("the plan of task {} is damaged: {e}", task.id),
                    )
                });
            }
        }
        match page.last() {
            Some(last) if page.len() == 1000 => before = Some(last.id),
            _ => break,
        }
    }
    Err(Error::new(
        ErrorKind::NotFound,
        format!(
            "there is no previewed plan {plan:?} (a dry-run import task's result gives its planId)"
        ),
    ))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct TasksQuery {
    /// Tasks older than this task id (the previous page's `next`).
    before: Option<i64>,
    /// At most this many (1 to 1000; 100 when not given).
    limit: Option<usize>,
}

#[derive(Serialize, ToSchema)]
pub struct TaskPage {
    #[schema(value_type = Vec<Object>)]
    tasks: Vec<Task>,
    next: Option<i64>,
}

#[utoipa::path(get, path = "/api/v1/tasks", tag = "migrations", security(("bearer" = [])),
    params(TasksQuery),
    responses((status = 200, body = TaskPage), (status = 400, body = crate::problem::Problem),
        (status = 401, body = crate::problem::Problem)))]
pub(crate) async fn list(
    Shared(state): Shared<Api>,
    caller: Caller,
    Params(q): Params<TasksQuery>,
) -> Result<axum::Json<TaskPage>, ApiError> {
    let limit = page_limit(q.limit)?;
    let shared = state.clone();
    let tasks = state
        .authorized(caller, move |session, access| {
            session.tasks(q.before, limit, access)
        })
        .await?;
    let tasks: Vec<Task> = tasks
        .into_iter()
        .map(|t| shared.tasks.current(t.id).unwrap_or(t))
        .collect();
    let next = (tasks.len() == limit)
        .then(|| tasks.last().map(|t| t.id))
        .flatten();
    Ok(axum::Json(TaskPage { tasks, next }))
}

/// The task as it stands: its record, with the progress and log of a running one.
async fn current(state: &Api, caller: Caller, id: i64) -> Result<Task, ApiError> {
    let task = state
        .authorized(caller, move |session, access| session.task(id, access))
        .await?;
    Ok(state.tasks.current(id).unwrap_or(task))
}

#[utoipa::path(get, path = "/api/v1/tasks/{id}", tag = "migrations", security(("bearer" = [])),
    params(("id" = i64, Path, description = "The task's id")),
    responses((status = 200, body = Object), (status = 401, body = crate::problem::Problem),
        (status = 403, body = crate::problem::Problem), (status = 404, body = crate::problem::Problem)))]
pub(crate) async fn show(
    Shared(state): Shared<Api>,
    caller: Caller,
    TaskId(id): TaskId,
) -> Result<axum::Json<Task>, ApiError> {
    Ok(axum::Json(current(&state, caller, id).await?))
}

#[utoipa::path(post, path = "/api/v1/tasks/{id}/cancel", tag = "migrations", security(("bearer" = [])),
    params(("id" = i64, Path, description = "The task's id")),
    responses((status = 202, description = "Asked to stop: it ends cancelled, having written nothing, unless it committed first", body = Object),
        (status = 401, body = crate::problem::Problem), (status = 403, body = crate::problem::Problem),
        (status = 404, body = crate::problem::Problem), (status = 409, description = "It has ended", body = crate::problem::Problem)))]
pub(crate) async fn cancel(
    Shared(state): Shared<Api>,
    caller: Caller,
    TaskId(id): TaskId,
) -> Result<Response, ApiError> {
    let task = state
        .authorized(caller, move |session, access| {
            let task = session.task(id, access)?;
            if task.actor != access.actor().name() {
                access.require(Permission::TaskCancel, "cancel other people's tasks")?;
            }
            Ok(task)
        })
        .await?;
    if !state.tasks.cancel(id) {
        return Err(ApiError::from(Error::new(
            ErrorKind::InUse,
            format!(
                "task {id} has ended ({:?}): there is nothing to cancel",
                task.state
            ),
        )));
    }
    let task = state.tasks.current(id).unwrap_or(task);
    Ok((StatusCode::ACCEPTED, axum::Json(task)).into_response())
}

/// A task's file: its archive, its backup, or its plan's lines.
async fn file_of(
    state: &Api,
    caller: Caller,
    id: i64,
    what: &'static str,
) -> Result<Response, ApiError> {
    let task = current(state, caller, id).await?;
    let folder = state.tasks.folder(id);
    let (path, media) = match what {
        "plan" if task.kind == TaskKind::Import && task.state.ended() => {
            (folder.join("plan.jsonl"), "application/jsonl")
        }
        "archive" | "backup" => {
            let download = task
                .result
                .as_ref()
                .and_then(|r| r.get("download"))
                .filter(|d| {
                    d.get("href")
                        .and_then(|h| h.as_str())
                        .is_some_and(|h| h.ends_with(what))
                });
            let Some(download) = download else {
                return Err(ApiError::new(
                    StatusCode::NOT_FOUND,
                    "not-found",
                    format!("task {id} has no {what} (it has not succeeded, or makes none)"),
                ));
            };
            let name = download
                .get("file")
                .and_then(|f| f.as_str())
                .unwrap_or_default();
            let media = if what == "backup" {
                "application/octet-stream"
            } else {
                Compression::for_path(std::path::Path::new(name)).media_type()
            };
            (folder.join(name), media)
        }
        _ => {
            return Err(ApiError::new(
                StatusCode::NOT_FOUND,
                "not-found",
                format!("task {id} has no plan yet (an import's plan is here once it ends)"),
            ));
        }
    };
    let file = tokio::fs::File::open(&path).await.map_err(|_| {
        ApiError::new(
            StatusCode::GONE,
            "gone",
            format!("the {what} of task {id} is no longer on this server (files last as long as the server that made them runs)"),
        )
    })?;
    let length = file.metadata().await.map(|m| m.len()).unwrap_or_default();
    let stream = futures_util::stream::unfold(file, |mut file| async move {
        use tokio::io::AsyncReadExt;
        let mut buffer = vec![0u8; 1 << 16];
        match file.read(&mut buffer).await {
            Ok(0) => None,
            Ok(n) => {
                buffer.truncate(n);
                Some((
                    Ok::<_, std::io::Error>(axum::body::Bytes::from(buffer)),
                    file,
                ))
            }
            Err(e) => Some((Err(e), file)),
        }
    });
    let mut response = Response::new(Body::from_stream(stream));
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static(media),
    );
    headers.insert(header::CONTENT_LENGTH, length.into());
    if let Some(sha) = task
        .result
        .as_ref()
        .and_then(|r| r.get("download"))
        .and_then(|d| d.get("sha256"))
        .and_then(|s| s.as_str())
        .filter(|_| what != "plan")
        && let Ok(value) = header::HeaderValue::from_str(&format!("\"{sha}\""))
    {
        headers.insert(header::ETAG, value);
    }
    Ok(response)
}

#[utoipa::path(get, path = "/api/v1/tasks/{id}/archive", tag = "migrations", security(("bearer" = [])),
    params(("id" = i64, Path, description = "An export task's id")),
    responses((status = 200, description = "The export's deterministic archive", content_type = "application/x-tar", body = Vec<u8>),
        (status = 401, body = crate::problem::Problem), (status = 403, body = crate::problem::Problem),
        (status = 404, body = crate::problem::Problem), (status = 410, body = crate::problem::Problem)))]
pub(crate) async fn archive(
    Shared(state): Shared<Api>,
    caller: Caller,
    TaskId(id): TaskId,
) -> Result<Response, ApiError> {
    file_of(&state, caller, id, "archive").await
}

#[utoipa::path(get, path = "/api/v1/tasks/{id}/backup", tag = "migrations", security(("bearer" = [])),
    params(("id" = i64, Path, description = "A backup task's id")),
    responses((status = 200, description = "The backup", content_type = "application/octet-stream", body = Vec<u8>),
        (status = 401, body = crate::problem::Problem), (status = 403, body = crate::problem::Problem),
        (status = 404, body = crate::problem::Problem), (status = 410, body = crate::problem::Problem)))]
pub(crate) async fn backup(
    Shared(state): Shared<Api>,
    caller: Caller,
    TaskId(id): TaskId,
) -> Result<Response, ApiError> {
    file_of(&state, caller, id, "backup").await
}

#[utoipa::path(get, path = "/api/v1/tasks/{id}/plan", tag = "migrations", security(("bearer" = [])),
    params(("id" = i64, Path, description = "An import task's id")),
    responses((status = 200, description = "The plan: JSON lines as `cuttle import --format json` prints them, grants first, the summary (or the error) last", content_type = "application/jsonl", body = String),
        (status = 401, body = crate::problem::Problem), (status = 403, body = crate::problem::Problem),
        (status = 404, body = crate::problem::Problem), (status = 410, body = crate::problem::Problem)))]
pub(crate) async fn plan(
    Shared(state): Shared<Api>,
    caller: Caller,
    TaskId(id): TaskId,
) -> Result<Response, ApiError> {
    file_of(&state, caller, id, "plan").await
}

#[utoipa::path(get, path = "/api/v1/tasks/{id}/events", tag = "migrations", security(("bearer" = [])),
    params(("id" = i64, Path, description = "The task's id")),
    responses((status = 200, description = "Server-sent events: `task` with the task as it stands, every half second while it changes, and at once when it ends, which ends the stream", content_type = "text/event-stream", body = TaskEvent),
        (status = 401, body = crate::problem::Problem), (status = 403, body = crate::problem::Problem),
        (status = 404, body = crate::problem::Problem)))]
pub(crate) async fn events(
    Shared(state): Shared<Api>,
    caller: Caller,
    TaskId(id): TaskId,
) -> Result<Response, ApiError> {
    let first = current(&state, caller, id).await?;
    let stream = futures_util::stream::unfold(
        (state, Some(first), None::<String>),
        move |(state, next, last)| async move {
            let mut task = next?;
            loop {
                let text = serde_json::to_string(&task).unwrap_or_default();
                if last.as_deref() != Some(text.as_str()) {
                    let ended = task.state.ended();
                    let event = format!("event: task\ndata: {text}\n\n");
                    let following = if ended { None } else { Some(task.clone()) };
                    return Some((
                        Ok::<_, std::convert::Infallible>(axum::body::Bytes::from(event)),
                        (state, following, Some(text)),
                    ));
                }
                // Every half second, or at once when a task ends.
                tokio::select! {
                    () = tokio::time::sleep(Duration::from_millis(500)) => {}
                    () = state.tasks.ended.notified() => {}
                }
                task = match state.tasks.current(id) {
                    Some(t) => t,
                    // Ended: its record has the end.
                    None => {
                        let shared = state.clone();
                        match tokio::task::spawn_blocking(move || {
                            shared
                                .open_session()
                                .and_then(|mut s| s.task(id, &cuttle_service::Access::host()))
                        })
                        .await
                        {
                            Ok(Ok(t)) => t,
                            _ => return None,
                        }
                    }
                };
            }
        },
    );
    let mut response = Response::new(Body::from_stream(stream));
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("text/event-stream"),
    );
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("no-store"),
    );
    Ok(response)
}

#[utoipa::path(get, path = "/api/v1/tasks/{id}/script", tag = "migrations", security(("bearer" = [])),
    params(("id" = i64, Path, description = "The task's id")),
    responses((status = 200, description = "The `cuttle` command line and the `curl` calls that do what the task does; secrets from the environment, never written out", body = crate::script::Script),
        (status = 401, body = crate::problem::Problem), (status = 403, body = crate::problem::Problem),
        (status = 404, body = crate::problem::Problem)))]
pub(crate) async fn script(
    Shared(state): Shared<Api>,
    caller: Caller,
    TaskId(id): TaskId,
) -> Result<axum::Json<crate::script::Script>, ApiError> {
    let task = current(&state, caller, id).await?;
    Ok(axum::Json(crate::script::script(&task, state.instance())))
}
