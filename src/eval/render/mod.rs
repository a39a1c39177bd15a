//! `layerwatch dataset render`: a recorded sequence (format b) drawn from a
//! G-code file, a calibrated camera and a background photo — the honest
//! stand-in for videos with matching G-code, which cannot be fetched here.
//!
//! Each frame: the background, the layers printed so far as shaded boxes (the
//! analysis' footprint cells, lit from above), the toolhead at the nozzle
//! (over the current layer's cells, in a seeded order), a lighting gain that
//! drifts and flickers (and optionally steps: a lamp switched, with a
//! gradient), sensor noise and JPEG. A failure can be injected from an onset
//! layer: the part removed, growth stopping, or a layer shift. Written:
//! `frames/`, `frames/frames.csv` (with `layer`, `failure` and `effects`),
//! `printer.jsonl` (from [`PrintPlan`], one status per frame), the G-code,
//! `camera.toml` and `manifest.toml` (`synthetic = true`, every parameter in
//! `[generator]`). Seeded: the same inputs give the same bytes.

pub mod raster;

use std::path::{Path, PathBuf};

use self::raster::{Block, Canvas};
use super::dataset::manifest::{Manifest, Provenance, SequenceLabel, write_atomic};
use super::dataset::sequence::PRINTER_JSONL;
use super::error::EvalError;
use super::synth::effects;
use super::synth::printer::PrintPlan;
use super::synth::rng::Rng;
use crate::domain::Timestamp;
use crate::gcode::Analysis;
use crate::geometry::{Camera, CameraFile};

/// The failures a render can inject.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum RenderFailure {
    /// The part disappears from the bed (knocked off, detached); printing goes on in the air.
    PartRemoved,
    /// No material is added from the onset layer on (clog, runout) while layers advance.
    GrowthStopped,
    /// Layers from the onset on are offset on the bed by `shift_mm`.
    LayerShift,
}

impl RenderFailure {
    pub fn label(self) -> &'static str {
        match self {
            RenderFailure::PartRemoved => "part_removed",
            RenderFailure::GrowthStopped => "growth_stopped",
            RenderFailure::LayerShift => "layer_shift",
        }
    }
}

/// What to draw.
#[derive(Debug, Clone)]
pub struct RenderOptions {
    pub gcode: PathBuf,
    /// The camera file (`cameras/<printer>.toml`); its frame size is the render's.
    pub camera: PathBuf,
    /// Any picture; stretched to the frame size.
    pub background: PathBuf,
    pub out: PathBuf,
    pub name: String,
    pub frames: usize,
    pub interval_ms: u64,
    /// Frames before printing starts (printer `heating`, empty bed, toolhead parked).
    pub heat_frames: usize,
    pub failure: Option<RenderFailure>,
    /// Onset as a share of the print's layers (0..1).
    pub onset: f64,
    pub shift_mm: [f64; 2],
    /// Lighting: slow drift amplitude, per-frame flicker (share of brightness).
    pub drift: f64,
    pub flicker: f64,
    /// A lamp switched at this share of the sequence: gain × `lamp_gain` and a left–right gradient.
    pub lamp_change_at: Option<f64>,
    pub lamp_gain: f64,
    /// Sensor noise (grey levels, standard deviation).
    pub noise: f64,
    /// The first frame of each layer shows the toolhead parked (a park move at layer change, as
    /// Octolapse does), so the per-layer reference sees the print unobstructed.
    pub park_at_layer_change: bool,
    pub jpeg_quality: i32,
    /// Filament colour, BGR.
    pub filament_bgr: [u8; 3],
    pub seed: u64,
    /// The command line, for the manifest.
    pub command: String,
}

impl RenderOptions {
    pub fn new(gcode: PathBuf, camera: PathBuf, background: PathBuf, out: PathBuf) -> RenderOptions {
        RenderOptions {
            gcode,
            camera,
            background,
            out,
            name: "render".into(),
            frames: 120,
            interval_ms: 2000,
            heat_frames: 3,
            failure: None,
            onset: 0.5,
            shift_mm: [6.0, 0.0],
            drift: 0.06,
            flicker: 0.015,
            lamp_change_at: None,
            lamp_gain: 0.7,
            noise: 3.0,
            park_at_layer_change: false,
            jpeg_quality: 88,
            filament_bgr: [40, 120, 230],
            seed: 1,
            command: String::new(),
        }
    }
}

