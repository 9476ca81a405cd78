//! The routes under `/api/v1`, each thin: parse, then in one blocking call authenticate and ask
//! the service (which authorises, validates, writes and audits), then render.
//!
//! Documents are addressed by query parameters (`?project=…&key=…`), so that a name of any
//! kind (slashes, spaces, Unicode, a composite key's ` / `) is one URL-encoded value.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, State as Shared};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use cuttle_domain::COLLECTIONS;
use cuttle_service::request::{DocList, DocPut, DocumentAddress};
use cuttle_service::{DocumentInput, Precondition};
use serde::{Deserialize, Serialize};
use tower_http::timeout::TimeoutLayer;
use utoipa::{IntoParams, ToSchema};
use zeroize::Zeroizing;

use crate::extract::{Caller, InCollection, Params, page_limit};
use crate::limits;
use crate::migrations;
use crate::problem::ApiError;
use crate::state::State;

type Api = Arc<State>;

pub(crate) fn router(state: Api, options: &crate::Options) -> Router {
    let api = Router::new()
        .route("/health", get(health))
        .route("/openapi.json", get(openapi))
        .route("/whoami", get(whoami))
        .route("/collections", get(collections))
        .route("/collections/{collection}/documents", get(list))
        .route(
            "/collections/{collection}/document",
            get(read).put(write).delete(delete),
        )
        .route("/audit", get(audit))
        .route("/tasks", get(migrations::list).post(migrations::start))
        .route("/tasks/{id}", get(migrations::show))
        .route("/tasks/{id}/cancel", post(migrations::cancel))
        .route("/tasks/{id}/archive", get(migrations::archive))
        .route("/tasks/{id}/backup", get(migrations::backup))
        .route("/tasks/{id}/plan", get(migrations::plan))
        .route("/tasks/{id}/events", get(migrations::events))
        .route("/tasks/{id}/script", get(migrations::script))
        // Every route above answers within the request timeout (a download's or an event
        // stream's body follows its answer); an upload takes as long as its body takes to come.
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            options.request_timeout,
        ))
        .layer(middleware::map_response(timed_out))
        .route("/uploads", post(migrations::upload))
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(state.clone());
    Router::new()
        .nest("/api/v1", api)
        .fallback(not_found)
        .layer(middleware::from_fn(no_credential_in_url))
        .layer(middleware::from_fn(limits::log))
        .layer(middleware::from_fn_with_state(
            state.tls,
            limits::security_headers,
        ))
        .layer(DefaultBodyLimit::max(options.body_limit))
}

/// A request that the request timeout cut off is refused as any other (a problem), and with
/// `Connection: close` (RFC 9110, 15.5.9): the rest of what it was sending is not waited for,
/// and the answer is written before the connection closes.
async fn timed_out(response: Response) -> Response {
    if response.status() != StatusCode::REQUEST_TIMEOUT {
        return response;
    }
    let mut response = ApiError::new(
        StatusCode::REQUEST_TIMEOUT,
        "timeout",
        "the request took longer than the server's request timeout (`cuttle serve --request-timeout`): send it again, whole and without pausing",
    )
    .into_response();
    (response.headers_mut()).insert(header::CONNECTION, HeaderValue::from_static("close"));
    response
}

async fn not_found() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "no-route",
        "there is nothing here: the API is under /api/v1 (see /api/v1/openapi.json)",
    )
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method-not-allowed",
        "this method does not apply here (see /api/v1/openapi.json)",
    )
}

/// Query parameters that would put a credential in a URL: refused, whatever their value.
const CREDENTIAL_PARAMETERS: &[&str] = &["access_token", "api_key", "apikey", "token", "bearer"];

/// Refuses, on every route, a request whose URL carries a credential.
async fn no_credential_in_url(request: axum::extract::Request, next: middleware::Next) -> Response {
    let carries = request.uri().query().is_some_and(|raw| {
        raw.split('&').any(|pair| {
            let name = pair.split('=').next().unwrap_or_default();
            CREDENTIAL_PARAMETERS
                .iter()
                .any(|c| name.eq_ignore_ascii_case(c))
        })
    });
    if carries {
        return ApiError::new(
            StatusCode::BAD_REQUEST,
            "credential-in-url",
            "a credential is never taken from a URL (it would land in logs and histories): send the API key as `Authorization: Bearer <key>`",
        )
        .into_response();
    }
    next.run(request).await
}

/// `{"status": "ok"}`: the server runs and its instance opens.
#[derive(Serialize, ToSchema)]
pub struct Health {
    status: &'static str,
}

#[utoipa::path(get, path = "/api/v1/health", tag = "server",
    responses((status = 200, description = "The server is up", body = Health)))]
