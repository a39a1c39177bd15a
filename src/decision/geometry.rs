//! Geometry checks: the frame against what the G-code says should be on the
//! bed by now, through the calibrated camera. Pure; the daemon and `eval`
//! run the same [`GeometryChecker`].
//!
//! Inputs per frame: a downscaled grey frame ([`Grey`], the mask's size), the
//! printer state and layer. Before printing starts the latest frame is the
//! **empty-bed reference** (the first printing frame when there was none).
//! Frames are judged only at layer changes (the first frame of each new layer,
//! the per-layer reference): when layer `N` starts, layers `0..N` are done, so
//! the expected mask is that of layer `N − 1`.
//!
//! A pixel **shows material** when its grey level, after matching the frame's
//! brightness to the reference (the ratio of the medians of the pixels where
//! no material is expected, so a lamp turning on or off does not count),
//! differs from the reference by more than `diff_level`. The share of expected
//! pixels that show material is the print's **contrast**; its best value so
//! far is the yardstick for the checks (a grey part on a grey bed has little
//! contrast, and the checks say nothing until `min_contrast` is reached):
//!
//! - `missing_material` (detached, knocked off, air printing): the contrast
//!   over everything expected falls below `missing_ratio` × best;
//! - `growth_stopped` (clog, air printing): the pixels added by the last
//!   `growth_layers` layers show material less than `growth_ratio` × best,
//!   while the rest is still there;
//! - `silhouette_offset` (layer shift): for some shift of up to
//!   `shift_search_mm` on the bed, the latest layers moved by that shift land on
//!   material where none is expected (≥ `shift_ratio` × best), and the place
//!   they left is empty (≤ `growth_ratio` × best).
//!
//! A finding is raised once `persist_layers` consecutive layer changes agree,
//! with its kind, where it is on the bed (mm), and its region in the frame.

use serde::{Deserialize, Serialize};

use super::calibration::ClassAction;
use crate::config_issues::Issues;
pub use crate::domain::{GeometryFinding, GeometryKind};
use crate::domain::{Overlay, PrinterStatus};
use crate::geometry::{ExpectedPrint, Grey, NEVER};

/// `[decision.geometry]`: thresholds of the geometry checks.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GeometryConfig {
    /// Run the checks where the camera is calibrated (`camera.geometry`).
    pub enabled: bool,
    /// What a finding does in the daemon: `pause` (a failure: the configured action),
    /// `warn` (a warning only) or `ignore` (shown on the dashboard, no incident).
    pub action: ClassAction,
    /// Width of the grey frame and the mask the checks compare (pixels).
    pub mask_width: u32,
    /// Grey levels (0..255) a pixel must differ from the empty-bed reference by to show material.
    pub diff_level: f32,
    /// Fewest mask pixels a region needs to be judged.
    pub min_pixels: u32,
    /// Layers not judged at the start of a print.
    pub warmup_layers: u32,
    /// The print must have shown at least this contrast (share of expected pixels showing material).
    pub min_contrast: f32,
    /// `missing_material` below this fraction of the best contrast.
    pub missing_ratio: f32,
    /// `growth_stopped` below this fraction of the best contrast, over the last `growth_layers` layers.
    pub growth_ratio: f32,
    pub growth_layers: u32,
    /// `silhouette_offset`: shifts searched (mm), the smallest one reported, and the contrast the moved layers need.
    pub shift_search_mm: f32,
    pub shift_min_mm: f32,
    pub shift_ratio: f32,
    /// Consecutive layer changes that must agree before a finding is raised.
    pub persist_layers: u32,
}

impl Default for GeometryConfig {
    fn default() -> Self {
        GeometryConfig {
            enabled: true,
            action: ClassAction::Warn,
            mask_width: 160,
            diff_level: 24.0,
            min_pixels: 24,
            warmup_layers: 3,
            min_contrast: 0.3,
            missing_ratio: 0.4,
            growth_ratio: 0.4,
            growth_layers: 4,
            shift_search_mm: 10.0,
            shift_min_mm: 2.0,
            shift_ratio: 0.7,
            persist_layers: 2,
        }
    }
}