/// What was written.
#[derive(Debug, Clone, PartialEq)]
pub struct RenderSummary {
    pub dir: PathBuf,
    pub frames: usize,
    pub layers: u32,
    /// The first frame showing the failure, and its layer.
    pub onset_frame: Option<usize>,
    pub onset_layer: Option<u32>,
}

const CAMERA_FILE: &str = "camera.toml";

/// Renders the sequence into `opts.out`.
pub fn render(opts: &RenderOptions) -> Result<RenderSummary, EvalError> {
    if opts.frames < 4
        || opts.interval_ms == 0
        || opts.heat_frames + 2 > opts.frames
        || !(0.0..=1.0).contains(&opts.onset)
    {
        return Err(EvalError::invalid(
            "render",
            "need at least 4 frames, a positive interval, fewer heating frames than frames, and 0 <= onset <= 1",
        ));
    }
    let cam_text = std::fs::read_to_string(&opts.camera).map_err(|e| EvalError::io(&opts.camera, e))?;
    let cam_file = CameraFile::parse(&cam_text, &opts.camera.display().to_string())
        .map_err(|e| EvalError::invalid("camera", e.to_string()))?;
    let cam = cam_file.camera();
    let analysis = crate::gcode::analyze_file(&opts.gcode)?;
    let gname =
        opts.gcode.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "print.gcode".into());
    let plan = PrintPlan::new(&analysis, &gname)
        .ok_or_else(|| EvalError::dataset(&opts.gcode, "the g-code file has no printed layers"))?;
    let grid = analysis.grid.ok_or_else(|| EvalError::dataset(&opts.gcode, "the g-code file deposits nothing"))?;
    let (w, h) = (cam.width, cam.height);
    let bg = effects::read(&opts.background).map_err(|e| EvalError::format(&opts.background, None, e))?;
    let bg = effects::resize(&bg, w as i32, h as i32).map_err(|e| EvalError::invalid("render", e))?;
    let bg_bytes = mat_bytes(&bg).map_err(|e| EvalError::invalid("render", e))?;

    let dir = &opts.out;
    std::fs::create_dir_all(dir.join("frames")).map_err(|e| EvalError::io(dir, e))?;
    let n_layers = plan.layer_count();
    let onset_layer = opts.failure.map(|_| ((opts.onset * f64::from(n_layers)).round() as u32).clamp(1, n_layers - 1));
    let start_ms: i64 = 1_767_225_600_000;
    let interval_s = opts.interval_ms as f64 / 1000.0;
    let print_frames = opts.frames - opts.heat_frames;
    let scale = plan.total_s / (print_frames as f64 * interval_s);
    let mut rng = Rng::new(opts.seed);
    let period = rng.range(20.0, 60.0);
    let phase = rng.range(0.0, std::f64::consts::TAU);
    let lamp_frame = opts.lamp_change_at.map(|s| (s * opts.frames as f64).round() as usize);
    let mut csv = String::from("file,timestamp_ms,layer,failure,effects\n");
    let mut jsonl = String::new();
    let mut onset_frame = None;
    let parked = {
        let b = cam_file.bed;
        [b.origin_mm[0] + 15.0, b.origin_mm[1] + b.size_mm[1] - 15.0, 120.0]
    };
    let mut prev_layer: Option<u32> = None;
    for i in 0..opts.frames {
        let t = start_ms + i as i64 * opts.interval_ms as i64;
        let print_t = (i as f64 - opts.heat_frames as f64) * interval_s * scale;
        let status = plan.status(print_t, opts.heat_frames as f64 * interval_s, Timestamp(t - 1), &mut rng);
        let job = status.state.job();
        let printing = status.state.is_printing();
        let layer = if printing { job.and_then(|j| j.layer) } else { None };
        let failing = matches!((layer, onset_layer), (Some(l), Some(o)) if l >= o);
        if failing && onset_frame.is_none() {
            onset_frame = Some(i);
        }
        let frac = match layer {
            Some(l) => {
                let t0 = plan.layer_start_s[l as usize];
                let t1 = plan.layer_start_s.get(l as usize + 1).copied().unwrap_or(plan.total_s);
                ((print_t - t0) / (t1 - t0).max(1e-3)).clamp(0.0, 0.999)
            }
            None => 0.0,
        };
        let mut canvas = Canvas::new(w, h, &bg_bytes);
        let scene =
            Scene { analysis: &analysis, grid: &grid, opts, onset_layer, bgr: opts.filament_bgr.map(f64::from) };
        let nozzle = match layer {
            Some(l) => scene.draw_print(&mut canvas, &cam, l, frac, &mut rng),
            None if status.state.name() == "finished" => {
                scene.draw_print(&mut canvas, &cam, n_layers, 0.0, &mut rng);
                None
            }
            None => None,
        };
        let mut effects_note = vec![];
        let park = opts.park_at_layer_change && layer.is_some() && layer != prev_layer;
        prev_layer = layer.or(prev_layer);
        if park {
            effects_note.push("parked".to_string());
        }
        draw_toolhead(&mut canvas, &cam, if park { parked } else { nozzle.unwrap_or(parked) });
        let mut gain =
            1.0 + opts.drift * (std::f64::consts::TAU * i as f64 / period + phase).sin() + opts.flicker * rng.normal();
        let lamp = lamp_frame.is_some_and(|f| i >= f);
        if lamp {
            gain *= opts.lamp_gain;
            effects_note.push("lamp".to_string());
        }
        let noise = opts.noise;
        let mut nrng = Rng::stream(opts.seed, i as u64 + 1);
        let wf = f64::from(w);
        let bytes = canvas
            .finish(|x, _| if lamp { gain * (0.85 + 0.3 * f64::from(x) / wf) } else { gain }, || nrng.normal() * noise);
        let jpeg = encode(&bytes, w, h, opts.jpeg_quality).map_err(|e| EvalError::invalid("render", e))?;
        let file = format!("{i:06}.jpg");
        let path = dir.join("frames").join(&file);
        std::fs::write(&path, &jpeg).map_err(|e| EvalError::io(&path, e))?;
        if failing {
            effects_note.push(opts.failure.map(RenderFailure::label).unwrap_or_default().to_string());
        }
        csv.push_str(&format!(
            "{file},{t},{},{},{}\n",
            layer.map(|l| l.to_string()).unwrap_or_default(),
            u8::from(failing),
            effects_note.join(" ")
        ));
        jsonl.push_str(&serde_json::to_string(&status).map_err(|e| EvalError::invalid("render", e.to_string()))?);
        jsonl.push('\n');
    }
    // One status after the last frame: the print as it stands (finished when it filled the sequence).
    let last_t = start_ms + opts.frames as i64 * opts.interval_ms as i64;
    let end =
        plan.status((opts.frames - opts.heat_frames) as f64 * interval_s * scale, 1.0, Timestamp(last_t), &mut rng);
    jsonl.push_str(&serde_json::to_string(&end).map_err(|e| EvalError::invalid("render", e.to_string()))?);
    jsonl.push('\n');
    write_atomic(&dir.join("frames").join("frames.csv"), csv.as_bytes())?;
    write_atomic(&dir.join(PRINTER_JSONL), jsonl.as_bytes())?;
    write_atomic(&dir.join(CAMERA_FILE), cam_text.as_bytes())?;
    if !same_dir(&opts.gcode, dir) {
        std::fs::copy(&opts.gcode, dir.join(&gname)).map_err(|e| EvalError::io(&opts.gcode, e))?;
    }
    let m = manifest(opts, &gname, n_layers, &plan, scale, onset_layer, onset_frame, start_ms);
    m.write(dir)?;
    Ok(RenderSummary { dir: dir.clone(), frames: opts.frames, layers: n_layers, onset_frame, onset_layer })
}