async fn health(Shared(state): Shared<Api>) -> Result<axum::Json<Health>, ApiError> {
    state.run(|session| session.describe().map(|_| ())).await?;
    Ok(axum::Json(Health { status: "ok" }))
}

#[utoipa::path(get, path = "/api/v1/openapi.json", tag = "server",
    responses((status = 200, description = "This document", content_type = "application/json", body = Object)))]
async fn openapi() -> Response {
    (
        [(header::CONTENT_TYPE, "application/json")],
        crate::openapi::document(),
    )
        .into_response()
}

/// Who the API key acts as, and what they may do somewhere.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct WhoAmI {
    /// The user.
    user: String,
    /// The API key's id.
    api_key: Option<i64>,
    read_only: bool,
    /// The permissions held in some scope.
    permissions: Vec<String>,
}

#[utoipa::path(get, path = "/api/v1/whoami", tag = "server", security(("bearer" = [])),
    responses((status = 200, body = WhoAmI), (status = 401, body = crate::problem::Problem)))]
async fn whoami(
    Shared(state): Shared<Api>,
    caller: Caller,
) -> Result<axum::Json<WhoAmI>, ApiError> {
    let who = state
        .authorized(caller, |_, access| {
            Ok(WhoAmI {
                user: access.actor().name(),
                api_key: access.actor().api_key(),
                read_only: access.read_only(),
                permissions: access
                    .permissions()
                    .into_iter()
                    .map(|p| p.name().to_owned())
                    .collect(),
            })
        })
        .await?;
    Ok(axum::Json(who))
}

/// A collection, as its declaration says.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CollectionInfo {
    name: &'static str,
    singular: &'static str,
    about: &'static str,
    /// Its documents belong to projects (address them with `project`).
    project_owned: bool,
    /// The fields of its natural key (within the project).
    key: Vec<&'static str>,
    /// The permissions its operations need.
    view: String,
    create: String,
    edit: String,
    delete: String,
    /// To export it (besides `ExportData`).
    export: String,
}

#[utoipa::path(get, path = "/api/v1/collections", tag = "documents", security(("bearer" = [])),
    responses((status = 200, body = Vec<CollectionInfo>), (status = 401, body = crate::problem::Problem)))]
async fn collections(
    Shared(state): Shared<Api>,
    caller: Caller,
) -> Result<axum::Json<Vec<CollectionInfo>>, ApiError> {
    state.authorized(caller, |_, _| Ok(())).await?;
    Ok(axum::Json(
        COLLECTIONS
            .iter()
            .map(|d| CollectionInfo {
                name: d.name,
                singular: d.singular,
                about: d.about,
                project_owned: d.is_project_owned(),
                key: d.key.to_vec(),
                view: d.needs.view.name().to_owned(),
                create: d.needs.create.name().to_owned(),
                edit: d.needs.edit.name().to_owned(),
                delete: d.needs.delete.name().to_owned(),
                export: d.needs.export.name().to_owned(),
            })
            .collect(),
    ))
}

/// Which documents to list.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// For a project-owned collection: only this project's documents, keyed within it.
    project: Option<String>,
    /// The key after which the page starts (the previous page's `next`).
    after: Option<String>,
    /// At most this many keys (1 to 1000; 100 by default).
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<usize>,
}

/// A page of natural keys, in byte order.
#[derive(Serialize, ToSchema)]
pub struct KeyPage {
    /// Each document's natural key (the parts of a composite key separated by ` / `; without
    /// `project`, a project-owned document's key starts with its project).
    keys: Vec<String>,
    /// Where the next page starts (`after`), when there is one.
    next: Option<String>,
}

#[utoipa::path(get, path = "/api/v1/collections/{collection}/documents", tag = "documents",
    security(("bearer" = [])),
    params(("collection" = String, Path, description = "A collection's name"), ListQuery),
    responses((status = 200, body = KeyPage), (status = 400, body = crate::problem::Problem),
        (status = 401, body = crate::problem::Problem), (status = 403, body = crate::problem::Problem),
        (status = 404, body = crate::problem::Problem)))]
async fn list(
    Shared(state): Shared<Api>,
    caller: Caller,
    InCollection(collection): InCollection,
    Params(q): Params<ListQuery>,
) -> Result<axum::Json<KeyPage>, ApiError> {
    let limit = page_limit(q.limit)?;
    let instance = state.instance().to_owned();
    let keys = state
        .authorized(caller, move |session, access| {
            session.list_documents(
                &DocList {
                    instance,
                    collection,
                    project: q.project,
                },
                access,
            )
        })
        .await?;
    let start = match &q.after {
        Some(after) => keys.partition_point(|k| k.as_bytes() <= after.as_bytes()),
        None => 0,
    };
    let page: Vec<String> = keys.iter().skip(start).take(limit).cloned().collect();
    let next = (start + page.len() < keys.len())
        .then(|| page.last().cloned())
        .flatten();
    Ok(axum::Json(KeyPage { keys: page, next }))
}

