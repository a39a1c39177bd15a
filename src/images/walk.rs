//! The one folder walker: files and sub-folders under a root to a given depth,
//! following symbolic links but entering each real folder once (by device and
//! inode), so `l1 -> .` or `sub/loop -> ..` neither hangs nor counts an image
//! twice. Entries come in natural name order (`f2.jpg` before `f10.jpg`);
//! hidden entries (`.name`) are skipped. What could not be entered is reported,
//! not fatal, except the root itself.

use std::cmp::Ordering;
use std::collections::HashSet;
use std::path::{Path, PathBuf};

use super::IMAGE_EXTENSIONS;

/// Whether `path` has an image extension (see [`IMAGE_EXTENSIONS`]).
pub fn is_image_path(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| IMAGE_EXTENSIONS.iter().any(|x| x.eq_ignore_ascii_case(e)))
}

/// A folder entry the walk did not enter, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WalkSkip {
    pub path: PathBuf,
    pub why: String,
}

/// What [`walk`] found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Walk {
    /// Regular files (links followed), in walk order: a folder's files in
    /// natural order, then its sub-folders' files.
    pub files: Vec<PathBuf>,
    /// Sub-folders entered (not the root), in the same order.
    pub dirs: Vec<PathBuf>,
    /// Folders seen again through a link (cycles, duplicates), and unreadable folders.
    pub skipped: Vec<WalkSkip>,
}

impl Walk {
    /// The image files ([`is_image_path`]).
    pub fn images(&self) -> Vec<PathBuf> {
        self.files.iter().filter(|p| is_image_path(p)).cloned().collect()
    }
}

#[cfg(unix)]
fn identity(meta: &std::fs::Metadata) -> (u64, u64) {
    use std::os::unix::fs::MetadataExt;
    (meta.dev(), meta.ino())
}

#[cfg(not(unix))]
fn identity(_meta: &std::fs::Metadata) -> (u64, u64) {
    (0, 0)
}

/// Walks `root` down to `depth` levels of sub-folders (0: the root's own files only).
/// Errors only when `root` cannot be listed.
pub fn walk(root: &Path, depth: usize) -> std::io::Result<Walk> {
    let mut out = Walk::default();
    let mut seen = HashSet::new();
    seen.insert(identity(&std::fs::metadata(root)?));
    // Depth-first with an explicit stack; children pushed in reverse keep natural order.
    let mut stack = vec![(root.to_path_buf(), 0usize)];
    let mut first = true;
    while let Some((dir, level)) = stack.pop() {
        let entries = match list(&dir) {
            Ok(e) => e,
            Err(e) if first => return Err(e),
            Err(e) => {
                out.skipped.push(WalkSkip { path: dir, why: format!("cannot list: {e}") });
                continue;
            }
        };
        first = false;
        let mut subdirs = vec![];
        for path in entries {
            let Ok(meta) = std::fs::metadata(&path) else { continue }; // dangling link
            if meta.is_file() {
                out.files.push(path);
            } else if meta.is_dir() {
                if level >= depth {
                    continue;
                }
                if !seen.insert(identity(&meta)) {
                    out.skipped.push(WalkSkip {
                        path,
                        why: "already visited through another path (a symbolic link loop or duplicate)".into(),
                    });
                    continue;
                }
                out.dirs.push(path.clone());
                subdirs.push(path);
            }
        }
        stack.extend(subdirs.into_iter().rev().map(|d| (d, level + 1)));
    }
    Ok(out)
}

/// The visible entries of `dir`, in natural name order.
fn list(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut v = vec![];
    for e in std::fs::read_dir(dir)? {
        let e = e?;
        if e.file_name().to_string_lossy().starts_with('.') {
            continue;
        }
        v.push(e.path());
    }
    v.sort_by(|a, b| {
        let (a, b) = (a.file_name().unwrap_or_default(), b.file_name().unwrap_or_default());
        natural_cmp(&a.to_string_lossy(), &b.to_string_lossy())
    });
    Ok(v)
}

