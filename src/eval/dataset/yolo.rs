//! Reading Roboflow / Ultralytics YOLO exports: class names from `data.yaml`
//! (or `classes.txt` / `obj.names`), and per-image label files
//! (`class cx cy w h`, or `class x1 y1 x2 y2 …` for polygons).
//!
//! Only what the importer needs: no YAML library, just the two layouts of
//! `names:` that exports use (an inline `[...]` list, or a block of `- name`
//! or `0: name` lines).

use std::path::{Path, PathBuf};

use crate::eval::error::EvalError;

/// Class names in id order, from the export's root.
pub fn class_names(root: &Path) -> Result<Vec<String>, EvalError> {
    for f in ["data.yaml", "data.yml"] {
        let p = root.join(f);
        if p.is_file() {
            let text = std::fs::read_to_string(&p).map_err(|e| EvalError::io(&p, e))?;
            return parse_yaml_names(&text).map_err(|(line, m)| EvalError::format(&p, line, m));
        }
    }
    for f in ["classes.txt", "obj.names"] {
        let p = root.join(f);
        if p.is_file() {
            let text = std::fs::read_to_string(&p).map_err(|e| EvalError::io(&p, e))?;
            let names: Vec<String> = text.lines().map(str::trim).filter(|l| !l.is_empty()).map(String::from).collect();
            if names.is_empty() {
                return Err(EvalError::format(&p, None, "no class names"));
            }
            return Ok(names);
        }
    }
    Err(EvalError::dataset(root, "not a YOLO export: no data.yaml, classes.txt or obj.names"))
}

fn unquote(s: &str) -> String {
    let s = s.trim();
    let s = s.strip_prefix(['\'', '"']).unwrap_or(s);
    let s = s.strip_suffix(['\'', '"']).unwrap_or(s);
    s.trim().to_string()
}

/// The `names:` entry of a `data.yaml`. Errors carry the line.
pub fn parse_yaml_names(text: &str) -> Result<Vec<String>, (Option<u64>, String)> {
    let lines: Vec<&str> = text.lines().collect();
    let Some(start) = lines.iter().position(|l| l.trim_start().starts_with("names:") && !l.starts_with(' ')) else {
        return Err((None, "no top-level `names:` entry".into()));
    };
    let rest = lines[start].trim_start()["names:".len()..].trim();
    let line_no = Some(start as u64 + 1);
    let mut names = vec![];
    if !rest.is_empty() {
        // Inline list, possibly continued on the next lines until `]`.
        let mut buf = rest.to_string();
        let mut i = start + 1;
        while !buf.contains(']') && i < lines.len() {
            buf.push_str(lines[i]);
            i += 1;
        }
        let inner = buf
            .trim()
            .strip_prefix('[')
            .and_then(|b| b.split(']').next())
            .ok_or((line_no, format!("cannot read names: {rest}")))?;
        names.extend(inner.split(',').map(unquote).filter(|s| !s.is_empty()));
    } else {
        for (j, l) in lines.iter().enumerate().skip(start + 1) {
            if l.trim().is_empty() || l.trim_start().starts_with('#') {
                continue;
            }
            if !l.starts_with(' ') && !l.starts_with('\t') && !l.starts_with('-') {
                break;
            }
            let t = l.trim();
            if let Some(n) = t.strip_prefix('-') {
                names.push(unquote(n));
            } else if let Some((k, v)) = t.split_once(':') {
                let id: usize =
                    k.trim().parse().map_err(|_| (Some(j as u64 + 1), format!("expected `ID: name`, got {t:?}")))?;
                if id != names.len() {
                    return Err((
                        Some(j as u64 + 1),
                        format!("class ids must count up from 0; got {id} after {} names", names.len()),
                    ));
                }
                names.push(unquote(v));
            } else {
                return Err((Some(j as u64 + 1), format!("cannot read a class name from {t:?}")));
            }
        }
    }
    if names.is_empty() {
        return Err((line_no, "`names:` lists no classes".into()));
    }
    Ok(names)
}

/// One object in a label file.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct YoloBox {
    pub class: usize,
    /// Normalised area (w × h, or the polygon's bounding box).
    pub area: f32,
}

