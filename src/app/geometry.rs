//! The geometry checks in the daemon, beside the decision stage: per print,
//! the expected print of the printer link's analysis seen through the camera
//! file (`camera.geometry`), and a `decision::GeometryFeed` fed every scored
//! frame — the same feed and checker `eval` runs. A frame's pixels are decoded
//! (`vision::grey_for_checks`, on the blocking pool) only when the checker uses
//! them: the empty-bed reference when printing starts and the first frame of
//! each layer; every other frame costs a status comparison. The findings go
//! back to the decision stage, which hands them to `Decider::geometry` (pure).
//!
//! Also kept here: the expected print over the live frame (`Overlay`: the
//! current layer's outline and the print's region of interest), recomputed when
//! the layer changes, for the dashboard and the alert snapshot; and the checks'
//! numbers for `/api/status` (`GeometryDto`).

use std::sync::Arc;
use std::time::Instant;

use crate::decision::{GeometryChecker, GeometryConfig, GeometryFeed, GeometryFinding};
use crate::domain::{Frame, Overlay, PrinterState, PrinterStatus};
use crate::gcode::Analysis;
use crate::geometry::{Camera, CameraFile, ExpectedPrint, Grey};
use crate::printer::FileAnalysis;
use crate::vision::GreyError;
use crate::web::GeometryDto;

/// The region of interest around the expected print, as a share of its size.
pub const ROI_MARGIN: f64 = 0.15;

/// One print being checked.
struct Print {
    analysis: Arc<Analysis>,
    /// `None` while a frame is being read off the runtime (or after the expected print could not be built).
    feed: Option<GeometryFeed<Frame>>,
}

/// The live checks of one camera. Owned by the decision stage (no locks).
pub struct LiveGeometry {
    camera: Camera,
    cfg: GeometryConfig,
    print: Option<Print>,
    /// The latest frame while not printing: the next print's empty-bed reference (read when it starts).
    idle: Option<Frame>,
    /// A print ended since the feed was built: the next print starts a new one.
    ended: bool,
    overlay: Option<Arc<Overlay>>,
    dto: GeometryDto,
    read_ms_total: f64,
}

impl LiveGeometry {
    /// The checks for the camera of `file` (read from `source`, its path).
    pub fn new(file: &CameraFile, source: &str, cfg: &GeometryConfig) -> LiveGeometry {
        let dto = GeometryDto {
            camera_file: source.to_string(),
            state: if cfg.enabled { "waiting" } else { "off" }.into(),
            ..GeometryDto::default()
        };
        LiveGeometry {
            camera: file.camera(),
            cfg: cfg.clone(),
            print: None,
            idle: None,
            ended: false,
            overlay: None,
            dto,
            read_ms_total: 0.0,
        }
    }

    /// What `/api/status` shows.
    pub fn dto(&self) -> &GeometryDto {
        &self.dto
    }

    /// The expected print over the live frame, while a print with an analysed file runs.
    pub fn overlay(&self) -> Option<Arc<Overlay>> {
        self.overlay.clone()
    }

    /// One scored frame with the status it was judged at and the link's analysis.
    /// `usable`: the decider took the frame as evidence (not dark, not a repeat of the
    /// previous picture, not out of order) — a frozen camera must not look like growth
    /// that stopped. Returns the findings raised on it.
    pub async fn observe(
        &mut self,
        frame: &Frame,
        status: &PrinterStatus,
        linked: Option<&FileAnalysis>,
        usable: bool,
    ) -> Vec<GeometryFinding> {
        if !self.cfg.enabled {
            return vec![];
        }
        self.follow_print(status, linked).await;
        let printing = status.state.is_printing();
        if !printing && usable {
            self.idle = Some(frame.clone());
        }
        self.update_overlay(status);
        let Some(print) = &mut self.print else { return vec![] };
        let Some(feed) = print.feed.as_mut() else { return vec![] };
        if !usable {
            return vec![];
        }
        self.dto.frames += 1;
        let result = if feed.needs_pixels(Some(status)) {
            let Some(mut feed) = print.feed.take() else { return vec![] };
            let (frame, status, camera) = (frame.clone(), status.clone(), (self.camera.width, self.camera.height));
            let joined = tokio::task::spawn_blocking(move || {
                let t0 = Instant::now();
                let mask = feed.checker().frame_size();
                let r = feed.push(frame, Some(&status), |f| crate::vision::grey_for_checks(&f.image, camera, mask));
                (feed, r, t0.elapsed())
            })
            .await;
            match joined {
                Ok((feed, r, took)) => {
                    print.feed = Some(feed);
                    if r.as_ref().is_ok_and(|fed| fed.read > 0) {
                        self.read_ms_total += took.as_secs_f64() * 1000.0;
                    }
                    r
                }
                Err(e) => {
                    tracing::error!(error = %e, "geometry checks failed on a frame: off until the next print");
                    self.dto.last_error = Some(format!("the checks failed: {e}"));
                    return vec![];
                }
            }
        } else {
            // Nothing to read: the feed holds the frame or skips it without calling `read`.
            feed.push(frame.clone(), Some(status), |_| Err::<Grey, _>(GreyError::TooSmall))
        };
        match result {
            Ok(fed) => {
                self.dto.frames_read += u64::from(fed.read);
                if self.dto.frames_read > 0 {
                    self.dto.mean_read_ms = Some((self.read_ms_total / self.dto.frames_read as f64) as f32);
                }
                if let Some(s) = fed.stats {
                    self.dto.judged_layers += 1;
                    self.dto.last_layer = Some(s.layer);
                    self.dto.contrast = Some(s.contrast);
                    self.dto.best_contrast = Some(s.best_contrast);
                    self.dto.band_contrast = Some(s.band_contrast);
                    tracing::debug!(
                        layer = s.layer,
                        expected_px = s.expected_px,
                        contrast = s.contrast,
                        band_contrast = s.band_contrast,
                        best_contrast = s.best_contrast,
                        "geometry: layer change judged"
                    );
                }
                for f in &fed.findings {
                    tracing::warn!(
                        camera = &*frame.source,
                        frame_seq = frame.seq,
                        kind = f.kind.name(),
                        layer = f.layer,
                        bed_x_mm = f.bed_mm[0],
                        bed_y_mm = f.bed_mm[1],
                        bed_z_mm = f.bed_mm[2],
                        region = ?f.region,
                        contrast = f.contrast,
                        best_contrast = f.best_contrast,
                        "geometry finding"
                    );
                }
                self.dto.findings.extend(fed.findings.iter().cloned());
                fed.findings
            }
            Err(e) => {
                self.dto.errors += 1;
                if self.dto.errors == 1 {
                    tracing::warn!(camera = &*frame.source, error = %e, "a frame cannot be read for the geometry checks");
                } else {
                    tracing::debug!(camera = &*frame.source, error = %e, "a frame cannot be read for the geometry checks");
                }
                self.dto.last_error = Some(e.to_string());
                vec![]
            }
        }
    }

