//! What every request shares: the service, a pool of open sessions of the instance (one database
//! connection each), and the count of failed authentications per client address.

use std::sync::{Arc, Mutex};

use cuttle_service::{Access, Error, ErrorKind, Service, Session};

use crate::extract::Caller;
use crate::limits::Failures;
use crate::problem::ApiError;

pub(crate) struct State {
    service: Service,
    instance: String,
    /// Open sessions not in use; with `permits`, at most `sessions` are ever open.
    idle: Mutex<Vec<Session>>,
    /// One per session: a request waits here for one, rather than open a connection of its own.
    permits: tokio::sync::Semaphore,
    /// Writes queue here, in order, rather than in the database's lock (SQLite's busy handler
    /// makes no queue: a writer that waited long may keep waiting).
    writer: tokio::sync::Mutex<()>,
    pub(crate) failures: Failures,
    pub(crate) tls: bool,
    pub(crate) tasks: crate::tasks::Tasks,
}

impl State {
    pub(crate) fn new(
        service: Service,
        first: Session,
        options: &crate::Options,
        tls: bool,
        tasks: crate::tasks::Tasks,
    ) -> State {
        State {
            service,
            instance: options.instance.clone(),
            idle: Mutex::new(vec![first]),
            permits: tokio::sync::Semaphore::new(options.idle_sessions.max(1)),
            writer: tokio::sync::Mutex::new(()),
            failures: Failures::new(options.failures_per_minute),
            tls,
            tasks,
        }
    }

    /// A session of its own, for a task (which holds it for as long as it runs).
    pub(crate) fn open_session(&self) -> Result<Session, Error> {
        self.service.session(&self.instance)
    }

    /// A turn in the writers' queue, from a thread that may block (a task's).
    pub(crate) fn writer_blocking(&self) -> tokio::sync::MutexGuard<'_, ()> {
        self.writer.blocking_lock()
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

    /// Closes every open session. On a thread for blocking work: a PostgreSQL connection closes
    /// by blocking on a runtime of its own, which an async thread may not do.
    pub(crate) fn close(&self) {
        let sessions = std::mem::take(&mut *self.idle.lock().expect("the pool's lock"));
        drop(sessions);
    }

    fn give_back(&self, session: Session) {
        self.idle.lock().expect("the pool's lock").push(session);
    }

    /// Runs `work` on a session, on a thread for blocking work, once a session is free. A session
    /// whose database failed is not reused.
    pub(crate) async fn run<T: Send + 'static>(
        self: &Arc<Self>,
        work: impl FnOnce(&mut Session) -> Result<T, Error> + Send + 'static,
    ) -> Result<T, ApiError> {
        let permit = self
            .permits
            .acquire()
            .await
            .map_err(|_| ApiError::internal("the server is stopping"))?;
        let state = self.clone();
        let result = tokio::task::spawn_blocking(move || {
            let mut session = state.take()?;
            let result = work(&mut session);
            let broken = matches!(&result, Err(e) if e.kind == ErrorKind::Storage);
            if !broken {
                state.give_back(session);
            }
            result
        })
        .await;
        drop(permit);
        result
            .map_err(|_| ApiError::internal("the request's work stopped unexpectedly"))?
            .map_err(ApiError::from)
    }

    /// [`State::authorized`], for a write: in the writers' queue.
    pub(crate) async fn authorized_write<T: Send + 'static>(
        self: &Arc<Self>,
        caller: Caller,
        work: impl FnOnce(&mut Session, &Access) -> Result<T, Error> + Send + 'static,
    ) -> Result<T, ApiError> {
        let _turn = self.writer.lock().await;
        self.authorized(caller, work).await
    }

    /// Authenticates the caller's key, then runs `work` with the caller's access, in one blocking
    /// call. Failed authentications count against the client's address (a request without a key
    /// guesses nothing, and is refused before it gets here).
    pub(crate) async fn authorized<T: Send + 'static>(
        self: &Arc<Self>,
        Caller { peer, key }: Caller,
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
