//! Read-only handlers: status, health, the live frame, the timeline of the
//! current or a past print, print history, incidents with their alerts, the
//! redacted configuration and alert snapshots.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};

use super::TimelineStep;
use super::server::WebState;
use crate::domain::Timestamp;
use crate::store::{AuditRow, IncidentRow, OutboxRow, PrintRow, SnapshotId, Store, StoreError, TimelinePoint};

/// Most rows any list answers.
const MAX_ROWS: u32 = 500;

/// A JSON error body with `status`.
pub fn error(status: StatusCode, message: impl Into<String>) -> Response {
    (status, Json(serde_json::json!({ "error": message.into() }))).into_response()
}

fn store_error(what: &str, e: &StoreError) -> Response {
    tracing::warn!(what, error = %e, "web: store read failed");
    error(StatusCode::INTERNAL_SERVER_ERROR, format!("cannot read {what} from the store"))
}

pub async fn healthz(State(st): State<WebState>) -> Response {
    let h = st.status.health();
    let code = if h.ok { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    (code, Json(h)).into_response()
}

pub async fn status(State(st): State<WebState>) -> Response {
    Json(st.status.status()).into_response()
}

/// The latest judged frame; `X-Frame-Seq`, `X-Score` and `X-Level` describe it.
pub async fn live(State(st): State<WebState>) -> Response {
    let Some(f) = st.status.live_frames().pop() else {
        return error(StatusCode::NOT_FOUND, "no frame yet");
    };
    let level = serde_json::to_value(f.level).ok().and_then(|v| v.as_str().map(String::from)).unwrap_or_default();
    (
        [
            (header::CONTENT_TYPE, "image/jpeg".to_string()),
            (header::CACHE_CONTROL, "no-store".to_string()),
            (header::HeaderName::from_static("x-frame-seq"), f.seq.to_string()),
            (header::HeaderName::from_static("x-score"), format!("{:.4}", f.smoothed)),
            (header::HeaderName::from_static("x-level"), level),
        ],
        f.jpeg,
    )
        .into_response()
}

/// `GET /api/overlay`: the expected print over the live frame (the current
/// layer's outline as segments and the print's region of interest, in frame
/// pixels); 404 without a calibrated camera or a print.
pub async fn overlay(State(st): State<WebState>) -> Response {
    match st.status.overlay() {
        Some(o) => ([(header::CACHE_CONTROL, "no-store")], Json(o)).into_response(),
        None => error(StatusCode::NOT_FOUND, "no overlay: no calibrated camera (camera.geometry) or no print"),
    }
}

/// One incident with the alerts sent for it.
#[derive(Debug, Serialize)]
pub struct IncidentView {
    #[serde(flatten)]
    pub incident: IncidentRow,
    pub snapshot_url: Option<String>,
    pub alerts: Vec<AlertView>,
}

/// An alert's delivery, without its payload.
#[derive(Debug, Serialize)]
pub struct AlertView {
    pub id: i64,
    pub channel: String,
    pub kind: String,
    pub state: String,
    pub attempts: u32,
    pub last_status: Option<u16>,
    pub last_error: Option<String>,
    pub sent_at: Option<Timestamp>,
    pub created_at: Timestamp,
}

/// A unit enum's serialised name (`sent`, `webhook`…).
pub(super) fn name_of<T: Serialize>(v: &T) -> String {
    serde_json::to_value(v).ok().and_then(|v| v.as_str().map(String::from)).unwrap_or_default()
}

impl From<OutboxRow> for AlertView {
    fn from(o: OutboxRow) -> Self {
        AlertView {
            id: o.id,
            channel: name_of(&o.channel),
            kind: name_of(&o.kind),
            state: name_of(&o.state),
            attempts: o.attempts,
            last_status: o.last_status,
            last_error: o.last_error,
            sent_at: o.sent_at,
            created_at: o.created_at,
        }
    }
}

async fn incident_views(store: &Store, rows: Vec<IncidentRow>) -> Result<Vec<IncidentView>, StoreError> {
    let mut out = Vec::with_capacity(rows.len());
    for incident in rows {
        let alerts = store.alerts_of_incident(incident.id).await?.into_iter().map(AlertView::from).collect();
        let snapshot_url = incident.snapshot_id.as_ref().map(|s| format!("/api/snapshots/{s}.jpg"));
        out.push(IncidentView { incident, snapshot_url, alerts });
    }
    Ok(out)
}

#[derive(Debug, Deserialize)]
pub struct Limit {
    pub limit: Option<u32>,
}

pub async fn incidents(State(st): State<WebState>, Query(q): Query<Limit>) -> Response {
    let Some(store) = &st.store else { return Json(Vec::<IncidentView>::new()).into_response() };
    let limit = q.limit.unwrap_or(50).min(MAX_ROWS);
    let rows = match store.recent_incidents(limit).await {
        Ok(r) => r,
        Err(e) => return store_error("incidents", &e),
    };
    match incident_views(store, rows).await {
        Ok(v) => Json(v).into_response(),
        Err(e) => store_error("alerts", &e),
    }
}

/// One print of the history, with the link to its time-lapse when it has one.
#[derive(Debug, Serialize)]
pub struct PrintView {
    #[serde(flatten)]
    pub print: PrintRow,
    /// `/api/prints/{id}/timelapse.mp4`.
    pub timelapse_url: Option<String>,
}

pub async fn prints(State(st): State<WebState>, Query(q): Query<Limit>) -> Response {
    let Some(store) = &st.store else { return Json(Vec::<PrintView>::new()).into_response() };
    match store.recent_prints(q.limit.unwrap_or(50).min(MAX_ROWS)).await {
        Ok(v) => {
            let lib = st.timelapses.clone();
            // One stat per row, off the runtime.
            let views = tokio::task::spawn_blocking(move || {
                v.into_iter()
                    .map(|print| {
                        let has = lib.as_ref().is_some_and(|l| l.has_video(print.id));
                        PrintView { timelapse_url: has.then(|| crate::timelapse::url_path(print.id)), print }
                    })
                    .collect::<Vec<_>>()
            })
            .await
            .unwrap_or_default();
            Json(views).into_response()
        }
        Err(e) => store_error("prints", &e),
    }
}

/// `GET /api/prints/{id}/timelapse.mp4`: the video, streamed from disk.
pub async fn timelapse(State(st): State<WebState>, Path(id): Path<String>) -> Response {
    let not_found = |why: &str| (StatusCode::NOT_FOUND, format!("{why}\n")).into_response();
    let Ok(id) = id.parse::<i64>() else { return not_found("no such print") };
    let Some(lib) = &st.timelapses else { return not_found("time-lapses are off ([timelapse] enabled = false)") };
    let path = lib.video(id);
    let file = match tokio::fs::File::open(&path).await {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return not_found("no time-lapse for this print (not ended yet, no frames, or removed by retention)");
        }
        Err(e) => {
            tracing::warn!(video = %path.display(), error = %e, "cannot open a time-lapse");
            return (StatusCode::INTERNAL_SERVER_ERROR, "cannot read the time-lapse\n").into_response();
        }
    };
    let len = file.metadata().await.map(|m| m.len()).ok();
    let body = axum::body::Body::from_stream(tokio_util::io::ReaderStream::new(file));
    let mut r = ([(header::CONTENT_TYPE, "video/mp4"), (header::CACHE_CONTROL, "private, max-age=86400")], body)
        .into_response();
    if let Some(len) = len {
        r.headers_mut().insert(header::CONTENT_LENGTH, len.into());
    }
    r
}

