//! One synthetic sequence, step by step: pick each frame's image, draw the
//! camera's look, write the frames and `frames.csv`, the printer stream, the
//! G-code copy and the manifest. The steps draw from one seeded stream in a
//! fixed order, so the same options give the same bytes.

use std::collections::{BTreeSet, HashMap};
use std::path::Path;

use super::options::{Noise, SynthOptions};
use super::pools::Pools;
use super::printer::PrintPlan;
use super::rng::Rng;
use super::{Generated, effects};
use crate::domain::{FailureKind, Timestamp};
use crate::eval::dataset::manifest::{Manifest, Provenance, SequenceLabel, write_atomic};
use crate::eval::dataset::{self, LabelledImage};
use crate::eval::error::EvalError;

/// What each frame shows.
#[derive(Clone)]
struct Shot<'a> {
    img: &'a LabelledImage,
    failure: bool,
    effects: Vec<String>,
}

/// A run of frames `[start, end)` with one camera effect.
type Span = Option<(usize, usize)>;

fn in_span(r: Span, i: usize) -> bool {
    r.is_some_and(|(a, b)| i >= a && i < b)
}

/// How the camera behaves over the whole sequence.
struct Camera {
    frozen: Span,
    dark: Span,
    hand: Span,
    gain0: f64,
    period: f64,
    phase: f64,
    /// The sequence's JPEG quality (each frame varies around it).
    quality: i32,
}

/// The frames as written.
struct Frames {
    times: Vec<i64>,
    used: BTreeSet<String>,
    repeats: usize,
}

#[allow(clippy::too_many_arguments)]
pub(super) fn one_sequence(
    opts: &SynthOptions,
    dir: &Path,
    k: usize,
    rng: &mut Rng,
    pools: &Pools<'_>,
    fail_label: Option<&str>,
    plan: &PrintPlan,
    analysis: &crate::gcode::Analysis,
) -> Result<Generated, EvalError> {
    let n = opts.frames;
    let heat = opts.heat_frames.min(n / 4);
    let onset = fail_label.map(|_| {
        let o = (rng.range(opts.onset.0, opts.onset.1) * n as f64).round() as usize;
        o.clamp(heat + 1, n - 1)
    });
    let mut shots = pick_shots(opts, rng, pools, fail_label, onset);
    let camera = Camera::draw(opts, rng, heat);
    let frames = write_frames(opts, dir, rng, &mut shots, &camera)?;
    let scale = write_printer_stream(opts, dir, rng, plan, heat, &frames.times)?;
    copy_gcode(opts, dir, plan)?;
    let mut m = manifest(opts, k, plan, analysis, scale, &shots, &frames);
    m.label = label(opts, fail_label, onset, &frames.times);
    let run = SequenceRun { k, heat, onset, fail_label, scale, camera: &camera, frames: &frames };
    m.generator = Some(generator_table(opts, &run));
    m.write(dir)?;
    Ok((dir.to_path_buf(), n, frames.used))
}

/// Each frame's image: normal ones, then from the onset the failure label's
/// (with a ramp where failure frames become more frequent). Pools are
/// shuffled per sequence; cycling marks reuse.
fn pick_shots<'a>(
    opts: &SynthOptions,
    rng: &mut Rng,
    pools: &Pools<'a>,
    fail_label: Option<&str>,
    onset: Option<usize>,
) -> Vec<Shot<'a>> {
    let n = opts.frames;
    let mut normal = pools.normal.clone();
    rng.shuffle(&mut normal);
    let mut failing: Vec<&LabelledImage> = fail_label.and_then(|l| pools.by_label.get(l)).cloned().unwrap_or_default();
    rng.shuffle(&mut failing);
    let (mut ni, mut fi) = (0usize, 0usize);
    let mut shots: Vec<Shot<'_>> = Vec::with_capacity(n);
    for i in 0..n {
        let is_fail = match onset {
            Some(o) if i == o => true,
            Some(o) if i > o && i <= o + opts.ramp_frames => rng.chance((i - o) as f64 / (opts.ramp_frames + 1) as f64),
            Some(o) if i > o => true,
            _ => false,
        };
        let img = if is_fail && !failing.is_empty() {
            fi += 1;
            failing[(fi - 1) % failing.len()]
        } else {
            ni += 1;
            normal[(ni - 1) % normal.len()]
        };
        shots.push(Shot { img, failure: is_fail, effects: vec![] });
    }
    shots
}

