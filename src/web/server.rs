//! The HTTP server: an axum router over [`WebState`], served on an injected
//! listener until the cancellation token fires.
//!
//! Routes (read-only for now; state-changing requests and their token check
//! come with the dashboard):
//! - `GET /healthz`: 200 `{"ok":true,…}` when every stage runs and the printer
//!   link is up, else 503 with the reasons;
//! - `GET /api/status`: the live summary ([`ApiStatus`](super::ApiStatus));
//! - `GET /api/snapshots/{id}.jpg`: an alert snapshot from the store (the
//!   links in webhook and SMS alerts point here).

use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use super::StatusSource;
use crate::store::{SnapshotId, Store};

/// What the handlers can reach. Cheap to clone.
#[derive(Clone)]
pub struct WebState {
    pub status: Arc<dyn StatusSource>,
    /// Snapshots are served from here; `None` answers 404 for every snapshot.
    pub store: Option<Store>,
}

impl std::fmt::Debug for WebState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebState").field("store", &self.store).finish_non_exhaustive()
    }
}

/// Why the server stopped other than by its token.
#[derive(Debug, thiserror::Error)]
pub enum WebError {
    #[error("cannot bind the web server to {addr}: {source}")]
    Bind { addr: String, source: std::io::Error },
    #[error("web server failed: {0}")]
    Serve(std::io::Error),
}

/// The router, for tests that want to drive it without a socket.
pub fn router(state: WebState) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/api/status", get(status))
        .route("/api/snapshots/{file}", get(snapshot))
        .with_state(state)
}

/// Serves the API on `listener` until `cancel` fires; in-flight requests finish first.
pub async fn serve(state: WebState, listener: TcpListener, cancel: CancellationToken) -> Result<(), WebError> {
    let addr = listener.local_addr().map(|a| a.to_string()).unwrap_or_else(|_| "?".into());
    tracing::info!(%addr, "web server listening");
    axum::serve(listener, router(state)).with_graceful_shutdown(cancel.cancelled_owned()).await.map_err(WebError::Serve)
}

/// Binds `[web] bind` (already validated as an address).
pub async fn bind(addr: &str) -> Result<TcpListener, WebError> {
    TcpListener::bind(addr).await.map_err(|source| WebError::Bind { addr: addr.to_string(), source })
}

async fn healthz(State(st): State<WebState>) -> Response {
    let h = st.status.health();
    let code = if h.ok { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    (code, axum::Json(h)).into_response()
}

async fn status(State(st): State<WebState>) -> Response {
    axum::Json(st.status.status()).into_response()
}

async fn snapshot(State(st): State<WebState>, Path(file): Path<String>) -> Response {
    let not_found = |why: &str| (StatusCode::NOT_FOUND, format!("{why}\n")).into_response();
    let Some(id) = file.strip_suffix(".jpg") else { return not_found("snapshots are /api/snapshots/{id}.jpg") };
    let Ok(id) = SnapshotId::parse(id) else { return not_found("no such snapshot") };
    let Some(store) = &st.store else { return not_found("no such snapshot") };
    match store.read_snapshot(&id).await {
        Ok(Some(bytes)) => {
            ([(header::CONTENT_TYPE, "image/jpeg"), (header::CACHE_CONTROL, "private, max-age=86400")], bytes)
                .into_response()
        }
        Ok(None) => not_found("no such snapshot (retention may have removed it)"),
        Err(e) => {
            tracing::warn!(snapshot = %id, error = %e, "cannot read a snapshot");
            (StatusCode::INTERNAL_SERVER_ERROR, "cannot read the snapshot\n").into_response()
        }
    }
}