impl GeometryConfig {
    pub fn validate(&self, p: &str, out: &mut Issues) {
        out.range(format!("{p}.mask_width"), self.mask_width, 32, 1280);
        out.range(format!("{p}.diff_level"), self.diff_level, 1.0, 200.0);
        out.range(format!("{p}.min_pixels"), self.min_pixels, 1, 100_000);
        out.range(format!("{p}.warmup_layers"), self.warmup_layers, 1, 10_000);
        for (k, v) in [
            ("min_contrast", self.min_contrast),
            ("missing_ratio", self.missing_ratio),
            ("growth_ratio", self.growth_ratio),
            ("shift_ratio", self.shift_ratio),
        ] {
            out.range(format!("{p}.{k}"), v, 0.01, 1.0);
        }
        out.range(format!("{p}.growth_layers"), self.growth_layers, 1, 1000);
        out.range(format!("{p}.shift_search_mm"), self.shift_search_mm, 0.5, 100.0);
        out.range(format!("{p}.shift_min_mm"), self.shift_min_mm, 0.1, 100.0);
        out.range(format!("{p}.persist_layers"), self.persist_layers, 1, 100);
    }
}

/// The numbers of one judged frame (for timelines and tests).
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize)]
pub struct GeometryStats {
    pub layer: u32,
    pub expected_px: u32,
    pub contrast: f32,
    pub band_px: u32,
    pub band_contrast: f32,
    pub best_contrast: f32,
    /// Best shift candidate: (dx, dy) mm, contrast where the layers moved to, contrast where they left.
    pub shift: Option<([f32; 2], f32, f32)>,
}

/// The checks for one print seen by one calibrated camera.
#[derive(Debug, Clone)]
pub struct GeometryChecker {
    cfg: GeometryConfig,
    expected: ExpectedPrint,
    empty: Option<Grey>,
    last_layer: Option<u32>,
    best: f32,
    streak: [u32; 3],
    raised: [bool; 3],
}

impl GeometryChecker {
    pub fn new(cfg: &GeometryConfig, expected: ExpectedPrint) -> GeometryChecker {
        GeometryChecker {
            cfg: cfg.clone(),
            expected,
            empty: None,
            last_layer: None,
            best: 0.0,
            streak: [0; 3],
            raised: [false; 3],
        }
    }

    /// The grey frame size the checker wants.
    pub fn frame_size(&self) -> (u32, u32) {
        (self.expected.width(), self.expected.height())
    }

    pub fn expected(&self) -> &ExpectedPrint {
        &self.expected
    }

    /// Whether [`observe`](Self::observe) would read a printing frame at `layer`: the
    /// first frame of each new layer (and the first printing frame when there is no
    /// reference yet). Every other printing frame can be skipped without decoding it.
    pub fn wants(&self, printing: bool, layer: Option<u32>) -> bool {
        self.cfg.enabled && printing && layer.is_some() && (self.empty.is_none() || self.last_layer != layer)
    }

    /// Whether the empty-bed reference is taken.
    pub fn has_reference(&self) -> bool {
        self.empty.is_some()
    }

    /// What the camera should see while layer `layer` (0-based) prints: that
    /// layer's top outline and the region of everything expected by then, grown
    /// by `margin` (a share of its size), in full-frame pixels.
    pub fn overlay(&self, layer: u32, margin: f64) -> Overlay {
        let e = &self.expected;
        let layer = layer.min(e.layer_count().saturating_sub(1));
        let outline: Vec<[[f32; 2]; 2]> = e
            .layer_outline(layer)
            .into_iter()
            .map(|[a, b]| [[a[0] as f32, a[1] as f32], [b[0] as f32, b[1] as f32]])
            .collect();
        let (w, h) = e.frame_size();
        Overlay { layer, width: w, height: h, roi: e.column_roi(layer, margin), outline }
    }

