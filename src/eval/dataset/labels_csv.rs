//! Format (a), labels file: `labels.csv` with a header row naming at least
//! `path` and `label` (`failure`, `split`, `source` and any other columns are
//! optional and kept for breakdowns). Paths are relative to the file's folder.
//!
//! Bad rows never stop the load: a missing image, an unknown label, a
//! contradicting `failure` value or a duplicate path becomes a [`Skip`] that
//! names the file and line. A missing header column or an unreadable file is
//! an error.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};

use super::{ImageSet, LabelledImage, Selection};
use crate::eval::error::{EvalError, Skip, SkipKind};
use crate::eval::taxonomy::LabelMap;

/// Parses a `failure` cell: `0/1`, `true/false`, `yes/no` (any case).
pub fn parse_bool(s: &str) -> Option<bool> {
    match s.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "y" => Some(true),
        "0" | "false" | "no" | "n" => Some(false),
        _ => None,
    }
}

/// Loads a labels file. `sel` filters rows (split) before files are checked.
pub fn load(file: &Path, map: &LabelMap, sel: &Selection) -> Result<ImageSet, EvalError> {
    let root = file.parent().map(Path::to_path_buf).unwrap_or_else(|| PathBuf::from("."));
    let mut rdr = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(true)
        .trim(csv::Trim::All)
        .from_path(file)
        .map_err(|e| EvalError::format(file, None, format!("cannot read labels file: {e}")))?;
    let headers: Vec<String> = rdr
        .headers()
        .map_err(|e| EvalError::format(file, Some(1), format!("cannot read the header row: {e}")))?
        .iter()
        .map(|h| h.trim().to_ascii_lowercase())
        .collect();
    let col = |name: &str| headers.iter().position(|h| h == name);
    let (Some(path_col), Some(label_col)) = (col("path").or_else(|| col("file")), col("label")) else {
        return Err(EvalError::format(
            file,
            Some(1),
            format!("the header row must name `path` and `label` columns, found {headers:?}"),
        ));
    };
    let failure_col = col("failure");
    let split_col = col("split");
    if sel.split.is_some() && split_col.is_none() {
        return Err(EvalError::format(file, Some(1), "--split was given but the labels file has no `split` column"));
    }
    let mut set = ImageSet::new(root.clone(), Some(file.to_path_buf()));
    set.columns =
        headers.iter().filter(|h| !["path", "file", "label", "failure"].contains(&h.as_str())).cloned().collect();
    let mut seen = HashSet::new();
    for (i, rec) in rdr.records().enumerate() {
        let rec = match rec {
            Ok(r) => r,
            Err(e) => {
                let line = e.position().map(|p| p.line());
                set.skip(Skip::new(SkipKind::BadRow, file, line, format!("unreadable row: {e}")));
                continue;
            }
        };
        let line = rec.position().map(|p| p.line()).unwrap_or(i as u64 + 2);
        if rec.iter().all(str::is_empty) || rec.get(0).is_some_and(|f| f.starts_with('#')) {
            continue;
        }
        let columns: BTreeMap<String, String> = headers
            .iter()
            .enumerate()
            .filter(|(j, _)| ![path_col, label_col].contains(j) && Some(*j) != failure_col)
            .map(|(j, h)| (h.clone(), rec.get(j).unwrap_or("").to_string()))
            .collect();
        if let (Some(want), Some(c)) = (&sel.split, split_col)
            && rec.get(c).unwrap_or("") != want
        {
            continue;
        }
        let name = rec.get(path_col).unwrap_or("");
        let label = rec.get(label_col).unwrap_or("");
        if name.is_empty() || label.is_empty() {
            let why = format!("row has {} field(s); `path` and `label` must not be empty", rec.len());
            set.skip(Skip::new(SkipKind::BadRow, file, Some(line), why));
            continue;
        }
        let Some(class) = map.class_of(label) else {
            let why = format!(
                "unknown label {label:?} for {name} (known: {}; map it with --map {label}=CLASS)",
                map.known_labels().join(", ")
            );
            set.skip(Skip::new(SkipKind::UnknownLabel, file, Some(line), why));
            continue;
        };
        let mapped_failure = !map.is_normal_class(class);
        let failure = match failure_col.and_then(|c| rec.get(c)).filter(|v| !v.is_empty()) {
            None => mapped_failure,
            Some(v) => match parse_bool(v) {
                Some(f) if f == mapped_failure => f,
                Some(_) => {
                    let why = format!("failure = {v} contradicts label {label:?} (class {class}) for {name}");
                    set.skip(Skip::new(SkipKind::BadRow, file, Some(line), why));
                    continue;
                }
                None => {
                    let why = format!("failure = {v:?} is not 0/1 for {name}");
                    set.skip(Skip::new(SkipKind::BadRow, file, Some(line), why));
                    continue;
                }
            },
        };
        let path = root.join(name);
        if !seen.insert(path.clone()) {
            set.skip(Skip::new(SkipKind::Duplicate, file, Some(line), format!("{name} is listed more than once")));
            continue;
        }
        if !path.is_file() {
            set.skip(Skip::new(SkipKind::MissingFile, file, Some(line), format!("image {name} does not exist")));
            continue;
        }
        set.images.push(LabelledImage {
            path,
            name: name.to_string(),
            label: label.to_string(),
            class: class.to_string(),
            failure,
            line: Some(line),
            columns,
        });
    }
    Ok(set)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_become_images_or_named_skips() {
        let dir = tempfile::tempdir().unwrap();
        for f in ["a.jpg", "b.jpg", "c.jpg", "d.jpg"] {
            std::fs::write(dir.path().join(f), b"x").unwrap();
        }
        let csv = dir.path().join("labels.csv");
        std::fs::write(
            &csv,
            "path,label,failure,split,source\n\
             a.jpg,normal,0,test,s1\n\
             b.jpg,blobs,1,test,s2\n\
             missing.jpg,normal,0,test,s1\n\
             c.jpg,warping,1,test,s1\n\
             d.jpg,normal,1,test,s1\n\
             a.jpg,normal,0,test,s1\n\
             x.jpg,normal,0,train,s1\n\
             ,normal\n",
        )
        .unwrap();
        let sel = Selection { split: Some("test".into()) };
        let set = load(&csv, &LabelMap::default(), &sel).unwrap();
        let got: Vec<_> = set.images.iter().map(|i| (i.name.as_str(), i.class.as_str(), i.failure)).collect();
        assert_eq!(got, [("a.jpg", "normal", false), ("b.jpg", "surface", true)]);
        assert_eq!(set.images[1].columns.get("source").map(String::as_str), Some("s2"));
        let skips: Vec<String> = set.skipped.iter().map(|s| format!("{:?}@{:?}", s.kind, s.line)).collect();
        assert_eq!(skips, ["MissingFile@Some(4)", "UnknownLabel@Some(5)", "BadRow@Some(6)", "Duplicate@Some(7)"]);
        assert!(set.skipped[1].reason.contains("--map warping=CLASS"), "{}", set.skipped[1].reason);
    }

    #[test]
    fn header_problems_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let csv = dir.path().join("labels.csv");
        std::fs::write(&csv, "file_name,class\na.jpg,normal\n").unwrap();
        let e = load(&csv, &LabelMap::default(), &Selection::default()).unwrap_err().to_string();
        assert!(e.contains("labels.csv:1: the header row must name `path` and `label`"), "{e}");
        std::fs::write(&csv, "path,label\na.jpg,normal\n").unwrap();
        let e = load(&csv, &LabelMap::default(), &Selection { split: Some("test".into()) }).unwrap_err();
        assert!(e.to_string().contains("no `split` column"), "{e}");
    }
}