/// The print and the toolhead for one frame.
struct Scene<'a> {
    analysis: &'a Analysis,
    grid: &'a crate::gcode::Grid,
    opts: &'a RenderOptions,
    onset_layer: Option<u32>,
    bgr: [f64; 3],
}

impl Scene<'_> {
    /// Draws layers `0..layer` and the first `frac` of `layer`'s cells (as the
    /// failure allows); returns the nozzle position (over the current layer).
    fn draw_print(&self, canvas: &mut Canvas, cam: &Camera, layer: u32, frac: f64, rng: &mut Rng) -> Option<V3> {
        let g = self.grid;
        let cols = usize::from(g.cols);
        let n = cols * usize::from(g.rows);
        // Per cell: top of the unshifted column, and bottom/top of the shifted one.
        let mut top = vec![0.0f64; n];
        let mut shifted = vec![(f64::MAX, 0.0f64); n];
        let onset = self.onset_layer.unwrap_or(u32::MAX);
        let failure = self.opts.failure;
        let layers = &self.analysis.layers;
        let mut nozzle = None;
        for (li, l) in layers.iter().enumerate().take(layer as usize + 1) {
            let li = li as u32;
            let cells: Vec<(u16, u16)> = l.footprint.cells(g).map(|(c, r, _)| (c, r)).collect();
            let count = if li == layer { ((cells.len() as f64) * frac).ceil() as usize } else { cells.len() };
            let after = li >= onset;
            let shift =
                if after && failure == Some(RenderFailure::LayerShift) { self.opts.shift_mm } else { [0.0, 0.0] };
            if li == layer && !cells.is_empty() {
                let k = ((cells.len() as f64 * frac) as usize).min(cells.len() - 1);
                let c = g.cell_center(cells[k].0, cells[k].1);
                nozzle = Some([f64::from(c[0]) + shift[0], f64::from(c[1]) + shift[1], f64::from(l.z)]);
            }
            let skip = match failure {
                Some(RenderFailure::GrowthStopped) => after,
                Some(RenderFailure::PartRemoved) => layer >= onset,
                _ => false,
            };
            if skip {
                continue;
            }
            let below = if li == 0 { 0.0 } else { f64::from(layers[li as usize - 1].z) };
            for &(c, r) in cells.iter().take(count) {
                let k = usize::from(r) * cols + usize::from(c);
                if after && failure == Some(RenderFailure::LayerShift) {
                    let s = &mut shifted[k];
                    *s = (s.0.min(below), s.1.max(f64::from(l.z)));
                } else {
                    top[k] = top[k].max(f64::from(l.z));
                }
            }
        }
        let _ = rng;
        let cell = f64::from(g.cell_mm);
        let shade_jitter = |k: usize| 1.0 + 0.04 * (((k * 2_654_435_761) % 1000) as f64 / 1000.0 - 0.5);
        for k in 0..n {
            let (c, r) = ((k % cols) as f64, (k / cols) as f64);
            let x0 = f64::from(g.origin_x) + c * cell;
            let y0 = f64::from(g.origin_y) + r * cell;
            let col = self.bgr.map(|v| v * shade_jitter(k));
            if top[k] > 0.0 {
                canvas.block(cam, &Block { min: [x0, y0, 0.0], max: [x0 + cell, y0 + cell, top[k]], bgr: col });
            }
            let (zb, zt) = shifted[k];
            if zt > 0.0 && zb < zt {
                let [dx, dy] = self.opts.shift_mm;
                canvas.block(
                    cam,
                    &Block { min: [x0 + dx, y0 + dy, zb], max: [x0 + dx + cell, y0 + dy + cell, zt], bgr: col },
                );
            }
        }
        nozzle
    }
}

