//! `RemoteClassifier`: scores frames on an inference server over the Open Inference Protocol
//! (KServe v2 / Triton, HTTP/REST with JSON tensors), falling back to ONNX Runtime here while the
//! server cannot answer.
//!
//! Owns the protocol (`GET /v2/models/{model}` metadata, `POST /v2/models/{model}/infer`), checking the
//! server's model against the model description (input/output names, datatype, shape) at start and
//! after every outage, per-request timeouts and retries, the fallback policy (`vision.remote.fallback`)
//! with its backoff before the server is tried again (`net::Backoff`), and the counts a watchdog or a
//! report reads ([`RemoteCounts`]). Preprocessing and postprocessing are the local backend's own
//! (`onnx::preprocessor_for`, `Model::scores`): the server receives the exact tensor ONNX Runtime would.
//!
//! Blocking like every `Classifier`: it owns a current-thread tokio runtime and drives reqwest's async
//! client with `block_on` on the vision worker's thread. One frame waits at most
//! `(1 + retries) × timeout_ms`, so the worker's shutdown (after the frame in hand) stays bounded.
//! The bearer token is a `Secret`: it never reaches a log line or an error text.
//! The tensor travels as JSON numbers (every v2 server reads them) or, with `binary_tensors`, in the binary
//! tensor extension (Triton, KServe): a JSON header then the 602 112 raw bytes, which spares both sides
//! printing and parsing 150 528 numbers. gRPC is not spoken: REST is what KServe, Triton and MLServer all
//! answer, and it needs no protobuf build step.

use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::Url;
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, HeaderName, HeaderValue};
use serde::{Deserialize, Serialize};

use super::config::{Fallback, RemoteConfig};
use super::model::{Model, ModelSpec};
use super::onnx::{ClassifierOptions, OnnxClassifier, frame_score, preprocessor_for};
use super::preprocess::Preprocessor;
use super::{Classifier, VisionConfig, VisionError};
use crate::domain::{Frame, FrameScore};
use crate::net::{Backoff, LogLimiter};
use crate::secret::Secret;

/// How often a long outage is logged loudly (the rest are counted into the next loud line).
const LOG_EVERY: Duration = Duration::from_secs(60);

/// What the remote backend did, since it started. Frames scored locally because the server was down or
/// failed are `fell_back`; `remote_failed` counts failed server round trips (each after its retries).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct RemoteCounts {
    pub remote_ok: u64,
    pub remote_failed: u64,
    pub fell_back: u64,
}

/// Why talking to the server failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RemoteError {
    /// No answer in time, connection refused or reset, or a 5xx/429: worth trying again.
    #[error("{0}")]
    Unavailable(String),
    /// The server answered but refused or cannot serve this request (4xx, a body that is not v2).
    #[error("{0}")]
    Refused(String),
    /// The server's model does not fit the model description; names the key and both values.
    #[error("{0}")]
    Mismatch(String),
}

impl RemoteError {
    fn retryable(&self) -> bool {
        matches!(self, RemoteError::Unavailable(_))
    }
}

/// The server's URLs and how requests are authorised.
#[derive(Clone)]
struct Endpoint {
    metadata: Url,
    infer: Url,
    /// The base URL for logs, credentials masked.
    shown: String,
    auth: Option<(HeaderName, Secret)>,
}

impl Endpoint {
    fn new(cfg: &RemoteConfig) -> Result<Endpoint, String> {
        let mut base = Url::parse(cfg.url.trim()).map_err(|e| format!("vision.remote.url: {e}"))?;
        if !base.path().ends_with('/') {
            base.set_path(&format!("{}/", base.path()));
        }
        let model_path = match &cfg.version {
            Some(v) => format!("v2/models/{}/versions/{v}", cfg.model),
            None => format!("v2/models/{}", cfg.model),
        };
        let metadata = base.join(&model_path).map_err(|e| format!("vision.remote.model: {e}"))?;
        let infer = base.join(&format!("{model_path}/infer")).map_err(|e| format!("vision.remote.model: {e}"))?;
        let auth = match cfg.token() {
            None => None,
            Some(t) => match &cfg.token_header {
                Some(h) => Some((
                    HeaderName::from_bytes(h.as_bytes()).map_err(|e| format!("vision.remote.token_header: {e}"))?,
                    t,
                )),
                None => Some((AUTHORIZATION, Secret::new(format!("Bearer {}", t.expose())))),
            },
        };
        let shown = crate::secret::mask_url(cfg.url.trim()).unwrap_or_else(|| cfg.url.trim().to_string());
        Ok(Endpoint { metadata, infer, shown, auth })
    }

