//! Errors as RFC 9457 problem details (`application/problem+json`), carrying the service's
//! structured error: its kind, the problems with their file, line, column and JSON path, the
//! blockers, the hint, and for a refusal the permission missing, where, and who has it.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use cuttle_service::{Error, ErrorKind};
use serde::Serialize;

/// A problem: the RFC 9457 members, then the service's error's own.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Problem {
    /// `urn:cuttle:problem:<kind>`.
    #[serde(rename = "type")]
    pub kind_uri: String,
    pub title: String,
    pub status: u16,
    /// What is wrong.
    pub detail: String,
    /// The error's kind, as `type` names it.
    pub kind: String,
    /// The problems of documents (file, line, column, JSON path, message).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    #[schema(value_type = Vec<Object>)]
    pub problems: Vec<serde_json::Value>,
    /// Why an import stops before writing.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    #[schema(value_type = Vec<Object>)]
    pub blockers: Vec<serde_json::Value>,
    /// What can be done about it (`overwrite`, `give-project`, …).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
    /// For 403: the permission missing, where, and which teams grant it.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub refusal: Option<serde_json::Value>,
}

/// An error on its way to the client.
#[derive(Debug)]
pub(crate) struct ApiError {
    status: StatusCode,
    problem: Box<Problem>,
    retry_after: Option<u64>,
}

fn status_of(kind: ErrorKind) -> StatusCode {
    use ErrorKind as K;
    match kind {
        K::Usage => StatusCode::BAD_REQUEST,
        K::Unauthenticated => StatusCode::UNAUTHORIZED,
        K::Forbidden => StatusCode::FORBIDDEN,
        K::NotFound => StatusCode::NOT_FOUND,
        K::PreconditionFailed => StatusCode::PRECONDITION_FAILED,
        K::InUse | K::Blocked | K::Populated | K::StalePlan | K::Cancelled => StatusCode::CONFLICT,
        K::Invalid
        | K::Selection
        | K::Password
        | K::Directory
        | K::Source
        | K::Version
        | K::Archive
        | K::Backup => StatusCode::UNPROCESSABLE_ENTITY,
        K::NoRoom => StatusCode::INSUFFICIENT_STORAGE,
        K::Storage => StatusCode::SERVICE_UNAVAILABLE,
        K::Registry | K::MasterKey | K::Damaged | K::File | K::Io | K::Output => {
            StatusCode::INTERNAL_SERVER_ERROR
        }
    }
}

fn name_of<T: Serialize>(value: &T) -> String {
    serde_json::to_value(value)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

impl ApiError {
    /// A problem the server itself found (not the service): `kind` names it.
    pub(crate) fn new(status: StatusCode, kind: &str, detail: impl Into<String>) -> ApiError {
        ApiError {
            status,
            problem: Box::new(Problem {
                kind_uri: format!("urn:cuttle:problem:{kind}"),
                title: status.canonical_reason().unwrap_or("Error").to_owned(),
                status: status.as_u16(),
                detail: detail.into(),
                kind: kind.to_owned(),
                problems: Vec::new(),
                blockers: Vec::new(),
                hint: None,
                refusal: None,
            }),
            retry_after: None,
        }
    }

    pub(crate) fn internal(detail: &str) -> ApiError {
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", detail)
    }

    /// The service's error kind, when it came from the service.
    pub(crate) fn kind(&self) -> Option<ErrorKind> {
        serde_json::from_value(serde_json::Value::String(self.problem.kind.clone())).ok()
    }

    /// 429, to be tried again after `seconds`.
    pub(crate) fn too_many(mut self, seconds: u64) -> ApiError {
        self.status = StatusCode::TOO_MANY_REQUESTS;
        self.problem.status = self.status.as_u16();
        self.problem.title = "Too Many Requests".into();
        self.retry_after = Some(seconds);
        self
    }
}

impl From<Error> for ApiError {
    fn from(error: Error) -> ApiError {
        let status = status_of(error.kind);
        let kind = name_of(&error.kind);
        // The detail is the message alone: the problems and blockers are members of their own.
        let mut api = ApiError::new(status, &kind, error.message.clone());
        api.problem.problems = error
            .problems
            .iter()
            .filter_map(|p| serde_json::to_value(p).ok())
            .collect();
        api.problem.blockers = error
            .blockers
            .iter()
            .filter_map(|b| serde_json::to_value(b).ok())
            .collect();
        api.problem.hint = error.hint.map(|h| name_of(&h));
        api.problem.refusal = error
            .refusal
            .as_ref()
            .and_then(|r| serde_json::to_value(r).ok());
        api
    }
}

impl ApiError {
    /// The problem as JSON: what a task's record says of the error that ended it.
    pub(crate) fn problem_json(&self) -> serde_json::Value {
        serde_json::to_value(&self.problem).unwrap_or_default()
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::to_vec(&self.problem).expect("a problem serializes");
        let mut response = (self.status, body).into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        if self.status == StatusCode::UNAUTHORIZED {
            headers.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"cuttle\""),
            );
        }
        if let Some(seconds) = self.retry_after {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}