/// Compares names the way people number files: digit runs by value, the rest by
/// text ignoring case; exact ties (`f2`/`f02`, `a`/`A`) fall back to byte order.
pub fn natural_cmp(a: &str, b: &str) -> Ordering {
    natural_cmp_folded(a.as_bytes(), b.as_bytes()).then_with(|| a.cmp(b))
}

fn natural_cmp_folded(mut a: &[u8], mut b: &[u8]) -> Ordering {
    loop {
        match (a.first(), b.first()) {
            (None, None) => return Ordering::Equal,
            (None, Some(_)) => return Ordering::Less,
            (Some(_), None) => return Ordering::Greater,
            (Some(x), Some(y)) if x.is_ascii_digit() && y.is_ascii_digit() => {
                let da = a.iter().take_while(|c| c.is_ascii_digit()).count();
                let db = b.iter().take_while(|c| c.is_ascii_digit()).count();
                let (ta, tb) = (trim_zeros(&a[..da]), trim_zeros(&b[..db]));
                let ord = ta.len().cmp(&tb.len()).then_with(|| ta.cmp(tb));
                if ord != Ordering::Equal {
                    return ord;
                }
                a = &a[da..];
                b = &b[db..];
            }
            (Some(x), Some(y)) => {
                let ord = x.to_ascii_lowercase().cmp(&y.to_ascii_lowercase());
                if ord != Ordering::Equal {
                    return ord;
                }
                a = &a[1..];
                b = &b[1..];
            }
        }
    }
}

fn trim_zeros(d: &[u8]) -> &[u8] {
    let z = d.iter().take_while(|c| **c == b'0').count();
    &d[z..]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn natural_order() {
        let mut names = vec!["f10.jpg", "f2.jpg", "F1.jpg", "f02.jpg", "f1.png", "a.jpg", "f2b.jpg", "f0010.jpg"];
        names.sort_by(|a, b| natural_cmp(a, b));
        assert_eq!(names, ["a.jpg", "F1.jpg", "f1.png", "f02.jpg", "f2.jpg", "f2b.jpg", "f0010.jpg", "f10.jpg"]);
    }

    fn rel(root: &Path, v: &[PathBuf]) -> Vec<String> {
        v.iter().map(|p| p.strip_prefix(root).unwrap().display().to_string()).collect()
    }

    /// Issue 13 item 3: `l1 -> .`, `l2 -> .` hung `classify`; `sub/loop -> ..` counted each image ~41 times.
    #[cfg(unix)]
    #[test]
    fn symlink_cycles_are_entered_once() {
        use std::os::unix::fs::symlink;
        let d = tempfile::tempdir().unwrap();
        let root = d.path();
        std::fs::create_dir(root.join("sub")).unwrap();
        for f in ["a.jpg", "sub/b.png", "notes.txt", ".hidden.jpg"] {
            std::fs::write(root.join(f), b"x").unwrap();
        }
        symlink(".", root.join("l1")).unwrap();
        symlink(".", root.join("l2")).unwrap();
        symlink("..", root.join("sub/loop")).unwrap();
        symlink("missing", root.join("dangling.jpg")).unwrap();
        let w = walk(root, 64).unwrap();
        assert_eq!(rel(root, &w.images()), ["a.jpg", "sub/b.png"]);
        assert_eq!(rel(root, &w.dirs), ["sub"]);
        let skipped: Vec<_> = w.skipped.iter().map(|s| s.path.clone()).collect();
        assert_eq!(rel(root, &skipped), ["l1", "l2", "sub/loop"]);
        assert!(w.skipped[0].why.contains("symbolic link loop"), "{:?}", w.skipped[0]);
    }

    #[test]
    fn depth_limits_the_walk_and_a_missing_root_is_an_error() {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(d.path().join("a/b")).unwrap();
        std::fs::write(d.path().join("top.jpg"), b"x").unwrap();
        std::fs::write(d.path().join("a/b/deep.jpg"), b"x").unwrap();
        assert_eq!(rel(d.path(), &walk(d.path(), 0).unwrap().images()), ["top.jpg"]);
        assert_eq!(rel(d.path(), &walk(d.path(), 2).unwrap().images()), ["top.jpg", "a/b/deep.jpg"]);
        assert!(walk(&d.path().join("nope"), 3).is_err());
    }
}
