//! The model description (`models/classifier.toml`) and the model bytes it vouches for.
//!
//! Owns parsing and checking the description (unknown keys refused, labels,
//! input size, resize mode), verifying the ONNX file's sha256, and the model
//! built into the binary (`include_bytes!` of `models/`), so a default install
//! needs no model files. Checking the description against the ONNX graph
//! itself happens when a session is created (`onnx.rs`).

use std::borrow::Cow;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Deserialize;
use sha2::{Digest, Sha256};

use super::config::Precision;
use super::VisionError;
use crate::domain::{ClassScore, Scores};

/// How far a probability row may stray from summing to 1 before it is refused.
const SUM_TOLERANCE: f32 = 1e-3;

const BUILTIN_TOML: &str = include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/models/classifier.toml"));
static BUILTIN_ONNX: &[u8] = include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/models/classifier.onnx"));
const BUILTIN_INT8_TOML: &str = include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/models/classifier-int8.toml"));
static BUILTIN_INT8_ONNX: &[u8] =
    include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/models/classifier-int8.onnx"));

/// How a frame is fitted to the model's input size. Only what the training side does is accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ResizeMode {
    /// Both axes scaled independently to the input size (no aspect keeping).
    Stretch,
}

/// `classifier.toml`, as written by `training/export.py`.
#[derive(Debug, Clone, PartialEq, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct ModelSpec {
    pub name: String,
    /// The ONNX file, relative to the description's folder.
    pub onnx: PathBuf,
    /// Lower-case hex sha256 of the ONNX file.
    pub sha256: String,
    pub input_name: String,
    pub output_name: String,
    pub input_width: u32,
    pub input_height: u32,
    pub resize: ResizeMode,
    /// Class labels in the order of the output's second axis.
    pub labels: Vec<String>,
    /// The label meaning "no failure"; failure probability is `1 - p(normal_label)`.
    pub normal_label: String,
}

impl ModelSpec {
    /// Parses and checks a description; `origin` names it in errors.
    pub fn parse(text: &str, origin: &str) -> Result<ModelSpec, VisionError> {
        let spec: ModelSpec =
            toml::from_str(text).map_err(|e| model_err(origin, format!("invalid description: {}", e.message())))?;
        spec.check().map_err(|reason| model_err(origin, reason))?;
        Ok(spec)
    }

    fn check(&self) -> Result<(), String> {
        if self.sha256.len() != 64 || !self.sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(format!("sha256 = {:?}: expected 64 hex digits", self.sha256));
        }
        for (key, v) in [("input_width", self.input_width), ("input_height", self.input_height)] {
            if !(8..=4096).contains(&v) {
                return Err(format!("{key} = {v}: must be between 8 and 4096"));
            }
        }
        if self.labels.len() < 2 {
            return Err(format!("labels = {:?}: need at least two classes", self.labels));
        }
        for (i, l) in self.labels.iter().enumerate() {
            if l.trim().is_empty() || self.labels[..i].contains(l) {
                return Err(format!("labels = {:?}: label {l:?} is empty or repeated", self.labels));
            }
        }
        if !self.labels.contains(&self.normal_label) {
            return Err(format!(
                "normal_label = {:?} is not one of labels {:?}",
                self.normal_label, self.labels
            ));
        }
        if self.input_name.is_empty() || self.output_name.is_empty() {
            return Err("input_name and output_name must not be empty".into());
        }
        Ok(())
    }

    /// Index of `normal_label` in `labels`.
    pub fn normal_index(&self) -> usize {
        self.labels.iter().position(|l| *l == self.normal_label).unwrap_or(0)
    }
}

/// Where a model came from: for logs, errors and reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ModelSource {
    BuiltIn,
    /// The description file; the ONNX file sits beside it.
    File {
        description: PathBuf,
        onnx: PathBuf,
    },
}

impl std::fmt::Display for ModelSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ModelSource::BuiltIn => f.write_str("built-in model"),
            ModelSource::File { onnx, .. } => write!(f, "{}", onnx.display()),
        }
    }
}

/// A checked description with the exact bytes its sha256 names.
#[derive(Clone)]
pub struct Model {
    pub spec: ModelSpec,
    pub labels: Vec<Arc<str>>,
    pub source: ModelSource,
    bytes: Cow<'static, [u8]>,
}

impl std::fmt::Debug for Model {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Model({} from {}, {} bytes)",
            self.spec.name,
            self.source,
            self.bytes.len()
        )
    }
}

