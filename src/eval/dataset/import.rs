//! Importers: other dataset layouts → format (a) (`labels.csv` + `images/`).
//!
//! - `class-folders`: `SRC/<label>/*.jpg` or `SRC/<split>/<label>/*.jpg`.
//! - `yolo`: a Roboflow/Ultralytics YOLO export (`data.yaml`, `train|valid|test/{images,labels}`):
//!   an image with a box of a failure class is a failure, labelled with the
//!   class of its largest failure box; an image with none is `normal`.
//! - `csv`: any CSV naming an image path and a label column; other columns are kept.
//!
//! `--map SRC=LABEL` renames source classes to dataset labels (e.g.
//! `fail=failure`); a label that is still unknown to the taxonomy is skipped
//! and listed, never guessed. Images are copied (or symlinked) under
//! `OUT/images/`, so the output is self-contained.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use crate::capture::folder::list_images;
use crate::eval::error::{EvalError, Skip, SkipKind};
use crate::eval::taxonomy::{LabelMap, normalise};

/// Source layout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ImportFrom {
    ClassFolders,
    Yolo,
    Csv,
}

/// How images get into the output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum CopyMode {
    Copy,
    Symlink,
}

/// What to import and how.
#[derive(Debug, Clone)]
pub struct ImportOptions {
    pub from: ImportFrom,
    pub src: PathBuf,
    pub out: PathBuf,
    /// Source class → dataset label renames (`fail` → `failure`).
    pub rename: BTreeMap<String, String>,
    /// Value of the `source` column (default: the source folder's name).
    pub source: Option<String>,
    pub copy: CopyMode,
    /// YOLO: classes whose boxes mean a failure (default: classes whose label is a failure label).
    pub failure_classes: Option<Vec<String>>,
    /// CSV: the columns with the image path and the label.
    pub path_column: String,
    pub label_column: String,
}

impl ImportOptions {
    pub fn new(from: ImportFrom, src: &Path, out: &Path) -> ImportOptions {
        ImportOptions {
            from,
            src: src.to_path_buf(),
            out: out.to_path_buf(),
            rename: BTreeMap::new(),
            source: None,
            copy: CopyMode::Copy,
            failure_classes: None,
            path_column: "path".into(),
            label_column: "label".into(),
        }
    }

    /// Parses `SRC=LABEL` pairs.
    pub fn with_renames<S: AsRef<str>>(mut self, pairs: &[S]) -> Result<ImportOptions, EvalError> {
        for p in pairs {
            let p = p.as_ref();
            let (a, b) = p
                .split_once('=')
                .filter(|(a, b)| !a.trim().is_empty() && !b.trim().is_empty())
                .ok_or_else(|| EvalError::invalid(format!("--map {p:?}"), "expected SRC=LABEL, e.g. fail=failure"))?;
            self.rename.insert(normalise(a), normalise(b));
        }
        Ok(self)
    }

    fn label_for(&self, class: &str) -> String {
        let n = normalise(class);
        self.rename.get(&n).cloned().unwrap_or(n)
    }
}

/// What an import did.
#[derive(Debug, Clone, Default)]
pub struct ImportSummary {
    pub labels_csv: PathBuf,
    pub images: usize,
    /// Images per label.
    pub per_label: BTreeMap<String, usize>,
    pub skipped: Vec<Skip>,
}

struct Row {
    src: PathBuf,
    /// Output path relative to `OUT`.
    rel: String,
    label: String,
    failure: bool,
    split: Option<String>,
    extra: BTreeMap<String, String>,
}

