//! What keeps a server standing: failed authentications counted per client address, security
//! headers on every response, and the request log.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::extract::{MatchedPath, Request};
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::Response;
use cuttle_service::{Error, ErrorKind};

use crate::problem::ApiError;

/// The window failed authentications are counted in.
const WINDOW: Duration = Duration::from_secs(60);
/// Addresses remembered at most (the oldest windows are dropped first beyond it).
const REMEMBERED: usize = 100_000;

/// Failed authentications per client address, in a sliding minute.
pub(crate) struct Failures {
    per_minute: u32,
    seen: Mutex<HashMap<IpAddr, (Instant, u32)>>,
}

impl Failures {
    pub(crate) fn new(per_minute: u32) -> Failures {
        Failures {
            per_minute,
            seen: Mutex::new(HashMap::new()),
        }
    }

    /// Refuses (429) an address that failed too often this minute, saying when to try again.
    pub(crate) fn check(&self, address: IpAddr) -> Result<(), ApiError> {
        let seen = self.seen.lock().expect("the failures' lock");
        if let Some((since, count)) = seen.get(&address)
            && since.elapsed() < WINDOW
            && *count >= self.per_minute
        {
            let wait = WINDOW.saturating_sub(since.elapsed()).as_secs().max(1);
            return Err(ApiError::from(Error::new(
                ErrorKind::Unauthenticated,
                format!("too many failed authentications from this address: try again in {wait} s"),
            ))
            .too_many(wait));
        }
        Ok(())
    }

    pub(crate) fn record(&self, address: IpAddr) {
        let mut seen = self.seen.lock().expect("the failures' lock");
        if seen.len() >= REMEMBERED {
            seen.retain(|_, (since, _)| since.elapsed() < WINDOW);
        }
        let entry = seen.entry(address).or_insert((Instant::now(), 0));
        if entry.0.elapsed() >= WINDOW {
            *entry = (Instant::now(), 0);
        }
        entry.1 += 1;
    }
}

/// Security headers on every response: no sniffing, no framing, no referrer, no caching (every
/// response is someone's view of configuration), a content security policy that allows nothing
/// (the API serves no page), and HSTS over TLS.
pub(crate) async fn security_headers(
    axum::extract::State(tls): axum::extract::State<bool>,
    request: Request,
    next: Next,
) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    for (name, value) in [
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::REFERRER_POLICY, "no-referrer"),
        (header::CACHE_CONTROL, "no-store"),
        (
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; frame-ancestors 'none'",
        ),
    ] {
        headers.insert(name, HeaderValue::from_static(value));
    }
    if tls {
        headers.insert(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static("max-age=31536000"),
        );
    }
    response
}

/// One line per request: method, route (its pattern, never the names in it), status, time,
/// and who (filled in once the API key is known). Never a header, a body or a query string.
pub(crate) async fn log(request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().clone();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "(no route)".to_owned(), |p| p.as_str().to_owned());
    let span = tracing::info_span!("request", %method, %route, who = tracing::field::Empty);
    let response = {
        use tracing::Instrument;
        next.run(request).instrument(span.clone()).await
    };
    let _entered = span.enter();
    tracing::info!(
        status = response.status().as_u16(),
        ms = started.elapsed().as_millis() as u64,
        "served"
    );
    response
}
