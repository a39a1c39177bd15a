//! Synthetic recorded sequences (format b) assembled from labelled still
//! images and a real sliced file — honest stand-ins while no public video
//! with failure-onset labels exists.
//!
//! Each sequence: normal frames, then from a chosen onset frames of one
//! failure label (optionally a ramp where failure frames become more frequent);
//! every step draws a *different* image of the right class (cycling through a
//! shuffled pool; reuse is counted in the `repeat` column of `frames.csv`),
//! resized to the camera size and passed through camera effects: brightness
//! drift and flicker, a frozen-frame run, a dark run, a hand in view, small
//! shake, JPEG re-compression. The printer stream comes from
//! `gcode::analyze_file` of the given file (see [`printer`]). Everything is
//! seeded: the same options give the same frames, CSV and JSONL, byte for
//! byte. The manifest says `synthetic = true` and records every parameter,
//! the source image of each frame and the licences involved.

pub mod effects;
mod options;
mod pools;
pub mod printer;
pub mod rng;

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use rayon::prelude::*;

pub use self::options::{Noise, SynthOptions, SynthSummary};
pub use self::pools::Filter;
use self::pools::Pools;
use self::printer::PrintPlan;
use self::rng::Rng;
use super::dataset::manifest::{Manifest, Provenance, SequenceLabel, write_atomic};
use super::dataset::{self, LabelledImage};
use super::error::EvalError;
use crate::domain::{FailureKind, Timestamp};

/// Generates the sequences.
pub fn generate(opts: &SynthOptions) -> Result<SynthSummary, EvalError> {
    if opts.frames < 4
        || opts.interval_ms == 0
        || !(opts.onset.0 >= 0.0 && opts.onset.0 <= opts.onset.1 && opts.onset.1 <= 1.0)
    {
        return Err(EvalError::invalid(
            "synth",
            "need at least 4 frames, a positive interval and 0 <= onset range <= 1",
        ));
    }
    let kind = dataset::detect(&opts.images)?;
    let set = dataset::load_images(&kind, &opts.label_map, &opts.selection)?;
    let pools = Pools::select(&set.images, opts)?;
    let analysis = crate::gcode::analyze_file(&opts.gcode)?;
    let gname =
        opts.gcode.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "print.gcode".into());
    let plan = PrintPlan::new(&analysis, &gname)
        .ok_or_else(|| EvalError::dataset(&opts.gcode, "the g-code file has no printed layers"))?;
    let count = if opts.single { 1 } else { opts.count.max(1) };
    // Failure assignment: a seeded shuffle of the exact share.
    let n_fail = (count as f64 * opts.failure_share).round() as usize;
    let mut order: Vec<usize> = (0..count).collect();
    Rng::new(opts.seed).shuffle(&mut order);
    let failing: BTreeSet<usize> = order.into_iter().take(n_fail).collect();
    let labels: Vec<&String> = pools.by_label.keys().collect();
    let results: Vec<Result<Generated, EvalError>> = (0..count)
        .into_par_iter()
        .map(|k| {
            let dir = if opts.single { opts.out.clone() } else { opts.out.join(format!("{}-{k:03}", opts.name)) };
            let mut rng = Rng::stream(opts.seed, k as u64);
            let fail_label = failing.contains(&k).then(|| labels[rng.int(0, labels.len() as u64 - 1) as usize].clone());
            one_sequence(opts, &dir, k, &mut rng, &pools, fail_label.as_deref(), &plan, &analysis)
        })
        .collect();
    let mut summary = SynthSummary::default();
    let mut sources = BTreeSet::new();
    for r in results {
        let (dir, frames, used) = r?;
        summary.frames += frames;
        summary.sequences.push(dir);
        sources.extend(used);
    }
    summary.failures = n_fail;
    summary.source_images = sources.len();
    Ok(summary)
}

/// One sequence written: its folder, its frame count and the source images it used.
type Generated = (PathBuf, usize, BTreeSet<String>);

/// What each frame shows.
#[derive(Clone)]
struct Shot<'a> {
    img: &'a LabelledImage,
    failure: bool,
    effects: Vec<String>,
}