impl Model {
    /// The default model compiled into this binary (from `models/` at build time), sha256-checked.
    pub fn built_in() -> Result<Model, VisionError> {
        Model::built_in_precision(Precision::default())
    }

    /// One of the two built-in models: the float32 network or its int8 quantisation.
    pub fn built_in_precision(precision: Precision) -> Result<Model, VisionError> {
        let (toml, origin, onnx) = match precision {
            Precision::Fp32 => (BUILTIN_TOML, "built-in classifier.toml", BUILTIN_ONNX),
            Precision::Int8 => (BUILTIN_INT8_TOML, "built-in classifier-int8.toml", BUILTIN_INT8_ONNX),
        };
        let spec = ModelSpec::parse(toml, origin)?;
        Model::new(spec, Cow::Borrowed(onnx), ModelSource::BuiltIn)
    }

    /// Loads a description file and the ONNX file it names (relative to the description).
    /// Passing the `.onnx` itself works when a `.toml` with the same stem sits beside it.
    pub fn from_file(path: &Path) -> Result<Model, VisionError> {
        let description = if path.extension().is_some_and(|e| e.eq_ignore_ascii_case("onnx")) {
            let toml = path.with_extension("toml");
            if !toml.is_file() {
                return Err(model_err(
                    &path.display().to_string(),
                    format!(
                        "an .onnx file needs its description; expected {} beside it",
                        toml.display()
                    ),
                ));
            }
            toml
        } else {
            path.to_path_buf()
        };
        let origin = description.display().to_string();
        let text =
            std::fs::read_to_string(&description).map_err(|e| model_err(&origin, format!("cannot read: {e}")))?;
        let spec = ModelSpec::parse(&text, &origin)?;
        let onnx = description.parent().unwrap_or(Path::new(".")).join(&spec.onnx);
        let bytes = std::fs::read(&onnx).map_err(|e| {
            model_err(
                &onnx.display().to_string(),
                format!("cannot read the onnx file named in {origin}: {e}"),
            )
        })?;
        Model::new(spec, Cow::Owned(bytes), ModelSource::File { description, onnx })
    }

    /// The built-in model when `path` is `None`, else [`Model::from_file`].
    pub fn load(path: Option<&Path>) -> Result<Model, VisionError> {
        Model::load_with(path, Precision::default())
    }

    /// As [`Model::load`], with the built-in model of the given precision when `path` is `None`.
    pub fn load_with(path: Option<&Path>, precision: Precision) -> Result<Model, VisionError> {
        match path {
            Some(p) => Model::from_file(p),
            None => Model::built_in_precision(precision),
        }
    }

    fn new(spec: ModelSpec, bytes: Cow<'static, [u8]>, source: ModelSource) -> Result<Model, VisionError> {
        let actual = hex::encode(Sha256::digest(&bytes));
        if !actual.eq_ignore_ascii_case(&spec.sha256) {
            return Err(model_err(
                &source.to_string(),
                format!(
                    "sha256 mismatch: the description says {}, the file is {actual}",
                    spec.sha256
                ),
            ));
        }
        let labels = spec.labels.iter().map(|l| Arc::<str>::from(l.as_str())).collect();
        Ok(Model {
            spec,
            labels,
            source,
            bytes,
        })
    }

    /// One probability row (the output's second axis, in `labels` order) to `Scores`: the postprocessing
    /// every backend shares, local or remote. Refuses NaN, out-of-range values and rows not summing to 1.
    pub fn scores(&self, row: &[f32]) -> Result<Scores, String> {
        let sum: f32 = row.iter().sum();
        if row
            .iter()
            .any(|p| !p.is_finite() || *p < -SUM_TOLERANCE || *p > 1.0 + SUM_TOLERANCE)
            || (sum - 1.0).abs() > SUM_TOLERANCE * row.len() as f32
        {
            let shown: Vec<String> = row.iter().map(|p| format!("{p:.3}")).collect();
            return Err(format!(
                "model output [{}] is not a probability distribution (sum {sum:.3})",
                shown.join(", ")
            ));
        }
        let p_normal = row[self.spec.normal_index()].clamp(0.0, 1.0);
        let classes = self
            .labels
            .iter()
            .zip(row)
            .map(|(l, p)| ClassScore {
                label: l.clone(),
                p: *p,
            })
            .collect();
        Ok(Scores {
            failure: (1.0 - p_normal).clamp(0.0, 1.0),
            classes,
        })
    }