impl Camera {
    /// The effect runs (each with its probability), then brightness drift and
    /// the JPEG quality.
    fn draw(opts: &SynthOptions, rng: &mut Rng, heat: usize) -> Camera {
        let n = opts.frames;
        let run = |rng: &mut Rng, p: f64, lo: u64, hi: u64| -> Span {
            if !rng.chance(p) || n < heat + 12 {
                return None;
            }
            let len = rng.int(lo, hi) as usize;
            let start = rng.int((heat + 2) as u64, (n - len - 1) as u64) as usize;
            Some((start, start + len))
        };
        let frozen = run(rng, opts.noise.frozen_p, 3, 8);
        let dark = run(rng, opts.noise.dark_p, 2, 5);
        let hand = run(rng, opts.noise.hand_p, 1, 3);
        let gain0 = 1.0 + rng.range(-0.1, 0.06);
        let period = rng.range(40.0, 160.0);
        let phase = rng.range(0.0, std::f64::consts::TAU);
        let quality = rng.int(opts.quality.0.max(5) as u64, opts.quality.1.max(opts.quality.0).min(100) as u64) as i32;
        Camera { frozen, dark, hand, gain0, period, phase, quality }
    }
}

/// Writes `frames/NNNNNN.jpg` and `frames/frames.csv` (source, label, effects,
/// quality, licence of each frame).
fn write_frames(
    opts: &SynthOptions,
    dir: &Path,
    rng: &mut Rng,
    shots: &mut [Shot<'_>],
    camera: &Camera,
) -> Result<Frames, EvalError> {
    std::fs::create_dir_all(dir.join("frames")).map_err(|e| EvalError::io(dir, e))?;
    let mut csv = String::from("file,timestamp_ms,source,label,failure,repeat,effects,quality,bytes,license\n");
    let mut uses: HashMap<&str, usize> = HashMap::new();
    let mut prev: Option<Vec<u8>> = None;
    let mut t = opts.start_ms;
    let mut out = Frames { times: Vec::with_capacity(shots.len()), used: BTreeSet::new(), repeats: 0 };
    for (i, shot) in shots.iter_mut().enumerate() {
        if i > 0 {
            t += opts.interval_ms as i64 + (rng.normal() * 20.0).round().clamp(-60.0, 60.0) as i64;
        }
        out.times.push(t);
        let file = format!("{i:06}.jpg");
        let (bytes, quality) = match &prev {
            // The camera froze: the same bytes again, as the last good frame.
            Some(last) if in_span(camera.frozen, i) && i > camera.frozen.map_or(0, |f| f.0) => {
                shot.effects.push("frozen".into());
                (last.clone(), 0)
            }
            _ => render_frame(opts, rng, shot, camera, i)?,
        };
        let rep = uses.entry(shot.img.name.as_str()).or_insert(0);
        if *rep > 0 {
            out.repeats += 1;
        }
        let repeat = *rep;
        *rep += 1;
        out.used.insert(shot.img.name.clone());
        let path = dir.join("frames").join(&file);
        std::fs::write(&path, &bytes).map_err(|e| EvalError::io(&path, e))?;
        let licence =
            shot.img.columns.get("license").or_else(|| shot.img.columns.get("licence")).cloned().unwrap_or_default();
        csv.push_str(&csv_row(&[
            &file,
            &t.to_string(),
            &shot.img.name,
            &shot.img.label,
            if shot.failure { "1" } else { "0" },
            &repeat.to_string(),
            &shot.effects.join(" "),
            &quality.to_string(),
            &bytes.len().to_string(),
            &licence,
        ]));
        prev = Some(bytes);
    }
    write_atomic(&dir.join("frames").join("frames.csv"), csv.as_bytes())?;
    Ok(out)
}

/// One frame's JPEG: the still resized to the camera size, then brightness
/// (drift, flicker, a dark run), a hand, shake, and re-compression.
fn render_frame(
    opts: &SynthOptions,
    rng: &mut Rng,
    shot: &mut Shot<'_>,
    camera: &Camera,
    i: usize,
) -> Result<(Vec<u8>, i32), EvalError> {
    let invalid = |e| EvalError::invalid("synth", e);
    let (w, h) = (opts.width as i32, opts.height as i32);
    let still = effects::read(&shot.img.path).map_err(|e| EvalError::format(&shot.img.path, None, e))?;
    let mut m = effects::resize(&still, w, h).map_err(invalid)?;
    let mut gain = camera.gain0
        + opts.noise.drift * (std::f64::consts::TAU * i as f64 / camera.period + camera.phase).sin()
        + rng.normal() * opts.noise.flicker;
    if in_span(camera.dark, i) {
        gain *= 0.04;
        shot.effects.push("dark".into());
    }
    if (gain - 1.0).abs() > 1e-3 {
        m = effects::brightness(&m, gain).map_err(invalid)?;
    }
    if in_span(camera.hand, i) {
        let cover = rng.range(0.25, 0.5);
        m = effects::hand(&m, rng, cover).map_err(invalid)?;
        shot.effects.push("hand".into());
    }
    if rng.chance(opts.noise.shake_p) && opts.noise.shake_px > 0.0 {
        let (dx, dy) = (rng.normal() * opts.noise.shake_px, rng.normal() * opts.noise.shake_px);
        m = effects::shake(&m, dx, dy).map_err(invalid)?;
        shot.effects.push(format!("shake({dx:.1},{dy:.1})"));
    }
    let q = (camera.quality + (rng.normal() * 3.0).round() as i32).clamp(5, 100);
    effects::jpeg(&m, q, opts.max_frame_bytes).map_err(invalid)
}

/// `printer.jsonl`: one status every interval, half an interval before each
/// frame, from the print plan on a time scale that fits the print into the
/// sequence, and one after the last frame (`finished` when the print fills the
/// sequence, so a replay sees the print end). Returns that scale.
fn write_printer_stream(
    opts: &SynthOptions,
    dir: &Path,
    rng: &mut Rng,
    plan: &PrintPlan,
    heat: usize,
    times: &[i64],
) -> Result<f64, EvalError> {
    let n = opts.frames;
    let interval_s = opts.interval_ms as f64 / 1000.0;
    let scale = opts.time_scale.unwrap_or(plan.total_s / ((n - heat) as f64 * interval_s));
    let print_start = opts.start_ms + (heat as f64 * interval_s * 1000.0) as i64;
    let mut jsonl = String::new();
    let last = times.last().copied().unwrap_or(opts.start_ms);
    let mut st = opts.start_ms - opts.interval_ms as i64 / 2;
    // One status more after the last frame: `finished` when the print fills the sequence.
    while st <= last + opts.interval_ms as i64 {
        let mut print_t = (st - print_start) as f64 / 1000.0 * if st >= print_start { scale } else { 1.0 };
        if st > last && opts.time_scale.is_none() {
            print_t = print_t.max(plan.total_s);
        }
        let status =
            plan.status(print_t, heat as f64 * interval_s + opts.interval_ms as f64 / 2000.0, Timestamp(st), rng);
        let line = serde_json::to_string(&status).map_err(|e| EvalError::invalid("synth", e.to_string()))?;
        jsonl.push_str(&line);
        jsonl.push('\n');
        st += opts.interval_ms as i64;
    }
    write_atomic(&dir.join(dataset::sequence::PRINTER_JSONL), jsonl.as_bytes())?;
    Ok(scale)
}

/// The G-code travels with the sequence unless it already lies in it.
fn copy_gcode(opts: &SynthOptions, dir: &Path, plan: &PrintPlan) -> Result<(), EvalError> {
    let inside = opts
        .gcode
        .parent()
        .zip(std::fs::canonicalize(dir).ok())
        .is_some_and(|(p, d)| std::fs::canonicalize(p).is_ok_and(|p| p == d));
    if !inside {
        std::fs::copy(&opts.gcode, dir.join(&plan.file)).map_err(|e| EvalError::io(&opts.gcode, e))?;
    }
    Ok(())
}

/// The manifest's descriptive part: name, camera, printer, notes, provenance.
fn manifest(
    opts: &SynthOptions,
    k: usize,
    plan: &PrintPlan,
    analysis: &crate::gcode::Analysis,
    scale: f64,
    shots: &[Shot<'_>],
    frames: &Frames,
) -> Manifest {
    let gname = &plan.file;
    let name = if opts.single { opts.name.clone() } else { format!("{}-{k:03}", opts.name) };
    let mut m = Manifest::new(&name, 1000.0 / opts.interval_ms as f64);
    m.synthetic = true;
    m.start_ms = Some(opts.start_ms);
    m.gcode = Some(gname.clone());
    m.split = opts.selection.split.clone();
    m.camera = format!(
        "synthetic: labelled stills from {} stretched to {}x{}, {}",
        opts.images.display(),
        opts.width,
        opts.height,
        if opts.noise == Noise::none() { "no camera effects" } else { "with camera effects" }
    );
    let slicer =
        analysis.slicer.as_ref().map(|s| s.kind.as_str().to_string()).unwrap_or_else(|| "unknown slicer".into());
    m.printer = format!(
        "simulated from {gname} ({slicer}, {} layers, {:.0} s at real speed), print time x{scale:.3} of sequence time",
        plan.layer_count(),
        plan.total_s
    );
    m.notes = format!(
        "Assembled from still images: timing is synthetic, consecutive frames show different prints. \
         {} frames, {} distinct source images, {} frame(s) reuse an image already shown.",
        opts.frames,
        frames.used.len(),
        frames.repeats
    );
    let licences: BTreeSet<String> =
        shots.iter().filter_map(|s| s.img.columns.get("license").cloned()).filter(|l| !l.is_empty()).collect();
    m.provenance = Provenance {
        created: String::new(),
        tool: format!("layerwatch {} dataset synth", env!("CARGO_PKG_VERSION")),
        command: opts.command.clone(),
        licence: licences.into_iter().collect::<Vec<_>>().join("; "),
        attribution: opts.attribution.clone().unwrap_or_else(|| {
            format!(
                "source images from {} (see its README); each frame's source image and licence are in \
                frames/frames.csv",
                opts.images.display()
            )
        }),
        sources: "frames/frames.csv columns `source` (path in the image set), `label`, `license`".into(),
    };
    m
}

/// The ground truth: a failure of the label's model class from the onset frame, or none.
fn label(opts: &SynthOptions, fail_label: Option<&str>, onset: Option<usize>, times: &[i64]) -> SequenceLabel {
    let class = fail_label.and_then(|l| opts.label_map.class_of(l)).unwrap_or("other_failure");
    match (fail_label, onset) {
        (Some(l), Some(o)) => SequenceLabel {
            failure: true,
            onset_ms: Some(times[o] - opts.start_ms),
            kind: Some(FailureKind::from_label(class).name().to_string()),
            notes: format!("failure frames drawn from dataset label {l:?} (model class {class}) from frame {o}"),
        },
        _ => SequenceLabel::default(),
    }
}

/// What the generator chose for one sequence, for its `[generator]` table.
struct SequenceRun<'a> {
    k: usize,
    heat: usize,
    onset: Option<usize>,
    fail_label: Option<&'a str>,
    scale: f64,
    camera: &'a Camera,
    frames: &'a Frames,
}

/// The manifest's `[generator]` table: every parameter and every draw.
fn generator_table(opts: &SynthOptions, run: &SequenceRun<'_>) -> toml::Table {
    let mut g = toml::Table::new();
    let mut put = |k: &str, v: toml::Value| {
        g.insert(k.to_string(), v);
    };
    let int = |v: i64| toml::Value::Integer(v);
    let text = |v: String| toml::Value::String(v);
    put("seed", int(opts.seed as i64));
    put("sequence_index", int(run.k as i64));
    put("images", text(opts.images.display().to_string()));
    put("split", text(opts.selection.split.clone().unwrap_or_default()));
    put(
        "filters",
        toml::Value::Array(
            opts.filters
                .iter()
                .map(|f| text(format!("{}{}{}", f.column, if f.prefix { "^=" } else { "=" }, f.value)))
                .collect(),
        ),
    );
    put("pick", text(opts.pick.as_ref().map(|p| p.display().to_string()).unwrap_or_default()));
    put("frames", int(opts.frames as i64));
    put("interval_ms", int(opts.interval_ms as i64));
    put("heat_frames", int(run.heat as i64));
    put("onset_range", toml::Value::Array(vec![toml::Value::Float(opts.onset.0), toml::Value::Float(opts.onset.1)]));
    put("onset_frame", int(run.onset.map_or(-1, |o| o as i64)));
    put("failure_label", text(run.fail_label.unwrap_or("").to_string()));
    put("ramp_frames", int(opts.ramp_frames as i64));
    put("size", text(format!("{}x{}", opts.width, opts.height)));
    put("jpeg_quality", int(i64::from(run.camera.quality)));
    put("max_frame_bytes", int(opts.max_frame_bytes as i64));
    put("time_scale", toml::Value::Float(run.scale));
    let nz = &opts.noise;
    put(
        "noise",
        text(format!(
            "drift {} flicker {} frozen_p {} dark_p {} hand_p {} shake_p {} shake_px {}",
            nz.drift, nz.flicker, nz.frozen_p, nz.dark_p, nz.hand_p, nz.shake_p, nz.shake_px
        )),
    );
    let span = |r: Span| text(r.map(|(a, b)| format!("frames {a}..{b}")).unwrap_or_default());
    put("frozen_run", span(run.camera.frozen));
    put("dark_run", span(run.camera.dark));
    put("hand_run", span(run.camera.hand));
    put("distinct_source_images", int(run.frames.used.len() as i64));
    put("reused_frames", int(run.frames.repeats as i64));
    g
}

/// One CSV line with quoting where needed.
fn csv_row(fields: &[&str]) -> String {
    let mut s = String::new();
    for (i, f) in fields.iter().enumerate() {
        if i > 0 {
            s.push(',');
        }
        if f.contains([',', '"', '\n']) {
            s.push('"');
            s.push_str(&f.replace('"', "\"\""));
            s.push('"');
        } else {
            s.push_str(f);
        }
    }
    s.push('\n');
    s
}