    fn request(
        &self,
        client: &reqwest::Client,
        method: reqwest::Method,
        url: &Url,
    ) -> Result<reqwest::RequestBuilder, RemoteError> {
        let mut r = client.request(method, url.clone());
        if let Some((name, value)) = &self.auth {
            let mut v = HeaderValue::from_str(value.expose())
                .map_err(|_| RemoteError::Refused("vision.remote.token cannot be sent in an HTTP header".into()))?;
            v.set_sensitive(true);
            r = r.header(name.clone(), v);
        }
        Ok(r)
    }
}

/// `GET /v2/models/{model}`: one tensor's description.
#[derive(Debug, Clone, Deserialize)]
struct TensorMeta {
    name: String,
    datatype: String,
    shape: Vec<i64>,
}

#[derive(Debug, Clone, Deserialize)]
struct ModelMetadata {
    #[serde(default)]
    inputs: Vec<TensorMeta>,
    #[serde(default)]
    outputs: Vec<TensorMeta>,
}

#[derive(Serialize)]
struct InferRequest<'a> {
    inputs: [InputTensor<'a>; 1],
    outputs: [RequestedOutput<'a>; 1],
}

#[derive(Serialize)]
struct InputTensor<'a> {
    name: &'a str,
    shape: [usize; 4],
    datatype: &'static str,
    /// JSON encoding: the floats themselves.
    #[serde(skip_serializing_if = "Option::is_none")]
    data: Option<&'a [f32]>,
    /// Binary tensor extension: where the raw bytes after the JSON header are.
    #[serde(skip_serializing_if = "Option::is_none")]
    parameters: Option<BinarySize>,
}

#[derive(Serialize)]
struct BinarySize {
    binary_data_size: usize,
}

#[derive(Serialize)]
struct RequestedOutput<'a> {
    name: &'a str,
    /// The answer's probabilities always come back as JSON numbers (5 of them).
    parameters: OutputParams,
}

#[derive(Serialize)]
struct OutputParams {
    binary_data: bool,
}

/// The binary tensor extension's header: the length of the JSON part that starts the body.
const INFERENCE_HEADER_LENGTH: &str = "inference-header-content-length";

/// The request body and its content type: JSON with the floats in it, or (binary tensor extension, Triton and
/// KServe) a JSON header followed by the tensor's little-endian bytes; then the JSON header's length.
fn encode_request(
    spec: &ModelSpec,
    input: &[f32],
    (w, h): (u32, u32),
    binary: bool,
) -> Result<(Vec<u8>, Option<usize>), String> {
    let req = InferRequest {
        inputs: [InputTensor {
            name: &spec.input_name,
            shape: [1, 3, h as usize, w as usize],
            datatype: "FP32",
            data: (!binary).then_some(input),
            parameters: binary.then_some(BinarySize { binary_data_size: std::mem::size_of_val(input) }),
        }],
        outputs: [RequestedOutput { name: &spec.output_name, parameters: OutputParams { binary_data: false } }],
    };
    let mut body = serde_json::to_vec(&req).map_err(|e| format!("cannot encode the request: {e}"))?;
    if !binary {
        return Ok((body, None));
    }
    let header = body.len();
    body.reserve(std::mem::size_of_val(input));
    for v in input {
        body.extend_from_slice(&v.to_le_bytes());
    }
    Ok((body, Some(header)))
}

#[derive(Deserialize)]
struct InferResponse {
    #[serde(default)]
    outputs: Vec<OutputTensor>,
}

#[derive(Deserialize)]
struct OutputTensor {
    name: String,
    #[serde(default)]
    datatype: String,
    #[serde(default)]
    shape: Vec<i64>,
    /// Row-major; servers may nest it by shape, so it is flattened here.
    #[serde(default)]
    data: serde_json::Value,
}