/// Runs an import. The output folder may exist but must not hold a `labels.csv` already.
pub fn import(opts: &ImportOptions) -> Result<ImportSummary, EvalError> {
    let map = LabelMap::default();
    let labels_csv = opts.out.join(super::LABELS_CSV);
    if labels_csv.exists() {
        return Err(EvalError::invalid(
            format!("--out {}", opts.out.display()),
            "already holds a labels.csv; choose an empty folder",
        ));
    }
    let mut skipped = vec![];
    let rows = match opts.from {
        ImportFrom::ClassFolders => class_folder_rows(opts, &map, &mut skipped)?,
        ImportFrom::Yolo => yolo_rows(opts, &map, &mut skipped)?,
        ImportFrom::Csv => csv_rows(opts, &map, &mut skipped)?,
    };
    if rows.is_empty() {
        return Err(EvalError::dataset(&opts.src, format!("nothing to import ({} input(s) skipped)", skipped.len())));
    }
    let source = opts.source.clone().unwrap_or_else(|| {
        opts.src.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "import".into())
    });
    let extra_cols: BTreeSet<String> = rows.iter().flat_map(|r| r.extra.keys().cloned()).collect();
    let extra_cols: Vec<String> = extra_cols
        .into_iter()
        .filter(|c| !["path", "label", "failure", "split", "source"].contains(&c.as_str()))
        .collect();
    std::fs::create_dir_all(&opts.out).map_err(|e| EvalError::io(&opts.out, e))?;
    let mut w = csv::Writer::from_path(&labels_csv).map_err(|e| EvalError::format(&labels_csv, None, e.to_string()))?;
    let mut header = vec!["path".to_string(), "label".into(), "failure".into(), "split".into(), "source".into()];
    header.extend(extra_cols.iter().cloned());
    w.write_record(&header).map_err(|e| EvalError::format(&labels_csv, None, e.to_string()))?;
    let mut summary = ImportSummary { labels_csv: labels_csv.clone(), ..Default::default() };
    let mut used = BTreeSet::new();
    for r in rows {
        let mut rel = r.rel.clone();
        let mut k = 1;
        while !used.insert(rel.clone()) {
            rel = format!("{}~{k}", r.rel);
            k += 1;
        }
        let dst = opts.out.join(&rel);
        if let Some(parent) = dst.parent() {
            std::fs::create_dir_all(parent).map_err(|e| EvalError::io(parent, e))?;
        }
        let placed = match opts.copy {
            CopyMode::Copy => std::fs::copy(&r.src, &dst).map(|_| ()),
            CopyMode::Symlink => {
                let abs = std::fs::canonicalize(&r.src).unwrap_or_else(|_| r.src.clone());
                std::os::unix::fs::symlink(abs, &dst)
            }
        };
        if let Err(e) = placed {
            skipped.push(Skip::new(
                SkipKind::MissingFile,
                &r.src,
                None,
                format!("cannot copy to {}: {e}", dst.display()),
            ));
            continue;
        }
        let mut rec = vec![
            rel,
            r.label.clone(),
            if r.failure { "1".into() } else { "0".into() },
            r.split.clone().unwrap_or_default(),
            source.clone(),
        ];
        rec.extend(extra_cols.iter().map(|c| r.extra.get(c).cloned().unwrap_or_default()));
        w.write_record(&rec).map_err(|e| EvalError::format(&labels_csv, None, e.to_string()))?;
        summary.images += 1;
        *summary.per_label.entry(r.label).or_insert(0) += 1;
    }
    w.flush().map_err(|e| EvalError::io(&labels_csv, e))?;
    for s in &skipped {
        s.log();
    }
    summary.skipped = skipped;
    Ok(summary)
}

/// Dataset label check: known to the taxonomy, else a skip advising `--map`.
fn known(label: &str, map: &LabelMap, what: &Path, line: Option<u64>, skipped: &mut Vec<Skip>) -> Option<bool> {
    match map.class_of(label) {
        Some(c) => Some(!map.is_normal_class(c)),
        None => {
            let why = format!(
                "unknown label {label:?} (known: {}; rename it with --map {label}=LABEL)",
                map.known_labels().join(", ")
            );
            skipped.push(Skip::new(SkipKind::UnknownLabel, what, line, why));
            None
        }
    }
}

fn rel_name(base: &Path, p: &Path) -> String {
    p.strip_prefix(base).unwrap_or(p).to_string_lossy().replace('\\', "/")
}

fn class_folder_rows(opts: &ImportOptions, map: &LabelMap, skipped: &mut Vec<Skip>) -> Result<Vec<Row>, EvalError> {
    let (_, groups) = super::class_folders::groups(&opts.src)?;
    let mut rows = vec![];
    for (split, dir) in groups {
        let label = opts.label_for(&super::class_folders::folder_label(&dir));
        let Some(failure) = known(&label, map, &dir, None, skipped) else { continue };
        for img in list_images(&dir).map_err(|e| EvalError::io(&dir, e))? {
            rows.push(Row {
                rel: format!("images/{}", rel_name(&opts.src, &img)),
                src: img,
                label: label.clone(),
                failure,
                split: split.clone(),
                extra: BTreeMap::new(),
            });
        }
    }
    Ok(rows)
}

