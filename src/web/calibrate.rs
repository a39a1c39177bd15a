//! Calibrating the camera on the dashboard (`/calibrate`): the user clicks the
//! bed's corners and the nozzle tip at two heights on a live frame, the page
//! posts the points, and the server solves them with the same solver, limits
//! and load checks as `layerwatch calibrate solve` (`geometry`). `solve`
//! answers the fit; `save` also writes the camera file to `[camera] geometry`
//! (atomically; the daemon reads it at start, so a restart uses it).

#![allow(clippy::result_large_err)]

use axum::Extension;
use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};

use super::auth::Access;
use super::read::error;
use super::server::WebState;
use crate::geometry::{
    BedArea, CameraFile, Correspondence, DEFAULT_MAX_RMS_MM, DEFAULT_MAX_RMS_PX, Ransac, solve_pose,
};

const PAGE: &str = include_str!("assets/calibrate.html");
/// More points than anyone clicks; bounds the solver's work per request.
const MAX_POINTS: usize = 200;

/// What the page posts.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SolveRequest {
    /// The frame the pixels refer to (the live image's natural size).
    pub frame_size: [u32; 2],
    pub bed: BedArea,
    pub points: Vec<PointIn>,
    /// Fit with RANSAC and leave outliers out.
    #[serde(default)]
    pub ransac: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PointIn {
    pub bed_mm: [f64; 3],
    pub px: [f64; 2],
}

/// The fit, point by point and overall, and whether it may be written.
#[derive(Debug, Serialize)]
pub struct SolveReply {
    pub accepted: bool,
    /// Why not, in plain words.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refused: Option<String>,
    pub rms_px: f64,
    pub max_px: f64,
    pub rms_mm: f64,
    pub max_mm: f64,
    pub residual_px: Vec<f64>,
    pub residual_mm: Vec<f64>,
    pub inliers: Vec<bool>,
    pub distortion_estimated: bool,
    pub camera_center_mm: [f64; 3],
    /// The camera file, when accepted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub camera_toml: Option<String>,
    /// Where `save` wrote it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub written: Option<String>,
}

pub async fn page(State(st): State<WebState>, Extension(access): Extension<Access>) -> Response {
    let csrf = st.auth.csrf_for(&access);
    let name = super::pages::escape(&st.status.status().name);
    let target = geometry_path(&st).unwrap_or_else(|| "[camera] geometry (not set)".into());
    super::pages::html(
        PAGE.replace("__CSRF__", &csrf)
            .replace("__NAME__", &name)
            .replace("__TARGET__", &super::pages::escape(&target)),
    )
}

pub async fn solve(State(_st): State<WebState>, body: Bytes) -> Response {
    match fit(&body) {
        Ok(r) => Json(r).into_response(),
        Err(e) => e,
    }
}

pub async fn save(State(st): State<WebState>, Extension(access): Extension<Access>, body: Bytes) -> Response {
    let Some(path) = geometry_path(&st) else {
        return error(
            StatusCode::CONFLICT,
            "no camera file is configured: set [camera] geometry = \"cameras/<printer>.toml\", restart, then save \
             (or copy the camera file shown here to that path)",
        );
    };
    let mut reply = match fit(&body) {
        Ok(r) => r,
        Err(e) => return e,
    };
    let Some(text) = reply.camera_toml.clone().filter(|_| reply.accepted) else {
        return (StatusCode::UNPROCESSABLE_ENTITY, Json(reply)).into_response();
    };
    let write = {
        let path = std::path::PathBuf::from(&path);
        tokio::task::spawn_blocking(move || write_atomic(&path, text.as_bytes())).await
    };
    match write {
        Ok(Ok(())) => {
            tracing::info!(path = %path, who = access.who(), rms_px = reply.rms_px, "camera file written from the dashboard");
            reply.written = Some(path);
            Json(reply).into_response()
        }
        Ok(Err(e)) => {
            tracing::warn!(path = %path, error = %e, "cannot write the camera file");
            error(StatusCode::INTERNAL_SERVER_ERROR, format!("cannot write {path}: {e}"))
        }
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, format!("cannot write {path}: {e}")),
    }
}

/// `[camera] geometry` from the effective configuration (already resolved to the config file's folder).
fn geometry_path(st: &WebState) -> Option<String> {
    st.config.pointer("/camera/geometry").and_then(|v| v.as_str()).filter(|s| !s.is_empty()).map(String::from)
}

fn fit(body: &[u8]) -> Result<SolveReply, Response> {
    let req: SolveRequest =
        serde_json::from_slice(body).map_err(|e| error(StatusCode::BAD_REQUEST, format!("request body: {e}")))?;
    let [w, h] = req.frame_size;
    if !(16..=20_000).contains(&w) || !(16..=20_000).contains(&h) {
        return Err(error(StatusCode::BAD_REQUEST, format!("frame_size: {w}x{h} is not a camera frame")));
    }
    if req.points.len() > MAX_POINTS {
        return Err(error(
            StatusCode::BAD_REQUEST,
            format!("points: {} given, at most {MAX_POINTS}", req.points.len()),
        ));
    }
    let corr: Vec<Correspondence> = req.points.iter().map(|p| Correspondence { bed: p.bed_mm, px: p.px }).collect();
    let ransac = req.ransac.then_some(Ransac { iterations: 500, inlier_px: 4.0, seed: 1 });
    let sol = solve_pose(&corr, w, h, ransac).map_err(|e| error(StatusCode::UNPROCESSABLE_ENTITY, e.to_string()))?;
    let mut refused = None;
    if sol.rms_px > DEFAULT_MAX_RMS_PX || sol.rms_mm > DEFAULT_MAX_RMS_MM {
        refused = Some(format!(
            "the fit is poor (RMS {:.2} px, limit {DEFAULT_MAX_RMS_PX}; {:.2} mm on the bed, limit {DEFAULT_MAX_RMS_MM}): \
             check the clicks and the points' millimetres",
            sol.rms_px, sol.rms_mm
        ));
    }
    let mut camera_toml = None;
    if refused.is_none() {
        let method = if req.ransac { "dashboard: dlt+lm+ransac" } else { "dashboard: dlt+lm" };
        let text = CameraFile::new(&sol.camera, req.bed, Some(sol.fit(method)))
            .to_toml_string()
            .map_err(|e| error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
        // The checks a camera file meets at load: a camera that does not see the bed is refused.
        match CameraFile::parse(&text, "the solved camera") {
            Ok(_) => camera_toml = Some(text),
            Err(e) => refused = Some(e.to_string()),
        }
    }
    Ok(SolveReply {
        accepted: refused.is_none(),
        refused,
        rms_px: sol.rms_px,
        max_px: sol.max_px,
        rms_mm: sol.rms_mm,
        max_mm: sol.max_mm,
        residual_px: sol.residual_px.clone(),
        residual_mm: sol.residual_mm.clone(),
        inliers: sol.inliers.clone(),
        distortion_estimated: sol.distortion_estimated,
        camera_center_mm: sol.camera.center(),
        camera_toml,
        written: None,
    })
}

/// Writes `bytes` next to `path` and renames it over: a reader sees the old file or the new one.
fn write_atomic(path: &std::path::Path, bytes: &[u8]) -> std::io::Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    let tmp = path.with_extension("toml.tmp");
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, path)
}