/// Compares the server's model with the description; the error names the description's key and both values.
fn check_metadata(meta: &ModelMetadata, spec: &ModelSpec) -> Result<(), String> {
    let names = |v: &[TensorMeta]| v.iter().map(|t| t.name.clone()).collect::<Vec<_>>();
    let Some(input) = meta.inputs.iter().find(|t| t.name == spec.input_name) else {
        return Err(format!(
            "the server's model has inputs {:?}; the model description says input_name = {:?}",
            names(&meta.inputs),
            spec.input_name
        ));
    };
    if !input.datatype.eq_ignore_ascii_case("FP32") {
        return Err(format!(
            "the server's input {:?} has datatype {:?}, layerwatch sends \"FP32\"",
            input.name, input.datatype
        ));
    }
    let (w, h) = (i64::from(spec.input_width), i64::from(spec.input_height));
    let fits = |got: i64, want: i64| got < 0 || got == want;
    let s = &input.shape;
    if s.len() != 4 || !fits(s[0], 1) || s[1] != 3 || !fits(s[2], h) || !fits(s[3], w) {
        return Err(format!(
            "the server's input {:?} has shape {s:?}; the model description \
             (input_width = {w}, input_height = {h}) needs [-1 or 1, 3, {h}, {w}]",
            input.name
        ));
    }
    let Some(output) = meta.outputs.iter().find(|t| t.name == spec.output_name) else {
        return Err(format!(
            "the server's model has outputs {:?}; the model description says output_name = {:?}",
            names(&meta.outputs),
            spec.output_name
        ));
    };
    let classes = spec.labels.len() as i64;
    let o = &output.shape;
    if !output.datatype.eq_ignore_ascii_case("FP32") || o.len() != 2 || !fits(o[1], classes) {
        return Err(format!(
            "the server's output {:?} is {} {o:?}; the model description lists {classes} labels \
             {:?}, so it must be FP32 [-1, {classes}]",
            output.name, output.datatype, spec.labels
        ));
    }
    Ok(())
}

fn flatten(v: &serde_json::Value, out: &mut Vec<f32>) -> Result<(), String> {
    match v {
        serde_json::Value::Array(a) => a.iter().try_for_each(|x| flatten(x, out)),
        serde_json::Value::Number(n) => {
            out.push(n.as_f64().ok_or("a number out of range")? as f32);
            Ok(())
        }
        other => Err(format!("data holds {other}, not numbers")),
    }
}

/// Reads the one probability row out of an infer answer.
fn parse_output(body: &[u8], spec: &ModelSpec) -> Result<Vec<f32>, RemoteError> {
    let resp: InferResponse = serde_json::from_slice(body)
        .map_err(|e| RemoteError::Refused(format!("the infer answer is not a v2 response: {e}")))?;
    let Some(out) = resp.outputs.iter().find(|o| o.name == spec.output_name) else {
        let names: Vec<&str> = resp.outputs.iter().map(|o| o.name.as_str()).collect();
        return Err(RemoteError::Refused(format!(
            "the infer answer has outputs {names:?}, not {:?} (output_name)",
            spec.output_name
        )));
    };
    let classes = spec.labels.len();
    let mut row = Vec::with_capacity(classes);
    flatten(&out.data, &mut row).map_err(|e| RemoteError::Refused(format!("output {:?}: {e}", out.name)))?;
    if !out.datatype.eq_ignore_ascii_case("FP32") || out.shape != [1, classes as i64] || row.len() != classes {
        return Err(RemoteError::Refused(format!(
            "output {:?} is {} {:?} with {} values, expected FP32 [1, {classes}]",
            out.name,
            out.datatype,
            out.shape,
            row.len()
        )));
    }
    Ok(row)
}

fn transport(e: reqwest::Error, timeout: Duration) -> RemoteError {
    let e = e.without_url();
    if e.is_timeout() {
        return RemoteError::Unavailable(format!("no answer within {} ms", timeout.as_millis()));
    }
    let s = crate::net::error_chain(&e);
    if e.is_connect() { RemoteError::Unavailable(format!("cannot connect: {s}")) } else { RemoteError::Unavailable(s) }
}

async fn read_answer(resp: reqwest::Response, timeout: Duration) -> Result<bytes::Bytes, RemoteError> {
    let status = resp.status();
    let body = resp.bytes().await.map_err(|e| transport(e, timeout))?;
    if status.is_success() {
        return Ok(body);
    }
    let detail: String = String::from_utf8_lossy(&body).trim().chars().take(300).collect();
    let msg = format!("HTTP {}: {detail}", status.as_u16());
    if status.is_server_error() || status.as_u16() == 429 || status.as_u16() == 408 {
        Err(RemoteError::Unavailable(msg))
    } else {
        Err(RemoteError::Refused(msg))
    }
}