/// Which document.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DocumentQuery {
    /// The owning project, for a project-owned collection.
    project: Option<String>,
    /// The natural key within the project (the parts of a composite key separated by ` / `);
    /// none for a project's deployment process or variables.
    key: Option<String>,
}

fn etag_header(etag: &str) -> HeaderValue {
    HeaderValue::from_str(etag).expect("an entity tag is ASCII")
}

#[utoipa::path(get, path = "/api/v1/collections/{collection}/document", tag = "documents",
    security(("bearer" = [])),
    params(("collection" = String, Path, description = "A collection's name"), DocumentQuery),
    responses(
        (status = 200, description = "The document in the export shape, sensitive values masked",
            body = Object, headers(("ETag" = String, description = "The document's version"))),
        (status = 400, body = crate::problem::Problem), (status = 401, body = crate::problem::Problem),
        (status = 403, body = crate::problem::Problem), (status = 404, body = crate::problem::Problem)))]
async fn read(
    Shared(state): Shared<Api>,
    caller: Caller,
    InCollection(collection): InCollection,
    Params(q): Params<DocumentQuery>,
) -> Result<Response, ApiError> {
    let instance = state.instance().to_owned();
    let fetched = state
        .authorized(caller, move |session, access| {
            session.get_document(
                &DocumentAddress {
                    instance,
                    collection,
                    project: q.project,
                    key: q.key,
                },
                access,
            )
        })
        .await?;
    Ok((
        [(header::ETAG, etag_header(&fetched.etag))],
        axum::Json(fetched.value),
    )
        .into_response())
}

/// What a write did.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Written {
    collection: String,
    project: Option<String>,
    key: String,
    /// Whether it was created (otherwise replaced).
    created: bool,
    /// Its version now.
    etag: String,
}

/// The precondition of a write, from `If-Match` or `If-None-Match: *`.
fn precondition(headers: &HeaderMap) -> Result<Option<Precondition>, ApiError> {
    let text = |name| {
        headers
            .get(name)
            .map(|v: &HeaderValue| {
                v.to_str().map(str::to_owned).map_err(|_| {
                    ApiError::new(StatusCode::BAD_REQUEST, "usage", "an entity tag is ASCII")
                })
            })
            .transpose()
    };
    match (text(header::IF_MATCH)?, text(header::IF_NONE_MATCH)?) {
        (Some(_), Some(_)) => Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "usage",
            "give If-Match or If-None-Match, not both",
        )),
        (Some(tags), None) => Ok(Some(Precondition::IfMatch(tags))),
        (None, Some(star)) if star.trim() == "*" => Ok(Some(Precondition::IfNoneMatch)),
        (None, Some(_)) => Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "usage",
            "If-None-Match takes `*` on a write (create only)",
        )),
        (None, None) => Ok(None),
    }
}

#[utoipa::path(put, path = "/api/v1/collections/{collection}/document", tag = "documents",
    security(("bearer" = [])),
    params(("collection" = String, Path, description = "A collection's name"),
        ("If-Match" = Option<String>, Header, description = "Replace only this version (412 otherwise)"),
        ("If-None-Match" = Option<IfNoneMatch>, Header, description = "`*`: create only (412 if it exists)")),
    request_body(content = Object, content_type = "application/json",
        description = "One document in the export shape; sensitive values as {\"secret\": …}, {\"masked\": true} (keep) or null"),
    responses(
        (status = 200, description = "Replaced", body = Written, headers(("ETag" = String))),
        (status = 201, description = "Created", body = Written, headers(("ETag" = String))),
        (status = 400, body = crate::problem::Problem), (status = 401, body = crate::problem::Problem),
        (status = 403, body = crate::problem::Problem), (status = 404, body = crate::problem::Problem),
        (status = 412, body = crate::problem::Problem), (status = 413, body = crate::problem::Problem),
        (status = 415, body = crate::problem::Problem), (status = 422, body = crate::problem::Problem)))]
