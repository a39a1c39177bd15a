//! One web server for several printers (`[[printers]]`).
//!
//! - `GET /`: the list of printers (name, printer state, score, layer, open incidents), each
//!   linking to its own dashboard at `/p/<name>/`;
//! - `/p/<name>/…`: that printer's whole dashboard and API, the same router a single printer
//!   serves at `/` (the page uses paths relative to its base, so the same assets work there);
//! - `GET /api/printers`: the list as JSON;
//! - `GET /healthz`: 200 only when every printer is healthy, with each printer's report;
//! - `GET /metrics`: every printer's series, each labelled `printer="<name>"`;
//! - any other `/api/…`: 400 naming `/api/printers` and `/p/<name>/api/…` (which printer is
//!   meant cannot be guessed);
//! - `/login`, `/logout`, `/assets/*`: one sign-in for every printer (one `[web] token`).

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Json, Redirect, Response};
use axum::routing::{any, get, post};
use serde::Serialize;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use super::auth::{self, Auth};
use super::server::{WebError, WebState, check_bind, router, serve_app};
use super::{HealthReport, WebConfig, metrics, pages};

/// One printer as the farm's web server serves it.
#[derive(Clone)]
pub struct FarmPrinter {
    /// `[[printers]] name`: a slug, the path segment of `/p/<name>/`.
    pub name: String,
    /// Its API (status board, store, commands, redacted config).
    pub state: WebState,
    /// Fires when the printer's pipeline stopped (a stage past its restart budget).
    pub stopped: CancellationToken,
}

#[derive(Clone)]
struct Farm {
    printers: Arc<Vec<FarmPrinter>>,
}

/// One row of `/api/printers` and of the list page.
#[derive(Debug, Clone, Serialize)]
pub struct PrinterSummary {
    pub name: String,
    /// The printer's dashboard; its API is under `<url>api/`.
    pub url: String,
    /// False once its pipeline gave up (the other printers go on).
    pub running: bool,
    /// `printing`, `paused`, `disconnected`…
    pub state: String,
    pub job: Option<String>,
    pub layer: Option<u32>,
    pub layer_count: Option<u32>,
    /// The smoothed failure score of the latest judged frame.
    pub score: Option<f32>,
    pub level: Option<String>,
    pub incidents_open: usize,
    pub healthy: bool,
    pub problems: Vec<String>,
}

async fn summary(p: &FarmPrinter) -> PrinterSummary {
    let s = p.state.status.status();
    let h = health(p);
    let incidents_open = match &p.state.store {
        Some(store) => store.open_incidents().await.map(|v| v.len()).unwrap_or_else(|e| {
            tracing::warn!(printer = %p.name, error = %e, "printers: cannot read open incidents");
            0
        }),
        None => 0,
    };
    PrinterSummary {
        name: p.name.clone(),
        url: format!("/p/{}/", p.name),
        running: !p.stopped.is_cancelled(),
        state: s.printer.state.clone(),
        job: s.printer.job.as_ref().map(|j| j.file.clone()),
        layer: s.printer.layer,
        layer_count: s.printer.layer_count,
        score: s.decision.as_ref().map(|d| d.smoothed),
        level: s.decision.as_ref().and_then(|d| serde_json::to_value(d.level).ok()?.as_str().map(String::from)),
        incidents_open,
        healthy: h.ok,
        problems: h.problems,
    }
}

fn health(p: &FarmPrinter) -> HealthReport {
    match p.stopped.is_cancelled() {
        true => HealthReport::new(vec!["stopped: a stage crashed past its restart budget (see the log)".into()]),
        false => p.state.status.health(),
    }
}

async fn list(State(f): State<Farm>) -> Response {
    let mut out = Vec::with_capacity(f.printers.len());
    for p in f.printers.iter() {
        out.push(summary(p).await);
    }
    Json(out).into_response()
}

/// Healthy only when every printer is; each printer's report by name.
async fn healthz(State(f): State<Farm>) -> Response {
    let each: serde_json::Map<String, serde_json::Value> =
        f.printers.iter().map(|p| (p.name.clone(), serde_json::to_value(health(p)).unwrap_or_default())).collect();
    let ok = each.values().all(|h| h["ok"] == true);
    let problems: Vec<String> = f
        .printers
        .iter()
        .flat_map(|p| health(p).problems.into_iter().map(move |m| format!("{}: {m}", p.name)))
        .collect();
    let code = if ok { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    (code, Json(serde_json::json!({ "ok": ok, "problems": problems, "printers": each }))).into_response()
}

async fn metrics_all(State(f): State<Farm>) -> Response {
    let mut texts = Vec::with_capacity(f.printers.len());
    for p in f.printers.iter() {
        let alerts = metrics::alert_rows(&p.state).await;
        texts.push(metrics::render_for(&p.state.status.status(), &p.state.status.counters(), &alerts, Some(&p.name)));
    }
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], metrics::merge_families(&texts))
        .into_response()
}