type V3 = [f64; 3];

/// One frame of an empty printer with the toolhead's nozzle tip at `tip` (bed
/// mm), drawn as [`render`] draws it over `background_bgr` (the camera's size,
/// BGR), with sensor noise of `noise` grey levels (seeded) and JPEG at
/// `quality`. The stand-in camera for automatic calibration's tests: a camera
/// whose pose is known, watching a toolhead that the printer moves.
pub fn toolhead_frame(
    cam: &Camera,
    background_bgr: &[u8],
    tip: [f64; 3],
    noise: f64,
    seed: u64,
    quality: i32,
) -> Result<Vec<u8>, String> {
    let (w, h) = (cam.width, cam.height);
    if background_bgr.len() != w as usize * h as usize * 3 {
        return Err(format!("background of {} bytes for a {w}x{h} camera", background_bgr.len()));
    }
    let mut canvas = Canvas::new(w, h, background_bgr);
    draw_toolhead(&mut canvas, cam, tip);
    let mut rng = Rng::new(seed);
    let bytes = canvas.finish(|_, _| 1.0, || rng.normal() * noise);
    encode(&bytes, w, h, quality)
}

/// A hot end (brass nozzle, dark heater block) and its carriage above the nozzle tip.
fn draw_toolhead(canvas: &mut Canvas, cam: &Camera, tip: V3) {
    let [x, y, z] = tip;
    let part = |dx: f64, dy: f64, z0: f64, z1: f64, bgr: [f64; 3]| Block {
        min: [x - dx, y - dy, z + z0],
        max: [x + dx, y + dy, z + z1],
        bgr,
    };
    canvas.block(cam, &part(1.5, 1.5, 0.2, 4.0, [40.0, 150.0, 200.0]));
    canvas.block(cam, &part(6.0, 6.0, 4.0, 14.0, [60.0, 60.0, 60.0]));
    canvas.block(cam, &part(18.0, 14.0, 14.0, 50.0, [45.0, 40.0, 38.0]));
}

