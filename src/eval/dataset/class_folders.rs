//! Format (a), class folders: `ROOT/<label>/*.jpg`, or with splits
//! `ROOT/<split>/<label>/*.jpg` when every top-level folder is a split name
//! (`train`, `val`, `valid`, `validation`, `test`). Images directly in a
//! label folder only; the folder name is the dataset label.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::{ImageSet, LabelledImage, Selection};
use crate::capture::folder::list_images;
use crate::eval::error::{EvalError, Skip, SkipKind};
use crate::eval::taxonomy::LabelMap;

/// Folder names that mean a split rather than a label.
pub const SPLIT_NAMES: [&str; 5] = ["train", "val", "valid", "validation", "test"];

/// Canonical split name (`valid`/`validation` → `val`).
pub fn canonical_split(name: &str) -> &str {
    match name {
        "valid" | "validation" => "val",
        other => other,
    }
}

/// The visible sub-folders of `dir`, each real folder once (`images::walk`).
fn subdirs(dir: &Path) -> Result<Vec<PathBuf>, EvalError> {
    let mut out = crate::images::walk(dir, 1).map_err(|e| EvalError::io(dir, e))?.dirs;
    out.sort();
    Ok(out)
}

fn dir_name(p: &Path) -> String {
    p.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()
}

/// Whether `dir` looks like class folders (a sub-folder, or split/sub-folder, with images).
pub fn looks_like(dir: &Path) -> bool {
    let Ok(subs) = subdirs(dir) else { return false };
    subs.iter().any(|s| {
        list_images(s).is_ok_and(|v| !v.is_empty())
            || subdirs(s).is_ok_and(|ss| ss.iter().any(|x| list_images(x).is_ok_and(|v| !v.is_empty())))
    })
}

/// The label folders under `root`: `(split, folder)`, with the split when the
/// top level is split names. `None` for the split layout flag means no folders.
pub fn groups(root: &Path) -> Result<(bool, Vec<(Option<String>, PathBuf)>), EvalError> {
    let top = subdirs(root)?;
    let split_layout = !top.is_empty() && top.iter().all(|d| SPLIT_NAMES.contains(&dir_name(d).as_str()));
    let mut groups: Vec<(Option<String>, PathBuf)> = vec![];
    if split_layout {
        for s in &top {
            let split = canonical_split(&dir_name(s)).to_string();
            for c in subdirs(s)? {
                groups.push((Some(split.clone()), c));
            }
        }
    } else {
        groups.extend(top.into_iter().map(|c| (None, c)));
    }
    Ok((split_layout, groups))
}

/// The label a folder stands for (its name).
pub fn folder_label(dir: &Path) -> String {
    dir_name(dir)
}

/// Loads class folders; unknown labels become one skip per folder.
pub fn load(root: &Path, map: &LabelMap, sel: &Selection) -> Result<ImageSet, EvalError> {
    let (split_layout, groups) = groups(root)?;
    if !split_layout && sel.split.is_some() {
        return Err(EvalError::dataset(
            root,
            format!("--split was given but the class folders have no split level ({})", SPLIT_NAMES.join(", ")),
        ));
    }
    let mut set = ImageSet::new(root.to_path_buf(), None);
    if split_layout {
        set.columns = vec!["split".into()];
    }
    for (split, dir) in groups {
        if let (Some(want), Some(have)) = (&sel.split, &split)
            && want != have
        {
            continue;
        }
        let label = dir_name(&dir);
        let images = list_images(&dir).map_err(|e| EvalError::io(&dir, e))?;
        let Some(class) = map.class_of(&label) else {
            let why = format!(
                "unknown label {label:?}: {} image(s) left out (known: {}; map it with --map {label}=CLASS)",
                images.len(),
                map.known_labels().join(", ")
            );
            set.skip(Skip::new(SkipKind::UnknownLabel, &dir, None, why));
            continue;
        };
        for path in images {
            let name = path.strip_prefix(root).unwrap_or(&path).display().to_string();
            let mut columns = BTreeMap::new();
            if let Some(s) = &split {
                columns.insert("split".to_string(), s.clone());
            }
            set.images.push(LabelledImage {
                path,
                name,
                label: label.clone(),
                class: class.to_string(),
                failure: !map.is_normal_class(class),
                line: None,
                columns,
            });
        }
    }
    Ok(set)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folders_with_and_without_splits() {
        let dir = tempfile::tempdir().unwrap();
        let put = |p: &str| {
            let p = dir.path().join(p);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, b"x").unwrap();
        };
        put("test/normal/a.jpg");
        put("test/Spaghetti/b.jpg");
        put("train/normal/c.jpg");
        put("test/warping/d.jpg");
        let set = load(dir.path(), &LabelMap::default(), &Selection { split: Some("test".into()) }).unwrap();
        let got: Vec<_> = set.images.iter().map(|i| (i.name.as_str(), i.class.as_str(), i.failure)).collect();
        assert_eq!(got, [("test/Spaghetti/b.jpg", "spaghetti", true), ("test/normal/a.jpg", "normal", false)]);
        assert_eq!(set.skipped.len(), 1);
        assert!(set.skipped[0].reason.contains("unknown label \"warping\": 1 image(s)"));
        assert!(looks_like(dir.path()));
        let flat = dir.path().join("test");
        let set = load(&flat, &LabelMap::default(), &Selection::default()).unwrap();
        assert_eq!(set.images.len(), 2);
        assert!(load(&flat, &LabelMap::default(), &Selection { split: Some("test".into()) }).is_err());
    }
}