    /// Starts a new print's checks when the printing file (or the print) changes.
    async fn follow_print(&mut self, status: &PrinterStatus, linked: Option<&FileAnalysis>) {
        if matches!(status.state, PrinterState::Idle | PrinterState::Finished { .. } | PrinterState::Cancelled { .. }) {
            self.ended = true;
            if self.overlay.take().is_some() {
                self.dto.state = "waiting".into();
            }
        }
        if !status.state.print_running() {
            return;
        }
        let Some(job) = status.state.job() else { return };
        let Some(linked) = linked.filter(|l| l.matches(job)) else { return };
        let same = self.print.as_ref().is_some_and(|p| Arc::ptr_eq(&p.analysis, &linked.analysis));
        if same && !self.ended {
            return;
        }
        self.ended = false;
        let (analysis, camera, cfg) = (linked.analysis.clone(), self.camera.clone(), self.cfg.clone());
        let t0 = Instant::now();
        let built = tokio::task::spawn_blocking(move || {
            ExpectedPrint::new(&analysis, &camera, cfg.mask_width).map(|e| GeometryChecker::new(&cfg, e))
        })
        .await;
        let mut feed = match built {
            Ok(Some(checker)) => GeometryFeed::new(checker),
            Ok(None) => {
                tracing::info!(file = %linked.file, "geometry: the file deposits nothing: no checks for this print");
                self.print = Some(Print { analysis: linked.analysis.clone(), feed: None });
                return;
            }
            Err(e) => {
                tracing::error!(error = %e, "geometry: building the expected print failed");
                self.print = Some(Print { analysis: linked.analysis.clone(), feed: None });
                return;
            }
        };
        if let Some(idle) = self.idle.clone() {
            // Held unread: it becomes the reference when printing starts.
            let _ = feed.push(idle, None, |_| Err::<Grey, _>(GreyError::TooSmall));
        }
        tracing::info!(
            file = %linked.file,
            layers = linked.analysis.layers.len(),
            mask = ?feed.checker().frame_size(),
            took_ms = t0.elapsed().as_secs_f64() * 1000.0,
            "geometry: watching this print against its expected shape"
        );
        self.print = Some(Print { analysis: linked.analysis.clone(), feed: Some(feed) });
        self.overlay = None;
        self.read_ms_total = 0.0;
        self.dto = GeometryDto {
            camera_file: std::mem::take(&mut self.dto.camera_file),
            state: "watching".into(),
            ..GeometryDto::default()
        };
    }

    /// The overlay of the layer printing now, recomputed when the layer changes.
    fn update_overlay(&mut self, status: &PrinterStatus) {
        let Some(feed) = self.print.as_ref().and_then(|p| p.feed.as_ref()) else { return };
        if !status.state.print_running() {
            return;
        }
        let Some(layer) = status.state.job().and_then(|j| j.layer) else { return };
        if self.overlay.as_ref().is_some_and(|o| o.layer == layer) {
            return;
        }
        self.overlay = Some(Arc::new(feed.checker().overlay(layer, ROI_MARGIN)));
    }
}