/// Everything the timeline chart draws for one print.
#[derive(Debug, Serialize)]
pub struct TimelineView {
    pub print: Option<PrintRow>,
    /// Per-frame steps kept in memory (the current print only).
    pub steps: Vec<TimelineStep>,
    /// The stored, downsampled timeline (also for past prints).
    pub points: Vec<TimelinePoint>,
    pub incidents: Vec<IncidentView>,
    /// Printer commands (pause, resume…) during the print.
    pub actions: Vec<AuditRow>,
    /// Effective levels now (the chart's reference lines).
    pub warning_level: Option<f32>,
    pub pause_level: Option<f32>,
}

async fn timeline_of(st: &WebState, print: Option<PrintRow>, live: bool) -> Result<TimelineView, StoreError> {
    let since = print.as_ref().map(|p| p.started_at);
    let until = print.as_ref().and_then(|p| p.ended_at);
    let in_print = |t: Timestamp| since.is_none_or(|s| t >= s) && until.is_none_or(|u| t <= u);
    let steps = if live { st.status.recent_steps().into_iter().filter(|s| in_print(s.at)).collect() } else { vec![] };
    let (mut points, mut incidents, mut actions) = (vec![], vec![], vec![]);
    if let Some(store) = &st.store {
        if let Some(p) = &print {
            points = store.timeline_of_print(p.id).await?;
            incidents = incident_views(store, store.incidents_of_print(p.id).await?).await?;
        }
        actions = store.audit_log(MAX_ROWS).await?.into_iter().filter(|a| in_print(a.entry.at)).collect();
        actions.sort_by_key(|a| a.entry.at);
    }
    let d = st.status.status().decision;
    Ok(TimelineView {
        print,
        steps,
        points,
        incidents,
        actions,
        warning_level: d.as_ref().and_then(|d| d.warning_level),
        pause_level: d.as_ref().and_then(|d| d.pause_level),
    })
}

/// The current print (the newest unfinished one, else the newest).
pub async fn timeline(State(st): State<WebState>) -> Response {
    let print = match &st.store {
        None => None,
        Some(store) => match store.unfinished_print().await {
            Ok(Some(p)) => Some(p),
            Ok(None) => match store.recent_prints(1).await {
                Ok(mut v) => v.pop(),
                Err(e) => return store_error("prints", &e),
            },
            Err(e) => return store_error("prints", &e),
        },
    };
    match timeline_of(&st, print, true).await {
        Ok(v) => Json(v).into_response(),
        Err(e) => store_error("the timeline", &e),
    }
}

pub async fn print_timeline(State(st): State<WebState>, Path(id): Path<String>) -> Response {
    let Ok(id) = id.parse::<i64>() else {
        return error(StatusCode::BAD_REQUEST, format!("print id {id:?} is not a number"));
    };
    let Some(store) = &st.store else { return error(StatusCode::NOT_FOUND, format!("no print {id}")) };
    let print = match store.print(id).await {
        Ok(Some(p)) => p,
        Ok(None) => return error(StatusCode::NOT_FOUND, format!("no print {id}")),
        Err(e) => return store_error("prints", &e),
    };
    let live = print.ended_at.is_none();
    match timeline_of(&st, Some(print), live).await {
        Ok(v) => Json(v).into_response(),
        Err(e) => store_error("the timeline", &e),
    }
}

/// The effective configuration, secrets redacted.
pub async fn config(State(st): State<WebState>) -> Response {
    Json(serde_json::json!({ "config": &*st.config, "roi": st.roi })).into_response()
}

pub async fn snapshot(State(st): State<WebState>, Path(file): Path<String>) -> Response {
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
