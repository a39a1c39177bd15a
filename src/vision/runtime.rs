//! Finding and loading the ONNX Runtime shared library, once per process.
//!
//! Owns the search order: `vision.ort_library` (config), then `ORT_DYLIB_PATH`,
//! then `libonnxruntime.so*` next to the executable, then `<repo>/.tools/ort/`
//! when running from a checkout, then layerwatch's own library folders
//! (`/usr/local/lib/layerwatch` for a hand install, `/usr/lib/layerwatch` for the
//! Debian package), then the system library folders. An explicit
//! choice (config or environment variable) that cannot be loaded is an error,
//! not a reason to keep looking; discovered places are tried in order. Loading
//! goes through `ort::init_from`, which returns an error (plain `ort::init`
//! panics when the library is missing). The one `ort` environment lives for
//! the rest of the process.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use ort::environment::Environment;

use super::VisionError;

/// How to get the library, appended to every "not found" error.
pub const HOW_TO_INSTALL: &str = "install it with `scripts/setup.sh base` (puts .tools/ort/libonnxruntime.so in the \
     checkout), or copy libonnxruntime.so (1.31 or newer, from the onnxruntime PyPI wheel) next to the layerwatch \
     binary, or set vision.ort_library / ORT_DYLIB_PATH";

/// Where a candidate library path came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    Config,
    EnvVar,
    NextToExecutable,
    Checkout,
    System,
}

impl Origin {
    fn explicit(self) -> bool {
        matches!(self, Origin::Config | Origin::EnvVar)
    }

    /// Where the library was found, in words.
    pub fn describe(self) -> &'static str {
        match self {
            Origin::Config => "vision.ort_library",
            Origin::EnvVar => "ORT_DYLIB_PATH",
            Origin::NextToExecutable => "next to the executable",
            Origin::Checkout => "the checkout's .tools/ort",
            Origin::System => "system library folder",
        }
    }
}

/// The oldest ONNX Runtime API the binary works with (the `ort` crate's `api-31` feature).
pub const MIN_API: u32 = 31;

/// The places the search looks at, gathered from outside so the choice itself is pure.
#[derive(Debug, Clone, Default)]
pub struct SearchInputs {
    pub config: Option<PathBuf>,
    pub env_var: Option<PathBuf>,
    pub exe_dir: Option<PathBuf>,
    pub repo_root: Option<PathBuf>,
    pub system_dirs: Vec<PathBuf>,
}

impl SearchInputs {
    /// This process's inputs: the given config value, `ORT_DYLIB_PATH`, the executable's folder,
    /// the checkout (if any), layerwatch's own library folders (hand install, then the Debian package's)
    /// and the usual library folders.
    pub fn from_process(config: Option<&Path>) -> SearchInputs {
        let arch_dir = format!("/usr/lib/{}-linux-gnu", std::env::consts::ARCH);
        SearchInputs {
            config: config.map(Path::to_path_buf),
            env_var: std::env::var_os("ORT_DYLIB_PATH")
                .filter(|v| !v.is_empty())
                .map(PathBuf::from),
            exe_dir: std::env::current_exe()
                .ok()
                .and_then(|p| p.parent().map(Path::to_path_buf)),
            repo_root: crate::repo_root(),
            system_dirs: [
                "/usr/local/lib/layerwatch",
                "/usr/lib/layerwatch",
                "/usr/local/lib",
                "/usr/lib",
                &arch_dir,
                "/usr/lib64",
            ]
                .iter()
                .map(PathBuf::from)
                .collect(),
        }
    }
}

/// Picks the library file to load. `Err` lists every place looked at and how to install it.
pub fn locate(inputs: &SearchInputs) -> Result<(PathBuf, Origin), VisionError> {
    for (path, origin) in [(&inputs.config, Origin::Config), (&inputs.env_var, Origin::EnvVar)] {
        if let Some(p) = path {
            return if p.is_file() {
                Ok((p.clone(), origin))
            } else {
                Err(VisionError::Runtime(format!(
                    "onnx runtime library {} (from {}) does not exist; {HOW_TO_INSTALL}",
                    p.display(),
                    origin.describe()
                )))
            };
        }
    }
    let mut tried = Vec::new();
    let mut dirs: Vec<(PathBuf, Origin)> = Vec::new();
    if let Some(d) = &inputs.exe_dir {
        dirs.push((d.clone(), Origin::NextToExecutable));
    }
    if let Some(r) = &inputs.repo_root {
        dirs.push((r.join(".tools").join("ort"), Origin::Checkout));
    }
    dirs.extend(inputs.system_dirs.iter().map(|d| (d.clone(), Origin::System)));
    for (dir, origin) in dirs {
        if let Some(found) = find_in_dir(&dir) {
            return Ok((found, origin));
        }
        tried.push(dir.display().to_string());
    }
    Err(VisionError::Runtime(format!(
        "onnx runtime library (libonnxruntime.so) not found; looked in {}; {HOW_TO_INSTALL}",
        tried.join(", ")
    )))
}

