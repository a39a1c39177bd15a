//! `OnnxClassifier`: the real `Classifier`, an ONNX Runtime session over the model.
//!
//! Owns creating the session (threads, optimisation level), checking the graph's
//! real input/output names and shapes against the model description, warming up
//! at load, running inference for one frame or a batch, and turning the output
//! into `Scores` (checking it really is a probability distribution). Blocking:
//! call it from the vision worker's thread, never from the async runtime.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ort::session::Session;
use ort::session::builder::GraphOptimizationLevel;
use ort::value::{TensorElementType, TensorRef, ValueType};

use super::model::{Model, ModelSpec, model_err};
use super::preprocess::{Prepared, Preprocessor};
use super::{Classifier, Roi, VisionConfig, VisionError, runtime};
use crate::domain::{Frame, FrameScore, Scores};

/// How to build an [`OnnxClassifier`] (usually from `[vision]`).
#[derive(Debug, Clone)]
pub struct ClassifierOptions {
    pub ort_library: Option<PathBuf>,
    /// ONNX Runtime intra-op threads (also OpenCV's thread count for resizing).
    pub threads: usize,
    pub roi: Option<Roi>,
    /// Inference runs at load time so the first real frame is not slow.
    pub warmup_runs: usize,
}

impl Default for ClassifierOptions {
    fn default() -> Self {
        ClassifierOptions {
            ort_library: None,
            threads: 1,
            roi: None,
            warmup_runs: 3,
        }
    }
}

impl From<&VisionConfig> for ClassifierOptions {
    fn from(c: &VisionConfig) -> Self {
        ClassifierOptions {
            ort_library: c.ort_library.clone(),
            threads: c.threads,
            roi: c.roi,
            warmup_runs: 3,
        }
    }
}

/// Time spent getting the classifier ready, for logs and reports.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LoadTimes {
    pub load: Duration,
    pub warmup: Duration,
}

/// Where one frame's time went.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct FrameTimes {
    pub decode: Duration,
    pub resize: Duration,
    pub tensor: Duration,
    pub inference: Duration,
}

/// Scores frames with an ONNX model on ONNX Runtime's CPU provider.
pub struct OnnxClassifier {
    session: Session,
    model: Model,
    pre: Preprocessor,
    input: Vec<f32>,
    load_times: LoadTimes,
    last_times: FrameTimes,
}

impl std::fmt::Debug for OnnxClassifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "OnnxClassifier({:?})", self.model)
    }
}

impl OnnxClassifier {
    /// Loads the configured model (the built-in one of `vision.precision` when `vision.model` is unset) on the
    /// discovered runtime.
    pub fn from_config(cfg: &VisionConfig) -> Result<OnnxClassifier, VisionError> {
        OnnxClassifier::new(
            Model::load_with(cfg.model.as_deref(), cfg.precision)?,
            &ClassifierOptions::from(cfg),
        )
    }

    /// Creates the session, checks it against the description and warms it up.
    pub fn new(model: Model, opts: &ClassifierOptions) -> Result<OnnxClassifier, VisionError> {
        let env = runtime::environment(opts.ort_library.as_deref())?;
        let threads = opts.threads.max(1);
        let origin = model.source.to_string();
        let t0 = Instant::now();
        let session = Session::builder(&env)
            .and_then(|b| b.with_intra_threads(threads).map_err(Into::into))
            .and_then(|b| b.with_inter_threads(1).map_err(Into::into))
            // Level 3 adds the layout (NCHWc) rewrites: 10 ms instead of 20+ ms per 224 px frame on
            // x86, at the cost of ~15 MB more memory while the session is built (benches/frame_path.rs).
            .and_then(|b| {
                b.with_optimization_level(GraphOptimizationLevel::Level3)
                    .map_err(Into::into)
            })
            .and_then(|mut b| b.commit_from_memory(model.bytes()))
            .map_err(|e| model_err(&origin, format!("onnx runtime cannot load it: {e}")))?;
        check_io(&session, &model.spec).map_err(|reason| model_err(&origin, reason))?;
        if let Err(e) = opencv::core::set_num_threads(threads as i32) {
            tracing::debug!(error = %e, "cannot set opencv's thread count");
        }
        let load = t0.elapsed();
        let pre = preprocessor_for(&model.spec, opts.roi);
        let input = vec![0f32; pre.tensor_len()];
        let mut c = OnnxClassifier {
            session,
            model,
            pre,
            input,
            load_times: LoadTimes {
                load,
                warmup: Duration::ZERO,
            },
            last_times: FrameTimes::default(),
        };
        let t1 = Instant::now();
        c.input.fill(0.5);
        for _ in 0..opts.warmup_runs.max(1) {
            let probs = c.infer(1)?;
            c.model
                .scores(&probs)
                .map_err(|reason| model_err(&origin, format!("warm-up: {reason}")))?;
        }
        c.load_times.warmup = t1.elapsed();
        c.model.release_resident_pages();
        super::model::trim_heap();
        tracing::info!(
            model = %c.model.spec.name,
            source = %c.model.source,
            input = format!("{}x{}", c.model.spec.input_width, c.model.spec.input_height),
            threads,
            load_ms = (load.as_secs_f64() * 1e4).round() / 10.0,
            warmup_ms = (c.load_times.warmup.as_secs_f64() * 1e4).round() / 10.0,
            "classifier ready"
        );
        Ok(c)
    }

