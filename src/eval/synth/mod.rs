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
mod sequence;

use std::collections::BTreeSet;
use std::path::PathBuf;

use rayon::prelude::*;

pub use self::options::{Noise, SynthOptions, SynthSummary};
pub use self::pools::Filter;
use self::pools::Pools;
use self::printer::PrintPlan;
use self::rng::Rng;
use super::dataset;
use super::error::EvalError;

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
            sequence::one_sequence(opts, &dir, k, &mut rng, &pools, fail_label.as_deref(), &plan, &analysis)
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
pub(crate) type Generated = (PathBuf, usize, BTreeSet<String>);