async fn no_default_printer() -> Response {
    let body = serde_json::json!({
        "error": "this daemon watches several printers: use /p/<name>/api/… (the list: /api/printers)"
    });
    (StatusCode::BAD_REQUEST, Json(body)).into_response()
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// The list page: plain HTML (no script), refreshed every 5 seconds.
async fn index(State(f): State<Farm>) -> Response {
    let mut rows = String::new();
    for p in f.printers.iter() {
        let s = summary(p).await;
        let layer = match (s.layer, s.layer_count) {
            (Some(l), Some(n)) => format!("{l} of {n}"),
            (Some(l), None) => l.to_string(),
            _ => "–".into(),
        };
        let score = s.score.map_or("–".into(), |v| format!("{v:.2}"));
        let state = if s.running { s.state.clone() } else { "stopped".into() };
        rows.push_str(&format!(
            "<tr><td><a href=\"{url}\">{name}</a></td><td>{state}</td><td>{score}</td><td>{level}</td><td>{layer}</td>\
             <td>{inc}</td><td>{health}</td></tr>\n",
            url = escape(&s.url),
            name = escape(&s.name),
            state = escape(&state),
            level = escape(s.level.as_deref().unwrap_or("–")),
            inc = s.incidents_open,
            health = if s.healthy { "ok".to_string() } else { escape(&s.problems.join("; ")) },
        ));
    }
    let body = format!(
        r#"<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width,initial-scale=1"><meta http-equiv="refresh" content="5">
<title>layerwatch: printers</title><link rel="stylesheet" href="/assets/app.css"></head>
<body><main><h1>layerwatch: {n} printers</h1><div class="card"><table class="printers">
<thead><tr><th>printer</th><th>state</th><th>score</th><th>level</th><th>layer</th><th>open incidents</th><th>health</th></tr></thead>
<tbody>
{rows}</tbody></table></div>
<p class="muted small">API: <a href="/api/printers">/api/printers</a> · <a href="/metrics">/metrics</a> · <a href="/healthz">/healthz</a></p>
</main></body></html>"#,
        n = f.printers.len()
    );
    pages::html(body)
}

/// The router: the farm's own routes (behind the guard), then each printer's router at `/p/<name>`.
pub fn farm_router(printers: Vec<FarmPrinter>) -> Router {
    let Some(first) = printers.first().map(|p| p.state.clone()) else { return Router::new() };
    let farm = Farm { printers: Arc::new(printers.clone()) };
    let own = Router::new()
        .route("/", get(index))
        .route("/api/printers", get(list))
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics_all))
        .with_state(farm);
    let shared = Router::new()
        .route("/login", get(pages::login_form).post(pages::login))
        .route("/logout", post(pages::logout))
        .route("/assets/{file}", get(pages::asset))
        .route("/api/openapi.json", get(pages::openapi))
        .route("/api", any(no_default_printer))
        .route("/api/{*rest}", any(no_default_printer))
        .with_state(first.clone());
    let mut app = own.merge(shared).layer(axum::middleware::from_fn_with_state(first, auth::guard));
    for p in printers {
        let base = format!("/p/{}", p.name);
        // The dashboard lives at `/p/<name>/` (its links are relative); `/p/<name>` redirects there.
        let page = Router::new()
            .route(&format!("{base}/"), get(pages::index))
            .layer(axum::middleware::from_fn_with_state(p.state.clone(), auth::guard))
            .with_state(p.state.clone());
        app = app.nest(&base, router(p.state)).merge(page);
    }
    app.layer(axum::middleware::from_fn(bare_printer_path))
}

/// `/p/<name>` → 308 `/p/<name>/`, so the page's relative links resolve under the printer.
async fn bare_printer_path(req: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let path = req.uri().path();
    if let Some(name) = path.strip_prefix("/p/")
        && !name.is_empty()
        && !name.contains('/')
    {
        return Redirect::permanent(&format!("{path}/")).into_response();
    }
    next.run(req).await
}

/// Serves every printer on `listener` until `cancel` fires: one sign-in (`web.token`) for all.
/// Refuses a non-loopback listener without a token, as `serve` does.
pub async fn serve_farm(
    mut printers: Vec<FarmPrinter>,
    web: &WebConfig,
    listener: TcpListener,
    cancel: CancellationToken,
) -> Result<(), WebError> {
    let local = listener.local_addr().map_err(WebError::Serve)?;
    let auth = Arc::new(Auth::new(web.token.clone()));
    auth.set_loopback(check_bind(local, auth.token_required())?);
    let shutdown = cancel.child_token();
    for p in &mut printers {
        p.state.auth = auth.clone();
        p.state.shutdown = shutdown.clone();
    }
    let header_timeout = printers.first().map(|p| p.state.header_timeout).unwrap_or_default();
    let names: Vec<String> = printers.iter().map(|p| p.name.clone()).collect();
    tracing::info!(addr = %local, token = auth.token_required(), printers = ?names, "web server listening");
    serve_app(farm_router(printers), listener, header_timeout, cancel).await
}