    pub fn spec(&self) -> &ModelSpec {
        &self.model.spec
    }

    pub fn model(&self) -> &Model {
        &self.model
    }

    pub fn preprocessor(&self) -> &Preprocessor {
        &self.pre
    }

    pub fn load_times(&self) -> LoadTimes {
        self.load_times
    }

    /// Stage timings of the last frame classified with [`Classifier::classify`].
    pub fn last_times(&self) -> FrameTimes {
        self.last_times
    }

    /// Runs the model on a ready `[n, 3, H, W]` tensor; returns the `[n, classes]` probabilities.
    pub fn infer_tensor(&mut self, tensor: &[f32], n: usize) -> Result<Vec<f32>, VisionError> {
        let (w, h) = self.pre.input_size();
        let shape = [n, 3, h as usize, w as usize];
        if tensor.len() != shape.iter().product::<usize>() {
            return Err(VisionError::Runtime(format!(
                "input of {} floats for shape {shape:?}",
                tensor.len()
            )));
        }
        let classes = self.model.labels.len();
        let value = TensorRef::from_array_view((shape, tensor))
            .map_err(|e| VisionError::Runtime(format!("cannot build the input tensor: {e}")))?;
        let spec = &self.model.spec;
        let outputs = self
            .session
            .run(ort::inputs![spec.input_name.as_str() => value])
            .map_err(|e| VisionError::Runtime(format!("inference failed: {e}")))?;
        let Some(out) = outputs.get(&spec.output_name) else {
            return Err(VisionError::Runtime(format!(
                "the model returned no output named {:?}",
                spec.output_name
            )));
        };
        let (oshape, data) = out
            .try_extract_tensor::<f32>()
            .map_err(|e| VisionError::Runtime(format!("output {:?} is not a float tensor: {e}", spec.output_name)))?;
        let dims: Vec<i64> = oshape.iter().copied().collect();
        if dims != [n as i64, classes as i64] {
            return Err(VisionError::Runtime(format!(
                "output {:?} has shape {dims:?}, expected [{n}, {classes}] ({classes} labels)",
                spec.output_name
            )));
        }
        Ok(data.to_vec())
    }

    fn infer(&mut self, n: usize) -> Result<Vec<f32>, VisionError> {
        let tensor = std::mem::take(&mut self.input);
        let r = self.infer_tensor(&tensor[..n * self.pre.tensor_len()], n);
        self.input = tensor;
        r
    }

    fn prepare(&mut self, frame: &Frame, slot: usize) -> Result<Prepared, VisionError> {
        let len = self.pre.tensor_len();
        if self.input.len() < (slot + 1) * len {
            self.input.resize((slot + 1) * len, 0.0);
        }
        self.pre
            .prepare(&frame.image, &mut self.input[slot * len..(slot + 1) * len])
            .map_err(|e| VisionError::Decode {
                seq: frame.seq,
                kind: e.kind(),
                reason: e.to_string(),
            })
    }

    /// Scores several frames in one inference (offline evaluation). Frames that
    /// fail to decode get their own error; the others are still scored.
    /// `latency_ms` is the batch's total time divided by the frames scored.
    pub fn classify_batch(&mut self, frames: &[Frame]) -> Vec<Result<FrameScore, VisionError>> {
        let t0 = Instant::now();
        let mut prepared: Vec<Result<(usize, Prepared), VisionError>> = Vec::with_capacity(frames.len());
        let mut n = 0;
        for f in frames {
            prepared.push(self.prepare(f, n).map(|p| {
                n += 1;
                (n - 1, p)
            }));
        }
        let probs = if n > 0 { self.infer(n) } else { Ok(Vec::new()) };
        let per_frame_ms = t0.elapsed().as_secs_f32() * 1e3 / n.max(1) as f32;
        let classes = self.model.labels.len();
        frames
            .iter()
            .zip(prepared)
            .map(|(f, prep)| {
                let (slot, p) = prep?;
                let probs = probs.as_ref().map_err(clone_err)?;
                let scores = self
                    .model
                    .scores(&probs[slot * classes..(slot + 1) * classes])
                    .map_err(VisionError::Runtime)?;
                Ok(frame_score(f, scores, &p, per_frame_ms))
            })
            .collect()
    }
}

