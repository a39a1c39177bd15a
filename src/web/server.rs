//! The HTTP server: [`WebState`], the router over it, and `serve` on an
//! injected listener until the cancellation token fires.
//!
//! Routes (all JSON under `/api/`, documented in `/api/openapi.json`):
//! - page: `GET /` (dashboard), `GET|POST /login`, `POST /logout`, `/assets/*`;
//! - reads: `/healthz`, `/api/status`, `/api/events` (server-sent events),
//!   `/api/live.jpg`, `/api/timeline`, `/api/prints`, `/api/prints/{id}/timeline`,
//!   `/api/incidents`, `/api/config`, `/api/snapshots/{id}.jpg`, `/api/prints/{id}/timelapse.mp4`,
//!   `/metrics`;
//! - commands (POST only, see `auth`): `/api/printer/{pause|resume|cancel}`,
//!   `/api/incidents/{id}/not-a-failure`, `/api/incidents/{id}/acknowledge`,
//!   `/api/mute`, `/api/unmute`.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::routing::{get, post};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use super::auth::{self, Auth};
use super::{CommandSink, StatusSource, WebConfig, calibrate, control, events, metrics, pages, read};
use crate::store::Store;
use crate::timelapse::Library;

/// What the handlers can reach. Cheap to clone.
#[derive(Clone)]
pub struct WebState {
    pub status: Arc<dyn StatusSource>,
    /// Snapshots, prints, incidents and alerts; `None` answers empty lists and 404s.
    pub store: Option<Store>,
    /// Where commands go; `None` answers 503 to every command.
    pub commands: Option<Arc<dyn CommandSink>>,
    /// The effective configuration, secrets already replaced by `***`.
    pub config: Arc<serde_json::Value>,
    /// Region of interest from `[vision] roi` (fractions x, y, w, h), for the live view.
    pub roi: Option<[f32; 4]>,
    pub auth: Arc<Auth>,
    /// Ends the event streams when the server shuts down (set by `serve`).
    pub shutdown: CancellationToken,
    /// How long a client may take to send a request's headers, and an idle keep-alive connection may stay
    /// open (`[web] header_timeout_s`).
    pub header_timeout: Duration,
    /// Time-lapse videos (`[timelapse]`); `None` answers 404.
    pub timelapses: Option<Library>,
}

impl std::fmt::Debug for WebState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebState").field("store", &self.store).field("auth", &self.auth).finish_non_exhaustive()
    }
}

impl WebState {
    /// Read-only state: no commands, no configuration, no token.
    pub fn new(status: Arc<dyn StatusSource>, store: Option<Store>) -> Self {
        WebState {
            status,
            store,
            commands: None,
            config: Arc::new(serde_json::Value::Null),
            roi: None,
            auth: Arc::new(Auth::new(None)),
            shutdown: CancellationToken::new(),
            header_timeout: Duration::from_secs(WebConfig::default().header_timeout_s),
            timelapses: None,
        }
    }

    /// Serves the time-lapses of `library` and links them from the print history.
    pub fn with_timelapses(mut self, library: Library) -> Self {
        self.timelapses = Some(library);
        self
    }

    pub fn with_commands(mut self, commands: Arc<dyn CommandSink>) -> Self {
        self.commands = Some(commands);
        self
    }

    /// Takes the configuration to show (secrets already masked by the caller:
    /// `Config::redacted_json`), the region of interest from `[vision] roi`
    /// (fractions x, y, w, h) and `[web] token`.
    pub fn with_config(mut self, redacted: serde_json::Value, roi: Option<[f32; 4]>, web: &WebConfig) -> Self {
        self.config = Arc::new(redacted);
        self.roi = roi;
        self.auth = Arc::new(Auth::new(web.token.clone()));
        self.header_timeout = Duration::from_secs(web.header_timeout_s);
        self
    }

    pub fn with_header_timeout(mut self, timeout: Duration) -> Self {
        self.header_timeout = timeout;
        self
    }

    pub fn with_token(mut self, token: Option<String>) -> Self {
        self.auth = Arc::new(Auth::new(token));
        self
    }
}

/// Why the server stopped other than by its token.
#[derive(Debug, thiserror::Error)]
pub enum WebError {
    #[error("cannot bind the web server to {addr}: {source}")]
    Bind { addr: String, source: std::io::Error },
    #[error("web server failed: {0}")]
    Serve(std::io::Error),
    #[error("refusing to serve on {addr} without web.token: only loopback addresses may go without one")]
    NoToken { addr: String },
}