/// A client for the server: the request timeout covers connecting too.
fn client(timeout: Duration) -> Result<reqwest::Client, String> {
    crate::net::install_tls_provider();
    reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout)
        .user_agent(concat!("layerwatch/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| format!("cannot build the HTTP client: {e}"))
}

async fn fetch_metadata(
    client: &reqwest::Client,
    ep: &Endpoint,
    timeout: Duration,
) -> Result<ModelMetadata, RemoteError> {
    let resp =
        ep.request(client, reqwest::Method::GET, &ep.metadata)?.send().await.map_err(|e| transport(e, timeout))?;
    let body = read_answer(resp, timeout).await?;
    serde_json::from_slice(&body)
        .map_err(|e| RemoteError::Refused(format!("the model metadata is not a v2 answer: {e}")))
}

/// Whether the server answers with a model that fits `spec` (for `validate-config` and `run`'s preflight).
pub async fn probe(cfg: &RemoteConfig, spec: &ModelSpec) -> Result<(), RemoteError> {
    let ep = Endpoint::new(cfg).map_err(RemoteError::Refused)?;
    let timeout = Duration::from_millis(cfg.timeout_ms);
    let client = client(timeout).map_err(RemoteError::Refused)?;
    let meta = fetch_metadata(&client, &ep, timeout).await?;
    check_metadata(&meta, spec).map_err(RemoteError::Mismatch)
}

/// Owns the runtime; dropping it never blocks, so the classifier may be dropped anywhere, async code included.
struct Rt(Option<tokio::runtime::Runtime>);

impl Drop for Rt {
    fn drop(&mut self) {
        if let Some(rt) = self.0.take() {
            rt.shutdown_background();
        }
    }
}

/// Scores frames on an Open Inference Protocol server; see the module doc.
pub struct RemoteClassifier {
    rt: Rt,
    client: reqwest::Client,
    ep: Endpoint,
    cfg: RemoteConfig,
    timeout: Duration,
    model: Model,
    pre: Preprocessor,
    input: Vec<f32>,
    local: Option<OnnxClassifier>,
    /// The server's model was checked since the last outage.
    checked: bool,
    /// While set and in the future, frames go to the fallback without trying the server.
    down_until: Option<Instant>,
    backoff: Backoff,
    log: LogLimiter,
    counts: RemoteCounts,
}

impl std::fmt::Debug for RemoteClassifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "RemoteClassifier({} model {:?}, {:?})", self.ep.shown, self.cfg.model, self.model)
    }
}

impl RemoteClassifier {
    /// From `[vision]` (`backend = "kserve"`): the model description of `vision.model`/`precision`, the
    /// server of `[vision.remote]`, and with `fallback = "local"` the same model on ONNX Runtime here.
    pub fn from_config(cfg: &VisionConfig) -> Result<RemoteClassifier, VisionError> {
        let model = Model::load_with(cfg.model.as_deref(), cfg.precision)?;
        let local = match cfg.remote.fallback {
            Fallback::Local => Some(OnnxClassifier::new(model.clone(), &ClassifierOptions::from(cfg))?),
            Fallback::None => None,
        };
        RemoteClassifier::new(model, &cfg.remote, cfg.roi, local)
    }