fn yolo_rows(opts: &ImportOptions, map: &LabelMap, skipped: &mut Vec<Skip>) -> Result<Vec<Row>, EvalError> {
    let names = super::yolo::class_names(&opts.src)?;
    let labels: Vec<String> = names.iter().map(|n| opts.label_for(n)).collect();
    let is_failure: Vec<bool> = match &opts.failure_classes {
        Some(fc) => {
            let fc: Vec<String> = fc.iter().map(|c| normalise(c)).collect();
            for c in &fc {
                if !names.iter().any(|n| normalise(n) == *c) {
                    return Err(EvalError::invalid(
                        format!("--failure-classes {c}"),
                        format!("not a class of the export {names:?}"),
                    ));
                }
            }
            names.iter().map(|n| fc.contains(&normalise(n))).collect()
        }
        None => labels.iter().map(|l| map.class_of(l).is_some_and(|c| !map.is_normal_class(c))).collect(),
    };
    if !is_failure.iter().any(|f| *f) {
        return Err(EvalError::invalid(
            "yolo import",
            format!("none of the classes {names:?} is a failure label; give --failure-classes or --map CLASS=LABEL"),
        ));
    }
    for (i, f) in is_failure.iter().enumerate() {
        if *f && map.class_of(&labels[i]).is_none() {
            return Err(EvalError::invalid(
                "yolo import",
                format!("failure class {:?} has no known label; add --map {}=LABEL (e.g. failure)", names[i], names[i]),
            ));
        }
    }
    let parts = super::yolo::parts(&opts.src);
    if parts.is_empty() {
        return Err(EvalError::dataset(
            &opts.src,
            "YOLO export has no images/ folder (flat or under train/valid/test)",
        ));
    }
    let mut rows = vec![];
    for (split, images, label_dir) in parts {
        for img in list_images(&images).map_err(|e| EvalError::io(&images, e))? {
            let stem = img.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
            let lf = label_dir.join(format!("{stem}.txt"));
            let text = if lf.is_file() {
                std::fs::read_to_string(&lf).map_err(|e| EvalError::io(&lf, e))?
            } else {
                String::new()
            };
            let (boxes, bad) = super::yolo::parse_label_file(&text, names.len());
            for (line, why) in bad {
                skipped.push(Skip::new(SkipKind::BadRow, &lf, Some(line), format!("box ignored: {why}")));
            }
            let mut area: BTreeMap<usize, f32> = BTreeMap::new();
            for b in &boxes {
                *area.entry(b.class).or_insert(0.0) += b.area;
            }
            let top = area.iter().filter(|(c, _)| is_failure[**c]).max_by(|a, b| a.1.total_cmp(b.1)).map(|(c, _)| *c);
            let (label, failure) = match top {
                Some(c) => (labels[c].clone(), true),
                None => ("normal".to_string(), false),
            };
            let mut extra = BTreeMap::new();
            extra.insert("boxes".to_string(), boxes.len().to_string());
            let classes: BTreeSet<&str> = boxes.iter().map(|b| names[b.class].as_str()).collect();
            extra.insert("yolo_classes".to_string(), classes.into_iter().collect::<Vec<_>>().join(" "));
            rows.push(Row {
                rel: format!("images/{}", rel_name(&opts.src, &img)),
                src: img,
                label,
                failure,
                split: split.clone(),
                extra,
            });
        }
    }
    Ok(rows)
}

fn csv_rows(opts: &ImportOptions, map: &LabelMap, skipped: &mut Vec<Skip>) -> Result<Vec<Row>, EvalError> {
    let file = &opts.src;
    let base = file.parent().unwrap_or(Path::new("."));
    let mut rdr = csv::ReaderBuilder::new()
        .flexible(true)
        .trim(csv::Trim::All)
        .from_path(file)
        .map_err(|e| EvalError::format(file, None, format!("cannot read: {e}")))?;
    let headers: Vec<String> = rdr
        .headers()
        .map_err(|e| EvalError::format(file, Some(1), e.to_string()))?
        .iter()
        .map(|h| h.to_ascii_lowercase())
        .collect();
    let pos = |c: &str| headers.iter().position(|h| *h == c.to_ascii_lowercase());
    let (Some(pc), Some(lc)) = (pos(&opts.path_column), pos(&opts.label_column)) else {
        return Err(EvalError::format(
            file,
            Some(1),
            format!(
                "no column {:?} or {:?} in the header {headers:?} (see --path-column, --label-column)",
                opts.path_column, opts.label_column
            ),
        ));
    };
    let split_col = pos("split");
    let mut rows = vec![];
    for (i, rec) in rdr.records().enumerate() {
        let rec = match rec {
            Ok(r) => r,
            Err(e) => {
                skipped.push(Skip::new(SkipKind::BadRow, file, e.position().map(|p| p.line()), e.to_string()));
                continue;
            }
        };
        let line = rec.position().map(|p| p.line()).unwrap_or(i as u64 + 2);
        let (Some(p), Some(l)) = (rec.get(pc).filter(|s| !s.is_empty()), rec.get(lc).filter(|s| !s.is_empty())) else {
            skipped.push(Skip::new(SkipKind::BadRow, file, Some(line), "empty path or label"));
            continue;
        };
        let label = opts.label_for(l);
        let Some(failure) = known(&label, map, file, Some(line), skipped) else { continue };
        let src = base.join(p);
        if !src.is_file() {
            skipped.push(Skip::new(SkipKind::MissingFile, file, Some(line), format!("image {p} does not exist")));
            continue;
        }
        let extra = headers
            .iter()
            .enumerate()
            .filter(|(j, _)| *j != pc && *j != lc && Some(*j) != split_col)
            .map(|(j, h)| (h.clone(), rec.get(j).unwrap_or("").to_string()))
            .collect();
        let rel = format!("images/{}", rel_name(base, &src).trim_start_matches("../"));
        rows.push(Row { src, rel, label, failure, split: split_col.and_then(|c| rec.get(c)).map(String::from), extra });
    }
    Ok(rows)
}