/// The router, for tests that want to drive it without a socket.
pub fn router(state: WebState) -> Router {
    Router::new()
        .route("/", get(pages::index))
        .route("/login", get(pages::login_form).post(pages::login))
        .route("/logout", post(pages::logout))
        .route("/assets/{file}", get(pages::asset))
        .route("/healthz", get(read::healthz))
        .route("/metrics", get(metrics::metrics))
        .route("/api/openapi.json", get(pages::openapi))
        .route("/api/status", get(read::status))
        .route("/api/events", get(events::events))
        .route("/api/live.jpg", get(read::live))
        .route("/api/overlay", get(read::overlay))
        .route("/api/timeline", get(read::timeline))
        .route("/api/prints", get(read::prints))
        .route("/api/prints/{id}/timeline", get(read::print_timeline))
        .route("/api/prints/{id}/timelapse.mp4", get(read::timelapse))
        .route("/api/incidents", get(read::incidents))
        .route("/api/config", get(read::config))
        .route("/api/snapshots/{file}", get(read::snapshot))
        .route("/api/printer/{command}", post(control::printer))
        .route("/api/incidents/{id}/not-a-failure", post(control::not_a_failure))
        .route("/api/incidents/{id}/acknowledge", post(control::acknowledge))
        .route("/api/mute", post(control::mute))
        .route("/api/unmute", post(control::unmute))
        .route("/api/camera-memory/reset", post(control::forget_camera))
        .route("/api/objects", get(control::objects))
        .route("/api/objects/{name}/cancel", post(control::cancel_object))
        .route("/calibrate", get(calibrate::page))
        .route("/api/calibration/solve", post(calibrate::solve))
        .route("/api/calibration/save", post(calibrate::save))
        .layer(axum::middleware::from_fn_with_state(state.clone(), auth::guard))
        .with_state(state)
}

/// Serves on `listener` until `cancel` fires; in-flight requests finish and
/// event streams end first. Refuses a non-loopback listener without a token.
///
/// Each connection is HTTP/1.1 with a header timeout (`state.header_timeout`): a client that has not sent a
/// request's headers within it, whether it is slow or its keep-alive connection sits idle, is disconnected.
/// (`axum::serve` offers no timeouts, so idle and slow-header connections stayed open indefinitely.) A failed
/// `accept` (for example too many open files) is logged and retried after a pause, never fatal.
pub async fn serve(mut state: WebState, listener: TcpListener, cancel: CancellationToken) -> Result<(), WebError> {
    let local = listener.local_addr().map_err(WebError::Serve)?;
    let addr = local.to_string();
    let loopback = check_bind(local, state.auth.token_required())?;
    state.auth.set_loopback(loopback);
    state.shutdown = cancel.child_token();
    let header_timeout = state.header_timeout;
    tracing::info!(%addr, token = state.auth.token_required(), header_timeout_s = header_timeout.as_secs_f64(), "web server listening");
    serve_app(router(state), listener, header_timeout, cancel).await
}

/// The accept loop of [`serve`] (and of the farm's server) for a ready router.
pub(super) async fn serve_app(
    app: Router,
    listener: TcpListener,
    header_timeout: Duration,
    cancel: CancellationToken,
) -> Result<(), WebError> {
    use hyper_util::rt::{TokioIo, TokioTimer};
    use hyper_util::service::TowerToHyperService;

    let addr = listener.local_addr().map_err(WebError::Serve)?.to_string();
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new()).header_read_timeout(header_timeout);
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    loop {
        let (stream, peer) = tokio::select! {
            _ = cancel.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok(conn) => conn,
                Err(error) => {
                    tracing::warn!(%addr, %error, "web server cannot accept a connection; retrying");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let conn = http.serve_connection(TokioIo::new(stream), TowerToHyperService::new(app.clone()));
        let conn = graceful.watch(conn);
        tokio::spawn(async move {
            if let Err(error) = conn.await {
                tracing::debug!(%peer, %error, "web connection ended");
            }
        });
    }
    drop(listener);
    graceful.shutdown().await;
    Ok(())
}

/// Whether `addr` is loopback; an error when it is not and no token is configured
/// (config validation refuses that too: this is the server's own guard).
pub fn check_bind(addr: std::net::SocketAddr, token_required: bool) -> Result<bool, WebError> {
    let loopback = addr.ip().is_loopback();
    if !loopback && !token_required {
        return Err(WebError::NoToken { addr: addr.to_string() });
    }
    Ok(loopback)
}

/// Binds `[web] bind` (already validated as an address).
pub async fn bind(addr: &str) -> Result<TcpListener, WebError> {
    TcpListener::bind(addr).await.map_err(|source| WebError::Bind { addr: addr.to_string(), source })
}