    /// The ONNX file's bytes.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// Once ONNX Runtime holds its own copy, tells the kernel the built-in model's pages
    /// (13 MB of the binary) need not stay in memory; reading them again later still works,
    /// they are paged back in from the executable. No effect for models loaded from files.
    pub fn release_resident_pages(&self) {
        #[cfg(unix)]
        if let Cow::Borrowed(bytes) = &self.bytes {
            // SAFETY: `page_size` has no preconditions.
            let page = usize::try_from(unsafe { libc::sysconf(libc::_SC_PAGESIZE) })
                .unwrap_or(4096)
                .max(1);
            let start = (bytes.as_ptr() as usize).div_ceil(page) * page;
            let end = (bytes.as_ptr() as usize + bytes.len()) / page * page;
            if end > start {
                // SAFETY: the range is whole pages inside a `&'static [u8]` from `include_bytes!`,
                // a read-only private file mapping: MADV_DONTNEED only drops clean pages, which the
                // kernel reloads from the file on the next read; no memory is unmapped or changed.
                let rc = unsafe { libc::madvise(start as *mut libc::c_void, end - start, libc::MADV_DONTNEED) };
                if rc != 0 {
                    tracing::debug!(error = %std::io::Error::last_os_error(), "madvise on the built-in model failed");
                }
            }
        }
    }
}

/// Returns memory freed while loading (the parsed model, scratch buffers) to the
/// operating system; glibc keeps it otherwise, which costs 10-20 MB on a Pi.
pub(crate) fn trim_heap() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim has no preconditions; it only releases free heap memory.
    unsafe {
        libc::malloc_trim(0);
    }
}

pub(crate) fn model_err(path: &str, reason: impl Into<String>) -> VisionError {
    VisionError::Model {
        path: path.to_string(),
        reason: reason.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
name = "m"
onnx = "m.onnx"
sha256 = "c6f97e458b70ebbfa35cd0ad29d8b6775e58b57e6364a8d61da5840eb451d91f"
input_name = "image"
output_name = "probs"
input_width = 224
input_height = 224
resize = "stretch"
labels = ["normal", "spaghetti"]
normal_label = "normal"
"#;

    fn check(text: &str) -> String {
        match ModelSpec::parse(text, "t.toml") {
            Ok(s) => format!(
                "ok {} {}x{} normal@{}",
                s.name,
                s.input_width,
                s.input_height,
                s.normal_index()
            ),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn descriptions() {
        let cases = [
            GOOD.to_string(),
            GOOD.replace("normal_label = \"normal\"", "normal_label = \"ok\""),
            GOOD.replace("resize = \"stretch\"", "resize = \"letterbox\""),
            format!("{GOOD}extra = 1\n"),
            GOOD.replace("input_width = 224", "input_width = 0"),
            GOOD.replace("sha256 = \"c6", "sha256 = \"zz"),
            GOOD.replace("[\"normal\", \"spaghetti\"]", "[\"normal\", \"normal\"]"),
            GOOD.replace("input_name = \"image\"\n", ""),
        ];
        let out: Vec<String> = cases.iter().map(|c| check(c)).collect();
        expect_test::expect![[r#"
            ok m 224x224 normal@0
            model t.toml: normal_label = "ok" is not one of labels ["normal", "spaghetti"]
            model t.toml: invalid description: unknown variant `letterbox`, expected `stretch`
            model t.toml: invalid description: unknown field `extra`, expected one of `name`, `onnx`, `sha256`, `input_name`, `output_name`, `input_width`, `input_height`, `resize`, `labels`, `normal_label`
            model t.toml: input_width = 0: must be between 8 and 4096
            model t.toml: sha256 = "zzf97e458b70ebbfa35cd0ad29d8b6775e58b57e6364a8d61da5840eb451d91f": expected 64 hex digits
            model t.toml: labels = ["normal", "normal"]: label "normal" is empty or repeated
            model t.toml: invalid description: missing field `input_name`"#]]
        .assert_eq(&out.join("\n"));
    }

    #[test]
    fn built_in_model_matches_its_description() {
        let m = Model::built_in().unwrap();
        assert_eq!(m.source, ModelSource::BuiltIn);
        assert_eq!(m.labels.len(), m.spec.labels.len());
        assert!(m.bytes().len() > 1000);
        // Dropping the resident pages keeps the bytes readable (reloaded from the executable).
        m.release_resident_pages();
        assert_eq!(hex::encode(Sha256::digest(m.bytes())), m.spec.sha256);
    }
}