    /// Checks the server's model (when it answers), ready to score. A server that does not answer is
    /// an error only without a fallback; a server whose model does not fit is always one.
    pub fn new(
        model: Model,
        cfg: &RemoteConfig,
        roi: Option<super::Roi>,
        local: Option<OnnxClassifier>,
    ) -> Result<RemoteClassifier, VisionError> {
        let shown = crate::secret::mask_url(cfg.url.trim()).unwrap_or_else(|| cfg.url.trim().to_string());
        let setup = |reason: String| super::model::model_err(&format!("vision.remote ({shown})"), reason);
        let ep = Endpoint::new(cfg).map_err(setup)?;
        let timeout = Duration::from_millis(cfg.timeout_ms.max(1));
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| VisionError::Runtime(format!("cannot start the remote backend's runtime: {e}")))?;
        let client = {
            let _in = rt.enter();
            client(timeout).map_err(VisionError::Runtime)?
        };
        let pre = preprocessor_for(&model.spec, roi);
        let input = vec![0f32; pre.tensor_len()];
        let mut c = RemoteClassifier {
            rt: Rt(Some(rt)),
            client,
            ep,
            cfg: cfg.clone(),
            timeout,
            model,
            pre,
            input,
            local,
            checked: false,
            down_until: None,
            backoff: Backoff::new(
                Duration::from_millis(cfg.recover_initial_ms),
                Duration::from_millis(cfg.recover_max_ms.max(cfg.recover_initial_ms)),
            ),
            log: LogLimiter::new(LOG_EVERY),
            counts: RemoteCounts::default(),
        };
        match c.check_server() {
            Ok(()) => tracing::info!(
                server = %c.ep.shown,
                model = %c.cfg.model,
                fallback = ?c.cfg.fallback,
                "remote inference ready"
            ),
            Err(RemoteError::Mismatch(m)) => {
                return Err(super::model::model_err(&format!("vision.remote.model = {:?}", c.cfg.model), m));
            }
            Err(e) if c.local.is_some() => {
                let retry_in = c.backoff.next_delay(rand::random::<f64>());
                c.down_until = Some(Instant::now() + retry_in);
                tracing::warn!(
                    server = %c.ep.shown,
                    error = %e,
                    retry_in_ms = retry_in.as_millis() as u64,
                    "inference server not answering at start; scoring locally until it does"
                );
            }
            Err(e) => {
                return Err(VisionError::Runtime(format!(
                    "inference server {} (vision.remote.url) cannot be used and vision.remote.fallback = \"none\": {e}",
                    c.ep.shown
                )));
            }
        }
        Ok(c)
    }

    pub fn spec(&self) -> &ModelSpec {
        &self.model.spec
    }

    /// What was scored where, so far.
    pub fn counts(&self) -> RemoteCounts {
        self.counts
    }

    fn block_on<F: std::future::Future>(&self, f: F) -> Option<F::Output> {
        self.rt.0.as_ref().map(|rt| rt.block_on(f))
    }

    fn check_server(&mut self) -> Result<(), RemoteError> {
        let (client, ep, timeout) = (&self.client, &self.ep, self.timeout);
        let meta = self
            .block_on(fetch_metadata(client, ep, timeout))
            .unwrap_or_else(|| Err(RemoteError::Unavailable("runtime gone".into())))?;
        check_metadata(&meta, &self.model.spec).map_err(RemoteError::Mismatch)?;
        self.checked = true;
        Ok(())
    }

    /// One inference round trip for the tensor in `self.input`, with the retries of the config.
    fn infer_remote(&mut self) -> Result<Vec<f32>, RemoteError> {
        if !self.checked {
            self.check_server()?;
        }
        let (body, header) =
            encode_request(&self.model.spec, &self.input, self.pre.input_size(), self.cfg.binary_tensors)
                .map_err(RemoteError::Refused)?;
        let body = bytes::Bytes::from(body);
        let mut attempt = 0;
        loop {
            let call = async {
                let mut req = self.ep.request(&self.client, reqwest::Method::POST, &self.ep.infer)?;
                req = match header {
                    None => req.header(CONTENT_TYPE, "application/json"),
                    Some(n) => req.header(CONTENT_TYPE, "application/octet-stream").header(INFERENCE_HEADER_LENGTH, n),
                };
                let resp = req.body(body.clone()).send().await.map_err(|e| transport(e, self.timeout))?;
                // An answer in the binary extension's framing starts with its JSON part; ours has no binary output.
                let json_len = resp
                    .headers()
                    .get(INFERENCE_HEADER_LENGTH)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.parse::<usize>().ok());
                let answer = read_answer(resp, self.timeout).await?;
                let json = json_len.and_then(|n| answer.get(..n)).unwrap_or(&answer);
                parse_output(json, &self.model.spec)
            };
            let r = self.block_on(call).unwrap_or_else(|| Err(RemoteError::Unavailable("runtime gone".into())));
            match r {
                Err(e) if e.retryable() && attempt < self.cfg.retries => {
                    attempt += 1;
                    tracing::debug!(attempt, error = %e, "remote inference failed; trying again");
                }
                other => return other,
            }
        }
    }

    /// The probability row for `self.input`: from the server when it is (thought to be) up, else the fallback.
    fn infer_row(&mut self) -> Result<Vec<f32>, VisionError> {
        let now = Instant::now();
        let mut last_error = None;
        if self.down_until.is_none_or(|t| now >= t) {
            match self.infer_remote() {
                Ok(row) => {
                    self.counts.remote_ok += 1;
                    if self.down_until.take().is_some() {
                        tracing::info!(
                            server = %self.ep.shown,
                            failures = self.backoff.failures(),
                            frames_scored_locally = self.counts.fell_back,
                            "inference server answering again; scoring remotely"
                        );
                    }
                    self.backoff.reset();
                    self.log.reset();
                    return Ok(row);
                }
                Err(e) => {
                    self.counts.remote_failed += 1;
                    self.checked = false;
                    let retry_in = self.backoff.next_delay(rand::random::<f64>());
                    self.down_until = Some(Instant::now() + retry_in);
                    let fallback = if self.local.is_some() { "scoring locally" } else { "frames not scored" };
                    if let Some(suppressed) = self.log.check(now) {
                        let mismatch = matches!(e, RemoteError::Mismatch(_));
                        if mismatch {
                            tracing::error!(server = %self.ep.shown, error = %e, fallback, suppressed,
                                "the inference server's model does not fit the model description");
                        } else {
                            tracing::warn!(server = %self.ep.shown, error = %e, fallback, suppressed,
                                retry_in_ms = retry_in.as_millis() as u64, "remote inference failed");
                        }
                    }
                    last_error = Some(e);
                }
            }
        }
        match &mut self.local {
            Some(local) => {
                self.counts.fell_back += 1;
                let tensor = std::mem::take(&mut self.input);
                let r = local.infer_tensor(&tensor, 1);
                self.input = tensor;
                r
            }
            None => Err(VisionError::Runtime(match last_error {
                Some(e) => format!("remote inference failed ({}): {e}", self.ep.shown),
                None => format!("inference server {} is down; next try after a backoff", self.ep.shown),
            })),
        }
    }
}