/// `libonnxruntime.so`, else `libonnxruntime.so.1`, else the highest `libonnxruntime.so.1.*`.
fn find_in_dir(dir: &Path) -> Option<PathBuf> {
    for name in ["libonnxruntime.so", "libonnxruntime.so.1"] {
        let p = dir.join(name);
        if p.is_file() {
            return Some(p);
        }
    }
    let mut versioned: Vec<PathBuf> = std::fs::read_dir(dir)
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("libonnxruntime.so."))
        })
        .filter(|p| p.is_file())
        .collect();
    versioned.sort();
    versioned.pop()
}

static ENVIRONMENT: Mutex<Option<(Environment, PathBuf)>> = Mutex::new(None);

/// The process's ONNX Runtime environment, loading the library on first use.
///
/// A later call with another explicit library path gets the environment already
/// loaded (one library per process) and a warning; a missing explicit path is
/// still an error, so a wrong config never passes silently.
pub fn environment(config: Option<&Path>) -> Result<Environment, VisionError> {
    let inputs = SearchInputs::from_process(config);
    let (path, origin) = locate(&inputs)?;
    let mut guard = ENVIRONMENT.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    if let Some((env, loaded)) = guard.as_ref() {
        if origin.explicit() && !same_file(loaded, &path) {
            tracing::warn!(
                requested = %path.display(),
                loaded = %loaded.display(),
                "onnx runtime already loaded from another file; one library per process, keeping the loaded one"
            );
        }
        return Ok(env.clone());
    }
    let builder = ort::init_from(&path).map_err(|e| {
        VisionError::Runtime(format!(
            "cannot load onnx runtime from {} (from {}): {e}; {HOW_TO_INSTALL}",
            path.display(),
            origin.describe()
        ))
    })?;
    let env = builder
        .with_name("layerwatch")
        .with_telemetry(false)
        .build()
        .map_err(|e| VisionError::Runtime(format!("cannot create the onnx runtime environment: {e}")))?;
    tracing::info!(library = %path.display(), origin = origin.describe(), "onnx runtime loaded");
    *guard = Some((env.clone(), path));
    Ok(env)
}

fn same_file(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(x), Ok(y)) => x == y,
        _ => a == b,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn show(r: Result<(PathBuf, Origin), VisionError>, root: &Path) -> String {
        let s = match r {
            Ok((p, o)) => format!("{} ({o:?})", p.display()),
            Err(e) => e.to_string(),
        };
        s.replace(&root.display().to_string(), "$TMP")
            .replace(HOW_TO_INSTALL, "<how to install>")
    }

    #[test]
    fn search_order() {
        let tmp = tempfile::tempdir().unwrap();
        let t = tmp.path();
        let mk = |rel: &str| {
            let p = t.join(rel);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(&p, b"x").unwrap();
            p
        };
        let exe = t.join("bin");
        let repo = t.join("repo");
        let sys = t.join("usr/lib");
        std::fs::create_dir_all(&exe).unwrap();
        std::fs::create_dir_all(&sys).unwrap();
        let base = SearchInputs {
            config: None,
            env_var: None,
            exe_dir: Some(exe.clone()),
            repo_root: Some(repo.clone()),
            system_dirs: vec![sys.clone()],
        };
        let mut out = vec![show(locate(&base), t)];
        mk("usr/lib/libonnxruntime.so.1.31.1");
        mk("usr/lib/libonnxruntime.so.1.20.0");
        out.push(show(locate(&base), t));
        mk("repo/.tools/ort/libonnxruntime.so");
        out.push(show(locate(&base), t));
        mk("bin/libonnxruntime.so.1");
        out.push(show(locate(&base), t));
        let env = SearchInputs {
            env_var: Some(t.join("nope.so")),
            ..base.clone()
        };
        out.push(show(locate(&env), t));
        let cfg = SearchInputs {
            config: Some(mk("cfg/ort.so")),
            ..env.clone()
        };
        out.push(show(locate(&cfg), t));
        expect_test::expect![[r#"
            onnx runtime: onnx runtime library (libonnxruntime.so) not found; looked in $TMP/bin, $TMP/repo/.tools/ort, $TMP/usr/lib; <how to install>
            $TMP/usr/lib/libonnxruntime.so.1.31.1 (System)
            $TMP/repo/.tools/ort/libonnxruntime.so (Checkout)
            $TMP/bin/libonnxruntime.so.1 (NextToExecutable)
            onnx runtime: onnx runtime library $TMP/nope.so (from ORT_DYLIB_PATH) does not exist; <how to install>
            $TMP/cfg/ort.so (Config)"#]]
        .assert_eq(&out.join("\n"));
    }
}
