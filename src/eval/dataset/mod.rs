//! Dataset formats and their loaders (documented in `datasets/README.md`).
//!
//! (a) labelled images: a `labels.csv` ([`labels_csv`]) or a folder per class
//! ([`class_folders`]); (b) recorded sequences: a directory with
//! `manifest.toml`, `frames/`, `printer.jsonl` ([`sequence`], [`manifest`]);
//! importers from other layouts (class folders, Roboflow/YOLO exports, CSV)
//! into (a) ([`import`], [`yolo`]). [`detect`] tells which one a path holds.

pub mod class_folders;
pub mod import;
pub mod labels_csv;
pub mod manifest;
pub mod sequence;
pub mod yolo;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

pub use manifest::{Manifest, SequenceLabel};
pub use sequence::{FrameRow, Sequence};

use super::error::{EvalError, Skip};
use super::taxonomy::LabelMap;

/// Name of the labels file of format (a).
pub const LABELS_CSV: &str = "labels.csv";

/// Which rows to use.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Selection {
    /// Only rows whose `split` column equals this (`train`, `val`, `test`).
    pub split: Option<String>,
}

/// One labelled image.
#[derive(Debug, Clone, PartialEq)]
pub struct LabelledImage {
    pub path: PathBuf,
    /// As written in the labels file (relative to the dataset root).
    pub name: String,
    /// The dataset's own label (`blobs`, `failure`…).
    pub label: String,
    /// The model class that label maps to (`surface`, `other_failure`…).
    pub class: String,
    pub failure: bool,
    /// Line in the labels file.
    pub line: Option<u64>,
    /// Every other column (`split`, `source`, `license`…), for breakdowns.
    pub columns: BTreeMap<String, String>,
}

/// A labelled image set, after filtering, with what was left out.
#[derive(Debug, Clone, PartialEq)]
pub struct ImageSet {
    pub root: PathBuf,
    pub labels_file: Option<PathBuf>,
    pub images: Vec<LabelledImage>,
    pub skipped: Vec<Skip>,
    /// Extra column names, in file order.
    pub columns: Vec<String>,
}

impl ImageSet {
    pub fn new(root: PathBuf, labels_file: Option<PathBuf>) -> ImageSet {
        ImageSet { root, labels_file, images: vec![], skipped: vec![], columns: vec![] }
    }

    /// Records (and logs) a skipped input.
    pub fn skip(&mut self, s: Skip) {
        s.log();
        self.skipped.push(s);
    }

    /// Appends another set (several datasets in one run); a `dataset` column tells them apart.
    pub fn extend(&mut self, other: ImageSet, tag: &str) {
        for mut img in other.images {
            img.columns.insert("dataset".into(), tag.to_string());
            self.images.push(img);
        }
        self.skipped.extend(other.skipped);
        for c in other.columns {
            if !self.columns.contains(&c) {
                self.columns.push(c);
            }
        }
        if !self.columns.iter().any(|c| c == "dataset") {
            self.columns.push("dataset".into());
        }
    }
}

/// What a path holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DatasetKind {
    /// A labels file (format a).
    LabelsCsv(PathBuf),
    /// A folder per class (format a).
    ClassFolders(PathBuf),
    /// One or more sequence directories (format b), sorted.
    Sequences(Vec<PathBuf>),
}

/// Finds out what `path` is: a `.csv` file; a directory with `manifest.toml`
/// (one sequence), `labels.csv`, sequence sub-directories (up to three levels
/// down) or class folders — in that order.
pub fn detect(path: &Path) -> Result<DatasetKind, EvalError> {
    if path.is_file() {
        if path.extension().is_some_and(|e| e.eq_ignore_ascii_case("csv")) {
            return Ok(DatasetKind::LabelsCsv(path.to_path_buf()));
        }
        return Err(EvalError::dataset(path, "a file dataset must be a labels .csv"));
    }
    if !path.is_dir() {
        return Err(EvalError::dataset(path, "no such file or directory"));
    }
    if path.join(manifest::MANIFEST_FILE).is_file() {
        return Ok(DatasetKind::Sequences(vec![path.to_path_buf()]));
    }
    if path.join(LABELS_CSV).is_file() {
        return Ok(DatasetKind::LabelsCsv(path.join(LABELS_CSV)));
    }
    let mut seqs = vec![];
    find_sequences(path, 3, &mut seqs).map_err(|e| EvalError::io(path, e))?;
    if !seqs.is_empty() {
        seqs.sort();
        return Ok(DatasetKind::Sequences(seqs));
    }
    if class_folders::looks_like(path) {
        return Ok(DatasetKind::ClassFolders(path.to_path_buf()));
    }
    Err(EvalError::dataset(
        path,
        "not a dataset: no labels.csv, no manifest.toml here or in sub-folders, and no class folders with images \
         (formats: datasets/README.md)",
    ))
}

/// Folders holding a `manifest.toml` down to `depth` levels (`images::walk`: each
/// real folder once); a sequence's own sub-folders are not searched.
fn find_sequences(dir: &Path, depth: usize, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for d in crate::images::walk(dir, depth)?.dirs {
        if d.join(manifest::MANIFEST_FILE).is_file() && !out.iter().any(|s| d.starts_with(s)) {
            out.push(d);
        }
    }
    Ok(())
}

/// Loads labelled images from a labels file or class folders.
pub fn load_images(kind: &DatasetKind, map: &LabelMap, sel: &Selection) -> Result<ImageSet, EvalError> {
    match kind {
        DatasetKind::LabelsCsv(f) => labels_csv::load(f, map, sel),
        DatasetKind::ClassFolders(d) => class_folders::load(d, map, sel),
        DatasetKind::Sequences(v) => Err(EvalError::dataset(
            v.first().map(PathBuf::as_path).unwrap_or(Path::new(".")),
            "this is a sequence dataset, not labelled images",
        )),
    }
}

/// Loads sequence directories; one that cannot be used at all becomes a skip.
pub fn load_sequences(dirs: &[PathBuf]) -> (Vec<Sequence>, Vec<Skip>) {
    let mut seqs = vec![];
    let mut skips = vec![];
    for d in dirs {
        match Sequence::load(d) {
            Ok(s) => seqs.push(s),
            Err(e) => {
                let s = Skip::new(super::error::SkipKind::BadSequence, d, None, e.to_string());
                s.log();
                skips.push(s);
            }
        }
    }
    (seqs, skips)
}
