//! `[vision]` section.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::config_issues::Issues;
use crate::secret::Secret;

/// Region of interest as fractions of the frame (0..=1), origin top-left.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Roi {
    pub x: f32,
    pub y: f32,
    pub w: f32,
    pub h: f32,
}

/// Which of the two built-in models runs (`vision.precision`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Precision {
    /// The trained float32 network (`models/classifier.onnx`).
    #[default]
    Fp32,
    /// Its static int8 quantisation (`models/classifier-int8.onnx`), for small CPUs; see the model card
    /// for its fidelity and speed against fp32.
    Int8,
}

/// Where frames are scored (`vision.backend`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    /// ONNX Runtime in this process.
    #[default]
    Local,
    /// An inference server speaking the Open Inference Protocol (KServe v2, Triton) over HTTP: `[vision.remote]`.
    Kserve,
}

/// What a remote backend does while its server cannot answer (`vision.remote.fallback`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Fallback {
    /// Score the frame with the same model on ONNX Runtime here, and try the server again after a backoff.
    #[default]
    Local,
    /// No local model: frames are not scored (counted as failed) until the server answers again.
    None,
}

/// `[vision.remote]`: the inference server of `backend = "kserve"`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RemoteConfig {
    /// The server's base URL (`http://host:8000` for Triton, `http://host:8080` for KServe); `/v2/...` is appended.
    pub url: String,
    /// The model's name on the server (`/v2/models/{model}`).
    pub model: String,
    /// A model version (`/v2/models/{model}/versions/{version}`); unset: the server's choice.
    pub version: Option<String>,
    /// How long one request may take, connecting included.
    pub timeout_ms: u64,
    /// Further tries of a frame after a timeout, a refused connection or a 5xx/429 answer.
    pub retries: u32,
    /// What happens to frames while the server cannot answer.
    pub fallback: Fallback,
    /// Send the tensor as raw bytes (the binary tensor extension of Triton and KServe) instead of JSON numbers.
    pub binary_tensors: bool,
    /// After a failure, the server is tried again after this long, doubling up to `recover_max_ms`.
    pub recover_initial_ms: u64,
    pub recover_max_ms: u64,
    /// Sent as `Authorization: Bearer <token>` (or in `token_header`); unset: `LAYERWATCH_KSERVE_TOKEN`.
    /// Never logged or shown.
    pub token: Option<Secret>,
    /// Send the token as this header's whole value instead (e.g. `x-api-key`).
    pub token_header: Option<String>,
}

impl Default for RemoteConfig {
    fn default() -> Self {
        RemoteConfig {
            url: String::new(),
            model: "classifier".into(),
            version: None,
            timeout_ms: 1000,
            retries: 1,
            fallback: Fallback::default(),
            binary_tensors: false,
            recover_initial_ms: 1000,
            recover_max_ms: 60_000,
            token: None,
            token_header: None,
        }
    }
}

/// The environment variable read for `vision.remote.token` when the file leaves it out.
pub const ENV_KSERVE_TOKEN: &str = "LAYERWATCH_KSERVE_TOKEN";

impl RemoteConfig {
    /// The configured token, else `LAYERWATCH_KSERVE_TOKEN`.
    pub fn token(&self) -> Option<Secret> {
        Secret::resolve(self.token.as_ref(), ENV_KSERVE_TOKEN)
    }

    pub fn validate(&self, p: &str, out: &mut Issues) {
        match reqwest::Url::parse(self.url.trim()) {
            Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => {}
            _ => out.push(
                format!("{p}.url"),
                crate::secret::mask_url(&self.url).unwrap_or_else(|| self.url.clone()),
                "must be the inference server's http:// or https:// base URL (backend = \"kserve\")",
            ),
        }
        let path_safe = |s: &str| {
            !s.is_empty()
                && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
                && s != "."
                && s != ".."
        };
        if !path_safe(&self.model) {
            out.push(format!("{p}.model"), &self.model, "must be the server's model name: letters, digits, - _ .");
        }
        if let Some(v) = &self.version
            && !path_safe(v)
        {
            out.push(format!("{p}.version"), v, "must be a model version: letters, digits, - _ .");
        }
        out.range(format!("{p}.timeout_ms"), self.timeout_ms, 50, 60_000);
        out.range(format!("{p}.retries"), self.retries, 0, 5);
        out.range(format!("{p}.recover_initial_ms"), self.recover_initial_ms, 100, 3_600_000);
        out.range(format!("{p}.recover_max_ms"), self.recover_max_ms, self.recover_initial_ms.max(100), 3_600_000);
        if let Some(h) = &self.token_header
            && reqwest::header::HeaderName::from_bytes(h.as_bytes()).is_err()
        {
            out.push(format!("{p}.token_header"), h, "is not a valid HTTP header name");
        }
        if let Some(t) = &self.token
            && reqwest::header::HeaderValue::from_str(t.expose()).is_err()
        {
            out.push(format!("{p}.token"), t, "cannot be sent in an HTTP header (control characters)");
        }
    }
}

/// `[vision]`: which model, which runtime, which part of the picture.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct VisionConfig {
    /// Model description (`classifier.toml`); unset means the model built into the binary.
    pub model: Option<PathBuf>,
    /// Which built-in model runs when `model` is unset.
    pub precision: Precision,
    /// ONNX Runtime shared library; unset means `ORT_DYLIB_PATH`, then next to the binary, then the
    /// checkout's `.tools/ort/`, then `/usr/local/lib/layerwatch`, `/usr/lib/layerwatch` (the Debian package)
    /// and the system library folders (see `vision::runtime`).
    pub ort_library: Option<PathBuf>,
    /// Threads ONNX Runtime may use for one inference.
    pub threads: usize,
    /// Only this part of the frame is classified.
    pub roi: Option<Roi>,
    /// With a calibrated camera (`camera.geometry`) and no fixed `roi`: also classify a crop of the
    /// expected print plus a margin while printing; the frame's score is the higher of the two passes.
    pub crop_to_print: bool,
    /// Where frames are scored: `local` (ONNX Runtime here) or `kserve` (an inference server, `[vision.remote]`).
    pub backend: Backend,
    pub remote: RemoteConfig,
}

impl Default for VisionConfig {
    fn default() -> Self {
        VisionConfig {
            model: None,
            precision: Precision::default(),
            ort_library: None,
            threads: 1,
            roi: None,
            crop_to_print: true,
            backend: Backend::default(),
            remote: RemoteConfig::default(),
        }
    }
}

impl VisionConfig {
    pub fn validate(&self, p: &str, out: &mut Issues) {
        out.range(format!("{p}.threads"), self.threads, 1, 64);
        if self.model.is_some() && self.precision != Precision::default() {
            out.push(
                format!("{p}.precision"),
                self.precision,
                "chooses between the built-in models; with vision.model set, name that model's own file instead",
            );
        }
        if self.backend == Backend::Kserve {
            self.remote.validate(&format!("{p}.remote"), out);
        }
        if let Some(r) = self.roi {
            let ok = [r.x, r.y, r.w, r.h].iter().all(|v| (0.0..=1.0).contains(v))
                && r.w > 0.01
                && r.h > 0.01
                && r.x + r.w <= 1.0 + 1e-6
                && r.y + r.h <= 1.0 + 1e-6;
            if !ok {
                out.push(
                    format!("{p}.roi"),
                    r,
                    "must be fractions of the frame with x+w <= 1, y+h <= 1 and w, h > 0.01",
                );
            }
        }
    }

    pub fn resolve_paths(&mut self, base: &Path) {
        for p in [&mut self.model, &mut self.ort_library].into_iter().flatten() {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        }
    }
}