    /// One frame. Returns the findings raised by it and, when it was judged, its numbers.
    pub fn observe(
        &mut self,
        frame: &Grey,
        printing: bool,
        layer: Option<u32>,
    ) -> (Vec<GeometryFinding>, Option<GeometryStats>) {
        if (frame.width, frame.height) != self.frame_size() || !self.cfg.enabled {
            return (vec![], None);
        }
        if !printing {
            if self.last_layer.is_none() {
                self.empty = Some(frame.clone());
            }
            return (vec![], None);
        }
        let Some(layer) = layer else { return (vec![], None) };
        if self.empty.is_none() {
            self.empty = Some(frame.clone());
        }
        if self.last_layer == Some(layer) {
            return (vec![], None);
        }
        self.last_layer = Some(layer);
        if layer < self.cfg.warmup_layers.max(1) {
            return (vec![], None);
        }
        let done = layer - 1;
        self.expected.advance_to(done);
        let stats = self.measure(frame, done);
        let mut raised = vec![];
        let best = stats.best_contrast;
        let judged = best >= self.cfg.min_contrast;
        let missing =
            judged && stats.expected_px >= self.cfg.min_pixels && stats.contrast < self.cfg.missing_ratio * best;
        let offset = judged
            && !missing
            && stats.shift.is_some_and(|(_, moved, left)| {
                moved >= self.cfg.shift_ratio * best && left <= self.cfg.growth_ratio * best
            });
        let growth = judged
            && !missing
            && !offset
            && stats.band_px >= self.cfg.min_pixels
            && stats.band_contrast < self.cfg.growth_ratio * best;
        for (k, hit) in [missing, growth, offset].into_iter().enumerate() {
            self.streak[k] = if hit { self.streak[k] + 1 } else { 0 };
            if hit && !self.raised[k] && self.streak[k] >= self.cfg.persist_layers {
                self.raised[k] = true;
                raised.push(self.finding(GeometryKind::ALL[k], layer, done, &stats));
            }
        }
        (raised, Some(stats))
    }

    /// Contrast over everything expected, over the latest layers, and the best shift.
    fn measure(&mut self, frame: &Grey, done: u32) -> GeometryStats {
        let Some(empty) = &self.empty else { return GeometryStats::default() };
        let first = self.expected.first_layer();
        let band_from = done.saturating_sub(self.cfg.growth_layers - 1);
        let gain = brightness_ratio(empty, frame, first);
        let changed: Vec<bool> = frame
            .data
            .iter()
            .zip(&empty.data)
            .map(|(c, r)| (f32::from(*c) * gain - f32::from(*r)).abs() > self.cfg.diff_level)
            .collect();
        let (mut n_all, mut c_all, mut n_band, mut c_band) = (0u32, 0u32, 0u32, 0u32);
        for (f, ch) in first.iter().zip(&changed) {
            if *f <= done {
                n_all += 1;
                c_all += u32::from(*ch);
                if *f >= band_from {
                    n_band += 1;
                    c_band += u32::from(*ch);
                }
            }
        }
        let share = |c: u32, n: u32| if n == 0 { 0.0 } else { c as f32 / n as f32 };
        let contrast = share(c_all, n_all);
        if n_all >= self.cfg.min_pixels {
            self.best = self.best.max(contrast);
        }
        let shift = if n_band >= self.cfg.min_pixels { self.best_shift(&changed, done, band_from) } else { None };
        GeometryStats {
            layer: done + 1,
            expected_px: n_all,
            contrast,
            band_px: n_band,
            band_contrast: share(c_band, n_band),
            best_contrast: self.best,
            shift,
        }
    }

