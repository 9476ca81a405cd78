//! What every request shares: the service, a pool of open sessions of the instance (one database
//! connection each), and the count of failed authentications per client address.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use cuttle_service::{Access, Error, ErrorKind, Service, Session};

use crate::limits::Failures;
use crate::problem::ApiError;

pub(crate) struct State {
    service: Service,
    instance: String,
    idle: Mutex<Vec<Session>>,
    idle_max: usize,
    pub(crate) failures: Failures,
    pub(crate) tls: bool,
}

impl State {
    pub(crate) fn new(
        service: Service,
        first: Session,
        options: &crate::Options,
        tls: bool,
    ) -> State {
        State {
            service,
            instance: options.instance.clone(),
            idle: Mutex::new(vec![first]),
            idle_max: options.idle_sessions,
            failures: Failures::new(options.failures_per_minute),
            tls,
        }
    }

    pub(crate) fn instance(&self) -> &str {
        &self.instance
    }

    fn take(&self) -> Result<Session, Error> {
        let idle = self.idle.lock().expect("the pool's lock").pop();
        match idle {
            Some(session) => Ok(session),
            None => self.service.session(&self.instance),
        }
    }

    fn give_back(&self, session: Session) {
        let mut idle = self.idle.lock().expect("the pool's lock");
        if idle.len() < self.idle_max {
            idle.push(session);
        }
    }

    /// Runs `work` on a session, on a thread for blocking work. A session whose database failed
    /// is not reused.
    pub(crate) async fn run<T: Send + 'static>(
        self: &Arc<Self>,
        work: impl FnOnce(&mut Session) -> Result<T, Error> + Send + 'static,
    ) -> Result<T, ApiError> {
        let state = self.clone();
        tokio::task::spawn_blocking(move || {
            let mut session = state.take()?;
            let result = work(&mut session);
            let broken = matches!(&result, Err(e) if e.kind == ErrorKind::Storage);
            if !broken {
                state.give_back(session);
            }
            result
        })
        .await
        .map_err(|_| ApiError::internal("the request's work stopped unexpectedly"))?
        .map_err(ApiError::from)
    }

    /// Authenticates `key` (from the client at `peer`), then runs `work` with the caller's
    /// access, in one blocking call. Failed authentications count against the client's address
    /// (a request without a key guesses nothing, and is refused before it gets here).
    pub(crate) async fn authorized<T: Send + 'static>(
        self: &Arc<Self>,
        peer: SocketAddr,
        key: String,
        work: impl FnOnce(&mut Session, &Access) -> Result<T, Error> + Send + 'static,
    ) -> Result<T, ApiError> {
        self.failures.check(peer.ip())?;
        let result = self
            .run(move |session| {
                let access = session.authenticate(&key)?;
                work(session, &access).map(|value| (value, access))
            })
            .await;
        match result {
            Ok((value, access)) => {
                tracing::Span::current().record("who", access.actor().name());
                Ok(value)
            }
            Err(error) => {
                if error.kind() == Some(ErrorKind::Unauthenticated) {
                    self.failures.record(peer.ip());
                }
                Err(error)
            }
        }
    }
}