#[allow(clippy::too_many_arguments)]
fn one_sequence(
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
    // Pools, shuffled per sequence; cycling marks reuse.
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
    // Effect runs.
    let run = |rng: &mut Rng, p: f64, lo: u64, hi: u64| -> Option<(usize, usize)> {
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
    let q_seq = rng.int(opts.quality.0.max(5) as u64, opts.quality.1.max(opts.quality.0).min(100) as u64) as i32;
    std::fs::create_dir_all(dir.join("frames")).map_err(|e| EvalError::io(dir, e))?;
    let (w, h) = (opts.width as i32, opts.height as i32);
    let mut csv = String::from("file,timestamp_ms,source,label,failure,repeat,effects,quality,bytes,license\n");
    let mut uses: HashMap<&str, usize> = HashMap::new();
    let mut prev: Option<Vec<u8>> = None;
    let mut t = opts.start_ms;
    let mut times = Vec::with_capacity(n);
    let mut used = BTreeSet::new();
    let mut repeats = 0usize;
    for (i, shot) in shots.iter_mut().enumerate() {
        if i > 0 {
            t += opts.interval_ms as i64 + (rng.normal() * 20.0).round().clamp(-60.0, 60.0) as i64;
        }
        times.push(t);
        let in_run = |r: Option<(usize, usize)>| r.is_some_and(|(a, b)| i >= a && i < b);
        let file = format!("{i:06}.jpg");
        let (bytes, quality, source) = if in_run(frozen) && i > frozen.map_or(0, |f| f.0) && prev.is_some() {
            // The camera froze: the same bytes again, as the last good frame.
            shot.effects.push("frozen".into());
            (prev.clone().unwrap_or_default(), 0, shots_source(&shot.img.name))
        } else {
            let mut m = effects::resize(
                &effects::read(&shot.img.path).map_err(|e| EvalError::format(&shot.img.path, None, e))?,
                w,
                h,
            )
            .map_err(|e| EvalError::invalid("synth", e))?;
            let mut gain = gain0
                + opts.noise.drift * (std::f64::consts::TAU * i as f64 / period + phase).sin()
                + rng.normal() * opts.noise.flicker;
            if in_run(dark) {
                gain *= 0.04;
                shot.effects.push("dark".into());
            }
            if (gain - 1.0).abs() > 1e-3 {
                m = effects::brightness(&m, gain).map_err(|e| EvalError::invalid("synth", e))?;
            }
            if in_run(hand) {
                let cover = rng.range(0.25, 0.5);
                m = effects::hand(&m, rng, cover).map_err(|e| EvalError::invalid("synth", e))?;
                shot.effects.push("hand".into());
            }
            if rng.chance(opts.noise.shake_p) && opts.noise.shake_px > 0.0 {
                let (dx, dy) = (rng.normal() * opts.noise.shake_px, rng.normal() * opts.noise.shake_px);
                m = effects::shake(&m, dx, dy).map_err(|e| EvalError::invalid("synth", e))?;
                shot.effects.push(format!("shake({dx:.1},{dy:.1})"));
            }
            let q = (q_seq + (rng.normal() * 3.0).round() as i32).clamp(5, 100);
            let (b, q) = effects::jpeg(&m, q, opts.max_frame_bytes).map_err(|e| EvalError::invalid("synth", e))?;
            (b, q, shots_source(&shot.img.name))
        };
        let rep = uses.entry(shot.img.name.as_str()).or_insert(0);
        if *rep > 0 {
            repeats += 1;
        }
        let repeat = *rep;
        *rep += 1;
        used.insert(shot.img.name.clone());
        let path = dir.join("frames").join(&file);
        std::fs::write(&path, &bytes).map_err(|e| EvalError::io(&path, e))?;
        let licence =
            shot.img.columns.get("license").or_else(|| shot.img.columns.get("licence")).cloned().unwrap_or_default();
        csv.push_str(&csv_row(&[
            &file,
            &t.to_string(),
            &source,
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
    // Printer stream: one status every interval, a third of an interval after each frame.
    let interval_s = opts.interval_ms as f64 / 1000.0;
    let scale = opts.time_scale.unwrap_or(plan.total_s / ((n - heat) as f64 * interval_s));
    let print_start = opts.start_ms + (heat as f64 * interval_s * 1000.0) as i64;
    let mut jsonl = String::new();
    let last = times.last().copied().unwrap_or(opts.start_ms);
    let mut st = opts.start_ms - opts.interval_ms as i64 / 2;
    while st <= last {
        let print_t = (st - print_start) as f64 / 1000.0 * if st >= print_start { scale } else { 1.0 };
        let status =
            plan.status(print_t, heat as f64 * interval_s + opts.interval_ms as f64 / 2000.0, Timestamp(st), rng);
        let line = serde_json::to_string(&status).map_err(|e| EvalError::invalid("synth", e.to_string()))?;
        jsonl.push_str(&line);
        jsonl.push('\n');
        st += opts.interval_ms as i64;
    }
    write_atomic(&dir.join(dataset::sequence::PRINTER_JSONL), jsonl.as_bytes())?;
    // The G-code travels with the sequence unless it already lies in it.
    let gname = plan.file.clone();
    let inside = opts
        .gcode
        .parent()
        .zip(std::fs::canonicalize(dir).ok())
        .is_some_and(|(p, d)| std::fs::canonicalize(p).is_ok_and(|p| p == d));
    if !inside {
        std::fs::copy(&opts.gcode, dir.join(&gname)).map_err(|e| EvalError::io(&opts.gcode, e))?;
    }
    // Manifest.
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
    let class = fail_label.and_then(|l| opts.label_map.class_of(l)).unwrap_or("other_failure");
    m.label = match (fail_label, onset) {
        (Some(l), Some(o)) => SequenceLabel {
            failure: true,
            onset_ms: Some(times[o] - opts.start_ms),
            kind: Some(FailureKind::from_label(class).name().to_string()),
            notes: format!("failure frames drawn from dataset label {l:?} (model class {class}) from frame {o}"),
        },
        _ => SequenceLabel::default(),
    };
    m.notes = format!(
        "Assembled from still images: timing is synthetic, consecutive frames show different prints. \
         {} frames, {} distinct source images, {repeats} frame(s) reuse an image already shown.",
        n,
        used.len()
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
    let mut g = toml::Table::new();
    let mut put = |k: &str, v: toml::Value| {
        g.insert(k.to_string(), v);
    };
    put("seed", toml::Value::Integer(opts.seed as i64));
    put("sequence_index", toml::Value::Integer(k as i64));
    put("images", toml::Value::String(opts.images.display().to_string()));
    put("split", toml::Value::String(opts.selection.split.clone().unwrap_or_default()));
    put(
        "filters",
        toml::Value::Array(
            opts.filters
                .iter()
                .map(|f| toml::Value::String(format!("{}{}{}", f.column, if f.prefix { "^=" } else { "=" }, f.value)))
                .collect(),
        ),
    );
    put("pick", toml::Value::String(opts.pick.as_ref().map(|p| p.display().to_string()).unwrap_or_default()));
    put("frames", toml::Value::Integer(n as i64));
    put("interval_ms", toml::Value::Integer(opts.interval_ms as i64));
    put("heat_frames", toml::Value::Integer(heat as i64));
    put("onset_range", toml::Value::Array(vec![toml::Value::Float(opts.onset.0), toml::Value::Float(opts.onset.1)]));
    put("onset_frame", toml::Value::Integer(onset.map_or(-1, |o| o as i64)));
    put("failure_label", toml::Value::String(fail_label.unwrap_or("").to_string()));
    put("ramp_frames", toml::Value::Integer(opts.ramp_frames as i64));
    put("size", toml::Value::String(format!("{}x{}", opts.width, opts.height)));
    put("jpeg_quality", toml::Value::Integer(i64::from(q_seq)));
    put("max_frame_bytes", toml::Value::Integer(opts.max_frame_bytes as i64));
    put("time_scale", toml::Value::Float(scale));
    let nz = &opts.noise;
    put(
        "noise",
        toml::Value::String(format!(
            "drift {} flicker {} frozen_p {} dark_p {} hand_p {} shake_p {} shake_px {}",
            nz.drift, nz.flicker, nz.frozen_p, nz.dark_p, nz.hand_p, nz.shake_p, nz.shake_px
        )),
    );
    let span =
        |r: Option<(usize, usize)>| toml::Value::String(r.map(|(a, b)| format!("frames {a}..{b}")).unwrap_or_default());
    put("frozen_run", span(frozen));
    put("dark_run", span(dark));
    put("hand_run", span(hand));
    put("distinct_source_images", toml::Value::Integer(used.len() as i64));
    put("reused_frames", toml::Value::Integer(repeats as i64));
    m.generator = Some(g);
    m.write(dir)?;
    Ok((dir.to_path_buf(), n, used))
}

fn shots_source(name: &str) -> String {
    name.to_string()
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