async fn write(
    Shared(state): Shared<Api>,
    caller: Caller,
    InCollection(collection): InCollection,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    require_json(&headers)?;
    let body = body.map_err(|e| ApiError::new(e.status(), "body", e.body_text()))?;
    let text = String::from_utf8(body.to_vec()).map_err(|_| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "usage",
            "the body is not UTF-8 text",
        )
    })?;
    if !text.trim_start().starts_with('{') {
        // The command line's input may be a list of documents; a request writes one.
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "usage",
            "the body is one document: a JSON object",
        ));
    }
    let precondition = precondition(&headers)?;
    let instance = state.instance().to_owned();
    let put = state
        .authorized_write(caller, move |session, access| {
            let input = DocumentInput {
                origin: "the request's body".into(),
                text: Zeroizing::new(text),
            };
            session.put_documents(
                &DocPut {
                    instance,
                    collection,
                    file: "-".into(),
                },
                &input,
                access,
                precondition.as_ref(),
            )
        })
        .await?;
    let Some(written) = put.written.into_iter().next() else {
        return Err(ApiError::internal("the write wrote nothing"));
    };
    let status = if written.created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((
        status,
        [(header::ETAG, etag_header(&written.etag))],
        axum::Json(Written {
            collection: written.collection.name().to_owned(),
            project: written.project,
            key: written.key,
            created: written.created,
            etag: written.etag,
        }),
    )
        .into_response())
}

/// `If-None-Match` on a write: `*` alone. (A schema for the OpenAPI document; the header is
/// read by [`precondition`].)
/// Refuses a body that is not sent as JSON (415).
pub(crate) fn require_json(headers: &HeaderMap) -> Result<(), ApiError> {
    let json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("application/json"));
    if json {
        Ok(())
    } else {
        Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported-media-type",
            "the body is sent as `Content-Type: application/json`",
        ))
    }
}

#[derive(ToSchema)]
#[allow(dead_code)]
pub enum IfNoneMatch {
    #[schema(rename = "*")]
    Any,
}

/// What a delete did.
#[derive(Serialize, ToSchema)]
pub struct Deleted {
    /// How many documents went (a project goes with everything it owns).
    deleted: u64,
}

#[utoipa::path(delete, path = "/api/v1/collections/{collection}/document", tag = "documents",
    security(("bearer" = [])),
    params(("collection" = String, Path, description = "A collection's name"), DocumentQuery,
        ("If-Match" = Option<String>, Header, description = "Delete only this version (412 otherwise)")),
    responses((status = 200, body = Deleted),
        (status = 400, body = crate::problem::Problem), (status = 401, body = crate::problem::Problem),
        (status = 403, body = crate::problem::Problem), (status = 404, body = crate::problem::Problem),
        (status = 409, description = "Other documents refer to it", body = crate::problem::Problem),
        (status = 412, body = crate::problem::Problem)))]
async fn delete(
    Shared(state): Shared<Api>,
    caller: Caller,
    InCollection(collection): InCollection,
    Params(q): Params<DocumentQuery>,
    headers: HeaderMap,
) -> Result<axum::Json<Deleted>, ApiError> {
    let precondition = match precondition(&headers)? {
        Some(Precondition::IfNoneMatch) => {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "usage",
                "If-None-Match does not apply to a delete",
            ));
        }
        other => other,
    };
    let instance = state.instance().to_owned();
    let deleted = state
        .authorized_write(caller, move |session, access| {
            session.delete_document(
                &DocumentAddress {
                    instance,
                    collection,
                    project: q.project,
                    key: q.key,
                },
                access,
                precondition.as_ref(),
            )
        })
        .await?;
    Ok(axum::Json(Deleted { deleted }))
}

/// Which entries of the audit log.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// Entries older than this one (the previous page's `next`).
    before: Option<i64>,
    /// At most this many (1 to 1000; 100 by default).
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<usize>,
}

/// A page of the audit log, newest first.
#[derive(Serialize, ToSchema)]
pub struct AuditPage {
    #[schema(value_type = Vec<Object>)]
    entries: Vec<cuttle_service::audit::Audit>,
    /// Where the next page starts (`before`), when there may be one.
    next: Option<i64>,
}

#[utoipa::path(get, path = "/api/v1/audit", tag = "audit", security(("bearer" = [])),
    params(AuditQuery),
    responses((status = 200, body = AuditPage), (status = 400, body = crate::problem::Problem),
        (status = 401, body = crate::problem::Problem), (status = 403, body = crate::problem::Problem)))]
async fn audit(
    Shared(state): Shared<Api>,
    caller: Caller,
    Params(q): Params<AuditQuery>,
) -> Result<axum::Json<AuditPage>, ApiError> {
    let limit = page_limit(q.limit)?;
    let entries = state
        .authorized(caller, move |session, access| {
            session.audit(q.before, limit, access)
        })
        .await?;
    let next = (entries.len() == limit)
        .then(|| entries.last().map(|e| e.id))
        .flatten();
    Ok(axum::Json(AuditPage { entries, next }))
}