fn mat_bytes(m: &opencv::core::Mat) -> Result<Vec<u8>, String> {
    use opencv::core::{MatTraitConst as _, MatTraitConstManual as _};
    let m = if m.is_continuous() { m.clone() } else { m.try_clone().map_err(|e| e.to_string())? };
    m.data_bytes().map(<[u8]>::to_vec).map_err(|e| format!("frame bytes: {e}"))
}

fn encode(bgr: &[u8], w: u32, h: u32, quality: i32) -> Result<Vec<u8>, String> {
    use opencv::core::{CV_8UC3, Mat, MatTraitManual as _, Scalar};
    let mut m =
        Mat::new_rows_cols_with_default(h as i32, w as i32, CV_8UC3, Scalar::all(0.0)).map_err(|e| e.to_string())?;
    let dst = m.data_bytes_mut().map_err(|e| e.to_string())?;
    if dst.len() != bgr.len() {
        return Err(format!("frame of {} bytes for {w}x{h}", bgr.len()));
    }
    dst.copy_from_slice(bgr);
    effects::jpeg(&m, quality, 0).map(|(b, _)| b)
}

fn same_dir(file: &Path, dir: &Path) -> bool {
    file.parent()
        .zip(std::fs::canonicalize(dir).ok())
        .is_some_and(|(p, d)| std::fs::canonicalize(p).is_ok_and(|p| p == d))
}

#[allow(clippy::too_many_arguments)]
fn manifest(
    opts: &RenderOptions,
    gname: &str,
    n_layers: u32,
    plan: &PrintPlan,
    scale: f64,
    onset_layer: Option<u32>,
    onset_frame: Option<usize>,
    start_ms: i64,
) -> Manifest {
    let mut m = Manifest::new(&opts.name, 1000.0 / opts.interval_ms as f64);
    m.synthetic = true;
    m.start_ms = Some(start_ms);
    m.gcode = Some(gname.to_string());
    m.camera_pose = Some(CAMERA_FILE.to_string());
    m.camera = format!("rendered through {} over {}", opts.camera.display(), opts.background.display());
    m.printer = format!(
        "simulated from {gname} ({n_layers} layers, {:.0} s at real speed), print time x{scale:.3} of sequence time",
        plan.total_s
    );
    m.notes = "Rendered: the print is drawn from the G-code's footprint cells as shaded boxes over a background \
               picture, with a drawn toolhead, lighting drift and noise. Not a photograph."
        .into();
    m.label = match (opts.failure, onset_frame) {
        (Some(f), Some(o)) => SequenceLabel {
            failure: true,
            onset_ms: Some(o as i64 * opts.interval_ms as i64),
            kind: Some(f.label().to_string()),
            notes: format!("{} injected from layer {}", f.label(), onset_layer.unwrap_or(0)),
        },
        _ => SequenceLabel::default(),
    };
    m.provenance = Provenance {
        created: String::new(),
        tool: format!("layerwatch {} dataset render", env!("CARGO_PKG_VERSION")),
        command: opts.command.clone(),
        licence: String::new(),
        attribution: format!("background picture: {}", opts.background.display()),
        sources: String::new(),
    };
    let mut g = toml::Table::new();
    let mut put = |k: &str, v: toml::Value| {
        g.insert(k.to_string(), v);
    };
    put("seed", toml::Value::Integer(opts.seed as i64));
    put("frames", toml::Value::Integer(opts.frames as i64));
    put("interval_ms", toml::Value::Integer(opts.interval_ms as i64));
    put("heat_frames", toml::Value::Integer(opts.heat_frames as i64));
    put("failure", toml::Value::String(opts.failure.map(RenderFailure::label).unwrap_or("").into()));
    put("onset", toml::Value::Float(opts.onset));
    put("onset_layer", toml::Value::Integer(onset_layer.map_or(-1, i64::from)));
    put("shift_mm", toml::Value::String(format!("{},{}", opts.shift_mm[0], opts.shift_mm[1])));
    put("drift", toml::Value::Float(opts.drift));
    put("flicker", toml::Value::Float(opts.flicker));
    put("lamp_change_at", toml::Value::Float(opts.lamp_change_at.unwrap_or(-1.0)));
    put("lamp_gain", toml::Value::Float(opts.lamp_gain));
    put("noise", toml::Value::Float(opts.noise));
    put("park_at_layer_change", toml::Value::Boolean(opts.park_at_layer_change));
    put("jpeg_quality", toml::Value::Integer(i64::from(opts.jpeg_quality)));
    put("time_scale", toml::Value::Float(scale));
    m.generator = Some(g);
    m
}