    /// The bed shift that best explains material outside the mask by the latest layers having moved.
    fn best_shift(&self, changed: &[bool], done: u32, band_from: u32) -> Option<([f32; 2], f32, f32)> {
        let e = &self.expected;
        let (w, h) = (e.width() as i64, e.height() as i64);
        let first = e.first_layer();
        let band: Vec<usize> = (0..first.len()).filter(|&i| first[i] <= done && first[i] >= band_from).collect();
        let centre = e.centroid_mm(band_from, done)?;
        let c0 = e.camera().project(centre)?;
        let expected_near = |x: i64, y: i64| {
            (-1..=1).any(|dy| {
                (-1..=1).any(|dx| {
                    let (xx, yy) = (x + dx, y + dy);
                    xx >= 0 && yy >= 0 && xx < w && yy < h && first[(yy * w + xx) as usize] <= done
                })
            })
        };
        let in_band = |x: i64, y: i64| {
            x >= 0 && y >= 0 && x < w && y < h && {
                let f = first[(y * w + x) as usize];
                f <= done && f >= band_from
            }
        };
        let step = 1.0f64;
        let n = (f64::from(self.cfg.shift_search_mm) / step).floor() as i32;
        let min_px = (self.cfg.min_pixels / 3).max(1);
        let mut best: Option<([f32; 2], f32, f32, f32)> = None;
        for iy in -n..=n {
            for ix in -n..=n {
                let (dx, dy) = (f64::from(ix) * step, f64::from(iy) * step);
                if dx.hypot(dy) < f64::from(self.cfg.shift_min_mm) || dx.hypot(dy) > f64::from(self.cfg.shift_search_mm)
                {
                    continue;
                }
                let Some(c1) = e.camera().project([centre[0] + dx, centre[1] + dy, centre[2]]) else { continue };
                let (du, dv) = ((c1[0] - c0[0]).round() as i64, (c1[1] - c0[1]).round() as i64);
                if du == 0 && dv == 0 {
                    continue;
                }
                let (mut n_out, mut c_out, mut n_left, mut c_left) = (0u32, 0u32, 0u32, 0u32);
                for &i in &band {
                    let (x, y) = ((i as i64) % w, (i as i64) / w);
                    let (mx, my) = (x + du, y + dv);
                    if mx >= 0 && my >= 0 && mx < w && my < h && !expected_near(mx, my) {
                        n_out += 1;
                        c_out += u32::from(changed[(my * w + mx) as usize]);
                    }
                    if !in_band(x - du, y - dv) {
                        n_left += 1;
                        c_left += u32::from(changed[i]);
                    }
                }
                if n_out < min_px || n_left < min_px {
                    continue;
                }
                let (moved, left) = (c_out as f32 / n_out as f32, c_left as f32 / n_left as f32);
                let score = moved - left;
                if best.is_none_or(|b| score > b.3) {
                    best = Some(([dx as f32, dy as f32], moved, left, score));
                }
            }
        }
        best.map(|(d, m, l, _)| (d, m, l))
    }

    fn finding(&self, kind: GeometryKind, layer: u32, done: u32, stats: &GeometryStats) -> GeometryFinding {
        let e = &self.expected;
        let from = match kind {
            GeometryKind::MissingMaterial => 0,
            _ => done.saturating_sub(self.cfg.growth_layers - 1),
        };
        let first = e.first_layer();
        let region = e.frame_region((0..first.len()).filter(|&i| first[i] <= done && first[i] >= from));
        let c = e.centroid_mm(from, done).unwrap_or([0.0; 3]);
        let offset = (kind == GeometryKind::SilhouetteOffset).then(|| stats.shift.map(|s| s.0)).flatten();
        let moved = offset.unwrap_or([0.0, 0.0]);
        let (contrast, region) = match kind {
            GeometryKind::MissingMaterial => (stats.contrast, region),
            GeometryKind::GrowthStopped => (stats.band_contrast, region),
            GeometryKind::SilhouetteOffset => (stats.shift.map_or(0.0, |s| s.1), region),
        };
        GeometryFinding {
            kind,
            layer,
            bed_mm: [c[0] as f32 + moved[0], c[1] as f32 + moved[1], c[2] as f32],
            region,
            contrast,
            best_contrast: stats.best_contrast,
            offset_mm: offset,
        }
    }
}

