//! Serving a router over HTTP/1.1 with the limits a server facing untrusted clients needs: a
//! deadline for the request headers (a half-sent header does not hold a connection for
//! minutes), a deadline for the whole request (answered with the JSON error body), a cap on open
//! connections below the process's descriptor limit (raised to its hard maximum at start, so
//! that idle connections cannot lock new clients out), and a graceful shutdown that lets
//! requests in flight finish.

use std::future::Future;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::Response;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

/// The limits a server applies.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Time allowed for a request's headers to arrive (and for an idle keep-alive connection).
    pub header_read: Duration,
    /// Time allowed for a whole request, body and answer included.
    pub request: Duration,
    /// Open connections at most; further clients wait in the listen backlog.
    pub max_connections: usize,
}

pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

/// Raises the soft RLIMIT_NOFILE to the hard limit (once per process); returns the limit now
/// in force.
pub fn raise_nofile_limit() -> u64 {
    static LIMIT: OnceLock<u64> = OnceLock::new();
    *LIMIT.get_or_init(|| {
        rlimit::increase_nofile_limit(u64::MAX)
            .or_else(|_| rlimit::getrlimit(rlimit::Resource::NOFILE).map(|(soft, _)| soft))
            .unwrap_or(1024)
    })
}

impl Limits {
    /// The defaults, with the connection cap taken from the descriptor limit (a quarter of it
    /// per server, as `sigstore-lite up` runs six servers in one process; 64 at least).
    pub fn for_this_process() -> Limits {
        let nofile = raise_nofile_limit();
        Limits {
            header_read: HEADER_READ_TIMEOUT,
            request: REQUEST_TIMEOUT,
            max_connections: ((nofile / 4) as usize).clamp(64, 16_384),
        }
    }
}

pub(crate) async fn request_deadline(
    State(limit): State<Duration>,
    req: Request,
    next: Next,
) -> Response {
    match tokio::time::timeout(limit, next.run(req)).await {
        Ok(r) => r,
        Err(_) => crate::json_error(
            StatusCode::REQUEST_TIMEOUT,
            "request_timeout",
            "the request took too long (a slow body or an overloaded server); try again",
        ),
    }
}

/// Serves `app` on `listener` with [`Limits::for_this_process`] until `shutdown` resolves.
pub async fn serve(
    listener: TcpListener,
    app: axum::Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    serve_with(listener, app, shutdown, Limits::for_this_process()).await
}

/// Serves `app` on `listener` with `limits` until `shutdown` resolves; then waits (10 s at
/// most) for the requests in flight.
pub async fn serve_with(
    listener: TcpListener,
    app: axum::Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
    limits: Limits,
) -> std::io::Result<()> {
    let app = app.layer(axum::middleware::from_fn_with_state(
        limits.request,
        request_deadline,
    ));
    let permits = Arc::new(Semaphore::new(limits.max_connections));
    let graceful = GracefulShutdown::new();
    let mut builder = Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read);
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            _ = &mut shutdown => break,
            p = Arc::clone(&permits).acquire_owned() => p.expect("the semaphore is never closed"),
        };
        let tcp = tokio::select! {
            _ = &mut shutdown => break,
            r = listener.accept() => match r {
                Ok((tcp, _)) => tcp,
                Err(e) => {
                    // Out of descriptors or a reset in the backlog: keep serving the others.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    continue;
                }
            },
        };
        let _ = tcp.set_nodelay(true);
        let (builder, app, watcher) = (builder.clone(), app.clone(), graceful.watcher());
        let header_read = limits.header_read;
        tokio::spawn(async move {
            let _permit = permit;
            // hyper's header deadline starts with the first byte: a client that connects and
            // sends nothing is dropped after the same time.
            let mut first = [0u8; 1];
            match tokio::time::timeout(header_read, tcp.peek(&mut first)).await {
                Ok(Ok(n)) if n > 0 => {}
                _ => return,
            }
            let conn = builder
                .serve_connection_with_upgrades(TokioIo::new(tcp), TowerToHyperService::new(app))
                .into_owned();
            if let Err(e) = watcher.watch(conn).await {
                tracing::debug!(error = %e, "connection ended with an error");
            }
        });
    }
    drop(listener);
    tokio::select! {
        _ = graceful.shutdown() => {}
        _ = tokio::time::sleep(Duration::from_secs(10)) => {
            tracing::warn!("requests still open 10 s after shutdown began");
        }
    }
    Ok(())
}
