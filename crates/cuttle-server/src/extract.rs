//! What a route takes from a request before it asks the service, each refused with a problem:
//! who calls ([`Caller`], 401 first of all), the collection named in the path ([`InCollection`],
//! 404) and the query's parameters ([`Params`], 400).

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, FromRequestParts, Path, Query};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use cuttle_domain::Collection;
use serde::de::DeserializeOwned;

use crate::problem::ApiError;
use crate::tls::Peer;

/// The caller of a route that needs an API key: the client's address (failed authentications
/// count against it) and the key, from `Authorization: Bearer <key>` and never from the URL.
/// Checked before anything else of the request.
pub(crate) struct Caller {
    pub(crate) peer: SocketAddr,
    pub(crate) key: String,
}

impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        let key = bearer(&parts.headers)?;
        let ConnectInfo(Peer(peer)) = *parts
            .extensions
            .get::<ConnectInfo<Peer>>()
            .ok_or_else(|| ApiError::internal("the client's address is unknown"))?;
        Ok(Caller { peer, key })
    }
}

fn bearer(headers: &HeaderMap) -> Result<String, ApiError> {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Err(ApiError::from(cuttle_service::Error::new(
            cuttle_service::ErrorKind::Unauthenticated,
            "this needs an API key: send it as `Authorization: Bearer <key>` (`cuttle api-key create` makes one)",
        )));
    };
    let bad = || {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthenticated",
            "the Authorization header takes `Bearer <API key>`",
        )
    };
    let text = value.to_str().map_err(|_| bad())?;
    let (scheme, key) = text.split_once(' ').ok_or_else(bad)?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(bad());
    }
    Ok(key.trim().to_owned())
}

/// The declared collection that the path's `{collection}` names.
pub(crate) struct InCollection(pub(crate) Collection);

impl<S: Send + Sync> FromRequestParts<S> for InCollection {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let Path(name) = Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "usage", e.body_text()))?;
        Collection::from_name(&name)
            .map(InCollection)
            .ok_or_else(|| {
                ApiError::new(
                    StatusCode::NOT_FOUND,
                    "not-found",
                    format!(
                        "{} is not a collection (GET /api/v1/collections lists them)",
                        cuttle_domain::names::quoted(&name)
                    ),
                )
            })
    }
}

/// The query's parameters, as `T` declares them.
pub(crate) struct Params<T>(pub(crate) T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for Params<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        Query::<T>::from_request_parts(parts, state)
            .await
            .map(|Query(q)| Params(q))
            .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "usage", e.body_text()))
    }
}

/// A page's size: 1 to 1000, 100 when not given.
pub(crate) fn page_limit(limit: Option<usize>) -> Result<usize, ApiError> {
    let limit = limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "usage",
            "limit takes 1 to 1000",
        ));
    }
    Ok(limit)
}

/// The task that the path's `{id}` names (400 when it is not a task id).
pub(crate) struct TaskId(pub(crate) i64);

impl<S: Send + Sync> FromRequestParts<S> for TaskId {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let Path(text) = Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "usage", e.body_text()))?;
        text.parse::<i64>()
            .ok()
            .filter(|id| *id > 0)
            .map(TaskId)
            .ok_or_else(|| {
                ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "usage",
                    "a task is named by its id, a positive whole number",
                )
            })
    }
}