/// The checker's inputs from the printer status in force: printing, and the 0-based layer.
/// The daemon and `eval` read the status the same way.
pub fn checker_inputs(status: Option<&PrinterStatus>) -> (bool, Option<u32>) {
    let printing = status.is_some_and(|s| s.state.is_printing());
    (printing, status.and_then(|s| s.state.job()).and_then(|j| j.layer))
}

/// What one frame fed to a [`GeometryFeed`] gave.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Fed {
    pub findings: Vec<GeometryFinding>,
    /// The numbers of the frame, when it was judged (a layer change).
    pub stats: Option<GeometryStats>,
    /// Frames whose pixels were read for it (0, 1, or 2 with the held reference).
    pub read: u32,
}

/// A [`GeometryChecker`] fed frames whose pixels are read only when it uses
/// them: the latest frame before printing is held unread (`F` is a cheap handle:
/// a JPEG in memory, a file path) and read as the empty-bed reference when
/// printing starts; of the printing frames only the first of each layer is read.
/// So a frame costs nothing but at layer changes. The daemon (`app`) and `eval`
/// both feed their checker through this.
#[derive(Debug, Clone)]
pub struct GeometryFeed<F> {
    checker: GeometryChecker,
    idle: Option<F>,
}

impl<F> GeometryFeed<F> {
    pub fn new(checker: GeometryChecker) -> Self {
        GeometryFeed { checker, idle: None }
    }

    pub fn checker(&self) -> &GeometryChecker {
        &self.checker
    }

    /// Whether [`push`](Self::push) with this status would read pixels (so the
    /// caller can read them off its hot path, or skip the work).
    pub fn needs_pixels(&self, status: Option<&PrinterStatus>) -> bool {
        let (printing, layer) = checker_inputs(status);
        self.checker.wants(printing, layer)
    }

    /// One frame with the printer status in force; `read` turns a frame into the
    /// checker's grey image (of [`GeometryChecker::frame_size`]).
    pub fn push<E>(
        &mut self,
        frame: F,
        status: Option<&PrinterStatus>,
        mut read: impl FnMut(&F) -> Result<Grey, E>,
    ) -> Result<Fed, E> {
        let (printing, layer) = checker_inputs(status);
        let mut out = Fed::default();
        if !printing {
            self.idle = Some(frame);
            return Ok(out);
        }
        if !self.checker.wants(printing, layer) {
            return Ok(out);
        }
        if !self.checker.has_reference()
            && let Some(idle) = self.idle.take()
        {
            let grey = read(&idle)?;
            out.read += 1;
            self.checker.observe(&grey, false, None);
        }
        let grey = read(&frame)?;
        out.read += 1;
        let (findings, stats) = self.checker.observe(&grey, printing, layer);
        out.findings = findings;
        out.stats = stats;
        Ok(out)
    }
}

/// How much brighter the reference is than the frame: the median of the
/// per-pixel ratios where no material is expected (robust to a toolhead in
/// view and to a picture that is half bright wall, half dark bed); 1 when unknown.
fn brightness_ratio(reference: &Grey, frame: &Grey, first: &[u32]) -> f32 {
    let mut ratios: Vec<f32> = first
        .iter()
        .zip(reference.data.iter().zip(&frame.data))
        .filter(|(f, (r, c))| **f == NEVER && **r >= 16 && **c >= 16)
        .map(|(_, (r, c))| f32::from(*r) / f32::from(*c))
        .collect();
    if ratios.is_empty() {
        return 1.0;
    }
    let mid = ratios.len() / 2;
    let (_, m, _) = ratios.select_nth_unstable_by(mid, f32::total_cmp);
    *m
}