fn clone_err(e: &VisionError) -> VisionError {
    VisionError::Runtime(e.to_string())
}

/// The preprocessing every backend runs for a model (the remote one too: the server gets the same tensor).
pub(super) fn preprocessor_for(spec: &ModelSpec, roi: Option<Roi>) -> Preprocessor {
    Preprocessor::new(spec.input_width, spec.input_height, roi)
}

/// The frame's `FrameScore` from its scores and preprocessing facts (shared with the remote backend).
pub(super) fn frame_score(frame: &Frame, scores: Scores, p: &Prepared, latency_ms: f32) -> FrameScore {
    FrameScore {
        seq: frame.seq,
        captured_at: frame.captured_at,
        scores,
        brightness: p.brightness,
        fingerprint: p.fingerprint,
        latency_ms,
    }
}

impl Classifier for OnnxClassifier {
    fn labels(&self) -> &[Arc<str>] {
        &self.model.labels
    }

    fn classify(&mut self, frame: &Frame) -> Result<FrameScore, VisionError> {
        let t0 = Instant::now();
        let prep = self.prepare(frame, 0)?;
        let t1 = Instant::now();
        let probs = self.infer(1)?;
        let scores = self.model.scores(&probs).map_err(VisionError::Runtime)?;
        self.last_times = FrameTimes {
            decode: prep.decode_time,
            resize: prep.resize_time,
            tensor: prep.tensor_time,
            inference: t1.elapsed(),
        };
        Ok(frame_score(frame, scores, &prep, t0.elapsed().as_secs_f32() * 1e3))
    }
}

/// Compares the graph's real input and output with the description.
fn check_io(session: &Session, spec: &ModelSpec) -> Result<(), String> {
    let names = |v: &[ort::value::Outlet]| v.iter().map(|o| o.name().to_string()).collect::<Vec<_>>();
    let Some(input) = session.inputs().iter().find(|o| o.name() == spec.input_name) else {
        return Err(format!(
            "the graph has inputs {:?}, the description says input_name = {:?}",
            names(session.inputs()),
            spec.input_name
        ));
    };
    let Some(output) = session.outputs().iter().find(|o| o.name() == spec.output_name) else {
        return Err(format!(
            "the graph has outputs {:?}, the description says output_name = {:?}",
            names(session.outputs()),
            spec.output_name
        ));
    };
    if session.inputs().len() != 1 {
        return Err(format!(
            "the graph needs {} inputs {:?}; only one image input is supported",
            session.inputs().len(),
            names(session.inputs())
        ));
    }
    let (w, h) = (i64::from(spec.input_width), i64::from(spec.input_height));
    let in_dims = float_dims(input.dtype()).ok_or_else(|| {
        format!(
            "input {:?} is {:?}, expected a float32 tensor",
            spec.input_name,
            input.dtype()
        )
    })?;
    let fits = |got: i64, want: i64| got < 0 || got == want;
    if in_dims.len() != 4 || !fits(in_dims[1], 3) || !fits(in_dims[2], h) || !fits(in_dims[3], w) {
        return Err(format!(
            "wrong input shape: input {:?} is {}, the description says [N, 3, {h}, {w}]",
            spec.input_name,
            show_dims(&in_dims)
        ));
    }
    let out_dims = float_dims(output.dtype()).ok_or_else(|| {
        format!(
            "output {:?} is {:?}, expected a float32 tensor",
            spec.output_name,
            output.dtype()
        )
    })?;
    let classes = spec.labels.len() as i64;
    if out_dims.len() != 2 || !fits(out_dims[1], classes) {
        return Err(format!(
            "wrong number of classes: output {:?} is {}, the description lists {classes} labels {:?}",
            spec.output_name,
            show_dims(&out_dims),
            spec.labels
        ));
    }
    Ok(())
}

fn float_dims(t: &ValueType) -> Option<Vec<i64>> {
    match t {
        ValueType::Tensor {
            ty: TensorElementType::Float32,
            shape,
            ..
        } => Some(shape.iter().copied().collect()),
        _ => None,
    }
}

fn show_dims(d: &[i64]) -> String {
    let parts: Vec<String> = d
        .iter()
        .map(|v| if *v < 0 { "N".to_string() } else { v.to_string() })
        .collect();
    format!("[{}]", parts.join(", "))
}