impl Drop for RemoteClassifier {
    fn drop(&mut self) {
        let c = self.counts;
        tracing::info!(
            server = %self.ep.shown,
            remote_ok = c.remote_ok,
            remote_failed = c.remote_failed,
            fell_back = c.fell_back,
            "remote inference stopped"
        );
    }
}

impl Classifier for RemoteClassifier {
    fn labels(&self) -> &[Arc<str>] {
        &self.model.labels
    }

    fn classify(&mut self, frame: &Frame) -> Result<FrameScore, VisionError> {
        let t0 = Instant::now();
        let prep = self.pre.prepare(&frame.image, &mut self.input).map_err(|e| VisionError::Decode {
            seq: frame.seq,
            kind: e.kind(),
            reason: e.to_string(),
        })?;
        let row = self.infer_row()?;
        let scores = self.model.scores(&row).map_err(VisionError::Runtime)?;
        Ok(frame_score(frame, scores, &prep, t0.elapsed().as_secs_f32() * 1e3))
    }

    fn remote_counts(&self) -> Option<RemoteCounts> {
        Some(self.counts)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(json: &str) -> ModelMetadata {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn metadata_checks_name_the_key_and_value() {
        let spec = Model::built_in().unwrap().spec;
        let good = r#"{"name":"classifier","inputs":[{"name":"image","datatype":"FP32","shape":[-1,3,224,224]}],
            "outputs":[{"name":"probs","datatype":"FP32","shape":[-1,5]}]}"#;
        let cases = [
            good.to_string(),
            good.replace("\"image\"", "\"input_1\""),
            good.replace("\"FP32\",\"shape\":[-1,3", "\"FP16\",\"shape\":[-1,3"),
            good.replace("[-1,3,224,224]", "[-1,3,256,256]"),
            good.replace("[-1,3,224,224]", "[3,224,224]"),
            good.replace("\"probs\"", "\"logits\""),
            good.replace("[-1,5]", "[-1,3]"),
        ];
        let out: Vec<String> = cases
            .iter()
            .map(|c| match check_metadata(&meta(c), &spec) {
                Ok(()) => "ok".to_string(),
                Err(e) => e,
            })
            .collect();
        expect_test::expect![[r#"
            ok
            the server's model has inputs ["input_1"]; the model description says input_name = "image"
            the server's input "image" has datatype "FP16", layerwatch sends "FP32"
            the server's input "image" has shape [-1, 3, 256, 256]; the model description (input_width = 224, input_height = 224) needs [-1 or 1, 3, 224, 224]
            the server's input "image" has shape [3, 224, 224]; the model description (input_width = 224, input_height = 224) needs [-1 or 1, 3, 224, 224]
            the server's model has outputs ["logits"]; the model description says output_name = "probs"
            the server's output "probs" is FP32 [-1, 3]; the model description lists 5 labels ["normal", "spaghetti", "stringing", "surface", "other_failure"], so it must be FP32 [-1, 5]"#]].assert_eq(&out.join("\n"));
    }

    #[test]
    fn outputs_are_read_flat_or_nested_and_checked() {
        let spec = Model::built_in().unwrap().spec;
        let show = |body: &str| match parse_output(body.as_bytes(), &spec) {
            Ok(row) => format!("{row:?}"),
            Err(e) => e.to_string(),
        };
        let out = [
            show(
                r#"{"outputs":[{"name":"probs","datatype":"FP32","shape":[1,5],"data":[0.5,0.25,0.125,0.0625,0.0625]}]}"#,
            ),
            show(
                r#"{"outputs":[{"name":"probs","datatype":"FP32","shape":[1,5],"data":[[0.5,0.25,0.125,0.0625,0.0625]]}]}"#,
            ),
            show(r#"{"outputs":[{"name":"probs","datatype":"FP32","shape":[1,4],"data":[0.5,0.25,0.125,0.125]}]}"#),
            show(r#"{"outputs":[{"name":"x","datatype":"FP32","shape":[1,5],"data":[1,0,0,0,0]}]}"#),
            show(r#"{"error":"boom"}"#),
            show("not json"),
        ];
        expect_test::expect![[r#"
            [0.5, 0.25, 0.125, 0.0625, 0.0625]
            [0.5, 0.25, 0.125, 0.0625, 0.0625]
            output "probs" is FP32 [1, 4] with 4 values, expected FP32 [1, 5]
            the infer answer has outputs ["x"], not "probs" (output_name)
            the infer answer has outputs [], not "probs" (output_name)
            the infer answer is not a v2 response: expected ident at line 1 column 2"#]]
        .assert_eq(&out.join("\n"));
    }

    #[test]
    fn binary_requests_are_a_json_header_then_the_raw_floats() {
        let spec = Model::built_in().unwrap().spec;
        let input = [0.5f32, -1.0, 2.0];
        let (body, header) = encode_request(&spec, &input, (1, 1), true).unwrap();
        let n = header.unwrap();
        expect_test::expect![[r#"{"inputs":[{"name":"image","shape":[1,3,1,1],"datatype":"FP32","parameters":{"binary_data_size":12}}],"outputs":[{"name":"probs","parameters":{"binary_data":false}}]}"#]].assert_eq(std::str::from_utf8(&body[..n]).unwrap());
        let floats: Vec<f32> = body[n..].chunks(4).map(|c| f32::from_le_bytes(c.try_into().unwrap())).collect();
        assert_eq!(floats, input);
        let (body, header) = encode_request(&spec, &input, (1, 1), false).unwrap();
        assert_eq!(header, None);
        expect_test::expect![[r#"{"inputs":[{"name":"image","shape":[1,3,1,1],"datatype":"FP32","data":[0.5,-1.0,2.0]}],"outputs":[{"name":"probs","parameters":{"binary_data":false}}]}"#]].assert_eq(std::str::from_utf8(&body).unwrap());
    }

    #[test]
    fn endpoints_and_masked_url() {
        let cfg = RemoteConfig {
            url: "https://user:pw@farm.example:8443/triton".into(),
            version: Some("3".into()),
            token: Some(Secret::new("s3cret-token-value")),
            ..RemoteConfig::default()
        };
        let ep = Endpoint::new(&cfg).unwrap();
        let auth = ep.auth.as_ref().map(|(n, v)| format!("{n}: {}", v.expose()));
        expect_test::expect![[r#"
            https://user:pw@farm.example:8443/triton/v2/models/classifier/versions/3
            https://user:pw@farm.example:8443/triton/v2/models/classifier/versions/3/infer
            https://***@farm.example:8443/triton
            Some("authorization: Bearer s3cret-token-value")"#]]
        .assert_eq(&format!("{}\n{}\n{}\n{auth:?}", ep.metadata, ep.infer, ep.shown));
    }
}