/// Parses one label file's text; bad lines are returned as `(line, why)`.
pub fn parse_label_file(text: &str, classes: usize) -> (Vec<YoloBox>, Vec<(u64, String)>) {
    let mut boxes = vec![];
    let mut bad = vec![];
    for (i, l) in text.lines().enumerate() {
        let n = i as u64 + 1;
        let f: Vec<&str> = l.split_whitespace().collect();
        if f.is_empty() {
            continue;
        }
        let Ok(class) = f[0].parse::<usize>() else {
            bad.push((n, format!("class id {:?} is not a number", f[0])));
            continue;
        };
        if class >= classes {
            bad.push((n, format!("class id {class} but only {classes} class names")));
            continue;
        }
        let nums: Result<Vec<f32>, _> = f[1..].iter().map(|v| v.parse::<f32>()).collect();
        let Ok(nums) = nums else {
            bad.push((n, "coordinates are not numbers".into()));
            continue;
        };
        let area = match nums.len() {
            4 => nums[2] * nums[3],
            k if k >= 6 && k % 2 == 0 => {
                let xs = nums.iter().step_by(2);
                let ys = nums.iter().skip(1).step_by(2);
                let (x0, x1) = xs.fold((f32::MAX, f32::MIN), |(a, b), v| (a.min(*v), b.max(*v)));
                let (y0, y1) = ys.fold((f32::MAX, f32::MIN), |(a, b), v| (a.min(*v), b.max(*v)));
                (x1 - x0) * (y1 - y0)
            }
            k => {
                bad.push((n, format!("expected 4 box coordinates or a polygon, got {k} numbers")));
                continue;
            }
        };
        if !area.is_finite() || area < 0.0 {
            bad.push((n, "box has a negative or invalid size".into()));
            continue;
        }
        boxes.push(YoloBox { class, area });
    }
    (boxes, bad)
}

/// `(split, images dir, labels dir)` for each part of an export: `train/`,
/// `valid/`, `test/` each with `images/` and `labels/`, or a flat `images/` + `labels/`.
pub fn parts(root: &Path) -> Vec<(Option<String>, PathBuf, PathBuf)> {
    let mut out = vec![];
    for split in ["train", "valid", "val", "test"] {
        let d = root.join(split);
        if d.join("images").is_dir() {
            let s = super::class_folders::canonical_split(split).to_string();
            out.push((Some(s), d.join("images"), d.join("labels")));
        }
    }
    if out.is_empty() && root.join("images").is_dir() {
        out.push((None, root.join("images"), root.join("labels")));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yaml_names_in_the_layouts_exports_use() {
        assert_eq!(
            parse_yaml_names("nc: 2\nnames: ['printer-gantry', \"spaghetti\"]\n").unwrap(),
            ["printer-gantry", "spaghetti"]
        );
        assert_eq!(parse_yaml_names("train: x\nnames:\n  - fail\n  - ok\nnc: 2\n").unwrap(), ["fail", "ok"]);
        assert_eq!(parse_yaml_names("names:\n  0: fail\n  1: 'ok'\n").unwrap(), ["fail", "ok"]);
        assert_eq!(parse_yaml_names("names: [a,\n b]\n").unwrap(), ["a", "b"]);
        assert_eq!(parse_yaml_names("names:\n  1: fail\n").unwrap_err().0, Some(2));
        assert!(parse_yaml_names("nc: 1\n").is_err());
    }

    #[test]
    fn label_lines() {
        let (b, bad) =
            parse_label_file("1 0.5 0.5 0.2 0.5\n0 0.1 0.1 0.3 0.1 0.3 0.4\n7 0 0 1 1\nx 1 1 1 1\n1 0.5\n", 2);
        assert_eq!(b.len(), 2);
        assert!((b[0].area - 0.1).abs() < 1e-6 && (b[1].area - 0.06).abs() < 1e-6, "{b:?}");
        assert_eq!(bad.iter().map(|(l, _)| *l).collect::<Vec<_>>(), [3, 4, 5]);
    }
}
