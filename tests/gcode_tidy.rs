//! Source rules for `src/gcode` that the compiler does not check: every file
//! starts with a `//!` doc saying what it owns, and nothing reaches outside
//! the module (the fuzz targets compile it on its own), and files stay small.

use std::path::{Path, PathBuf};

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn gcode_sources_are_documented_self_contained_and_small() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    rust_files(&root.join("src/gcode"), &mut files);
    files.push(root.join("src/cli/gcode.rs"));
    assert!(files.len() > 10);
    let mut problems = Vec::new();
    for f in &files {
        let text = std::fs::read_to_string(f).unwrap();
        let name = f.strip_prefix(&root).unwrap().display().to_string();
        if !text.starts_with("//! ") {
            problems.push(format!("{name}: no //! doc at the top"));
        }
        if name.starts_with("src/gcode") {
            for (n, line) in text.lines().enumerate() {
                let code = line.split("//").next().unwrap_or("");
                if let Some(p) = code.find("crate::")
                    && !code[p..].starts_with("crate::gcode")
                {
                    problems.push(format!("{name}:{}: reaches outside the module: {line}", n + 1));
                }
            }
        }
        let lines = text.lines().count();
        if lines > 600 {
            problems.push(format!("{name}: {lines} lines"));
        }
    }
    assert!(problems.is_empty(), "{problems:#?}");
}
