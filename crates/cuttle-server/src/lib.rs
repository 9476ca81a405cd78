//! `cuttle serve` (SPEC 9): one instance over HTTP, under `/api/v1`.
//!
//! A handler is thin: it parses the request, and in one blocking call on a session of the
//! instance ([`state::State::run`]) authenticates the API key and calls the service, which
//! authorises at the route (the permission at all) and at the document (in its scope), validates,
//! writes and audits; then the handler renders the result, or the service's error as problem
//! details ([`problem`]). The engine's blocking work never runs on the async threads.
//!
//! - Listening on anything but a loopback address needs TLS (`--tls-cert`, `--tls-key`, rustls
//!   with the ring provider) unless the operator says `--insecure-http` (behind a proxy that
//!   terminates TLS).
//! - SIGTERM or Ctrl-C stop accepting, let requests in flight finish (their transactions commit
//!   or roll back whole), then exit.
//! - Limits: request bodies (64 MiB, what one document may hold), request time (60 s), failed
//!   authentications per client address (10 a minute, then 429), content types (415), and
//!   security headers on every response.
//! - Request logs (tracing, to standard error): method, route, status, time, who. Never a
//!   header, a body or a query string.

mod extract;
mod limits;
mod migrations;
pub mod openapi;
mod problem;
mod routes;
mod script;
mod state;
mod tasks;
mod tls;
mod upload;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use cuttle_service::Service;

/// A certificate chain and its private key, both PEM files.
#[derive(Clone, Debug)]
pub struct Tls {
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// How to serve.
#[derive(Clone, Debug)]
pub struct Options {
    pub instance: String,
    pub listen: SocketAddr,
    pub tls: Option<Tls>,
    /// Plain HTTP on a non-loopback address, knowingly.
    pub insecure_http: bool,
    /// The largest request body, in bytes.
    pub body_limit: usize,
    /// How long a request may take.
    pub request_timeout: Duration,
    /// Failed authentications a client address may make in a minute.
    pub failures_per_minute: u32,
    /// Open sessions (database connections) at most: requests beyond wait for one.
    pub idle_sessions: usize,
    /// Folders under which an import task may read export directories (`--migration-root`).
    pub migration_roots: Vec<PathBuf>,
    /// Where tasks' files (archives, backups, plans) and uploads are kept while the server
    /// runs; a temporary folder when not given.
    pub work_dir: Option<PathBuf>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            instance: String::new(),
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            tls: None,
            insecure_http: false,
            body_limit: 64 << 20,
            request_timeout: Duration::from_secs(60),
            failures_per_minute: 10,
            idle_sessions: 16,
            migration_roots: Vec::new(),
            work_dir: None,
        }
    }
}

/// How long a stopping server waits for its running task to stop.
const TASK_GRACE: Duration = Duration::from_secs(10);

/// Why the server does not start (or stops).
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("{0}")]
    Refused(String),
    #[error("{}", cuttle_service::Error::to_string(.0))]
    Service(#[from] cuttle_service::Error),
    #[error("{0}: {1}")]
    Io(String, #[source] std::io::Error),
}

/// Serves `options.instance` until SIGTERM or Ctrl-C.
pub fn run(service: Service, options: Options) -> Result<(), ServeError> {
    if !options.listen.ip().is_loopback() && options.tls.is_none() && !options.insecure_http {
        return Err(ServeError::Refused(format!(
            "{} is not a loopback address: give --tls-cert and --tls-key, or --insecure-http when a proxy in front terminates TLS",
            options.listen
        )));
    }
    let tls = options.tls.as_ref().map(tls::config).transpose()?;
    // The instance opens (its master key checked) before anything listens.
    let mut session = service.session(&options.instance)?;
    // Tasks that were running when a server of this instance stopped never ended: they did not
    // commit (their transaction died with the process), and say so from now on.
    let interrupted = session.fail_interrupted_tasks()?;
    let mut roots = Vec::with_capacity(options.migration_roots.len());
    for root in &options.migration_roots {
        roots.push(
            std::fs::canonicalize(root)
                .map_err(|e| ServeError::Io(format!("migration root {}", root.display()), e))?,
        );
    }
    let work = match &options.work_dir {
        Some(dir) => {
            std::fs::create_dir_all(dir)
                .map_err(|e| ServeError::Io(format!("working folder {}", dir.display()), e))?;
            tempfile::Builder::new()
                .prefix("cuttle-serve-")
                .tempdir_in(dir)
        }
        None => tempfile::Builder::new().prefix("cuttle-serve-").tempdir(),
    }
    .map_err(|e| ServeError::Io("making the working folder".into(), e))?;
    let tasks = tasks::Tasks::new(work.path().to_owned(), roots);
    init_logging();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("cuttle-serve")
        .build()
        .map_err(|e| ServeError::Io("starting the server's threads".into(), e))?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(options.listen)
            .await
            .map_err(|e| ServeError::Io(format!("listening on {}", options.listen), e))?;
        let address = listener
            .local_addr()
            .map_err(|e| ServeError::Io("reading the listening address".into(), e))?;
        let state = Arc::new(state::State::new(
            service,
            session,
            &options,
            tls.is_some(),
            tasks,
        ));
        let worker = tasks::Tasks::start(&state);
        if interrupted > 0 {
            tracing::warn!(tasks = interrupted, "tasks that were running when the server last stopped are marked failed");
        }
        let app = routes::router(state.clone(), &options)
            .into_make_service_with_connect_info::<tls::Peer>();
        let scheme = if tls.is_some() { "https" } else { "http" };
        // Said on standard error, for people and for scripts that wait for it.
        eprintln!(
            "cuttle: serving instance {:?} on {scheme}://{address}/api/v1 (SIGTERM or Ctrl-C stops)",
            options.instance
        );
        let served = match tls {
            Some(config) => {
                axum::serve(tls::Listener::new(listener, config), app)
                    .with_graceful_shutdown(shutdown())
                    .await
            }
            None => {
                axum::serve(listener, app)
                    .with_graceful_shutdown(shutdown())
                    .await
            }
        };
        // A running task is cancelled (it writes nothing) and the worker ends; a task busy where
        // it cannot stop (writing an export's files) is given a while,
        // then left to end with the process: it committed nothing, and the next server of the
        // instance records it failed.
        state.tasks.stop();
        let ended = tokio::time::timeout(
            TASK_GRACE,
            tokio::task::spawn_blocking(move || worker.join()),
        )
        .await;
        if ended.is_err() {
            tracing::warn!(
                "the running task did not stop within {} s: it ends with the server, having committed nothing",
                TASK_GRACE.as_secs()
            );
        }
        let closing = state.clone();
        let _ = tokio::task::spawn_blocking(move || closing.close()).await;
        drop(work);
        served.map_err(|e| ServeError::Io("serving".into(), e))?;
        eprintln!("cuttle: stopped; every request in flight was finished");
        Ok(())
    })
}

/// Resolves at SIGTERM or Ctrl-C.
async fn shutdown() {
    let interrupt = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => {},
        () = terminate => {},
    }
    tracing::info!("stopping: no new connections; finishing the requests in flight");
}

/// Request logs to standard error; `CUTTLE_LOG` filters them (`info` by default).
fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("CUTTLE_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .with_target(false)
        .try_init();
}
