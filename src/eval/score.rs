//! Scoring frames with the model on every core: the only expensive step of an
//! evaluation, done once per frame and model.
//!
//! [`Scorer`] owns a rayon pool and one `vision::Classifier` per worker (for
//! the real model: one ONNX Runtime session each, `threads = 1`, so N cores
//! run N sessions side by side). Classifiers are made by a factory on first
//! use and kept for the next batch. Each frame goes through
//! `Classifier::classify`, the call the daemon's vision worker makes, so the
//! scores are the daemon's. The fake for tests is `vision::FakeClassifier`
//! behind [`Scorer::with_factory`].

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use tokio_util::sync::CancellationToken;

use super::error::{EvalError, SkipKind};
use super::progress::Progress;
use crate::domain::{Frame, FrameScore, Timestamp};
use crate::vision::{Classifier, ClassifierOptions, Model, OnnxClassifier, VisionError};

/// Makes one classifier (called once per worker thread).
pub type ClassifierFactory = Arc<dyn Fn() -> Result<Box<dyn Classifier>, VisionError> + Send + Sync>;

/// What the report says about the model.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ModelInfo {
    /// `name` from `classifier.toml`.
    pub name: String,
    /// `built-in model` or the ONNX file's path.
    pub source: String,
    pub labels: Vec<String>,
    pub normal_label: String,
}

/// Why one input produced no score.
#[derive(Debug, Clone, PartialEq)]
pub struct ScoreFail {
    pub kind: SkipKind,
    pub reason: String,
}

/// The model on a pool of worker threads.
pub struct Scorer {
    info: ModelInfo,
    factory: ClassifierFactory,
    pool: rayon::ThreadPool,
    workers: usize,
    stash: Mutex<Vec<Box<dyn Classifier>>>,
    /// Image files with more pixels (from the header) are skipped undecoded.
    max_pixels: u64,
}

impl std::fmt::Debug for Scorer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Scorer({} on {} workers)", self.info.name, self.workers)
    }
}

/// Worker threads to use by default: every core.
pub fn default_workers() -> usize {
    std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)
}

impl Scorer {
    /// The real model: one `OnnxClassifier` (threads = 1) per worker. The first
    /// session is created now, so a missing runtime or a bad model fails here.
    pub fn onnx(model: Model, opts: &ClassifierOptions, workers: usize) -> Result<Scorer, EvalError> {
        let info = ModelInfo {
            name: model.spec.name.clone(),
            source: model.source.to_string(),
            labels: model.spec.labels.clone(),
            normal_label: model.spec.normal_label.clone(),
        };
        let opts = ClassifierOptions { threads: 1, warmup_runs: 1, ..opts.clone() };
        let factory: ClassifierFactory =
            Arc::new(move || OnnxClassifier::new(model.clone(), &opts).map(|c| Box::new(c) as Box<dyn Classifier>));
        let scorer = Scorer::with_factory(info, factory, workers)?;
        let first = (scorer.factory)()?;
        scorer.put_back(first);
        Ok(scorer)
    }

    /// Any classifier (the fake in tests) behind a factory.
    pub fn with_factory(info: ModelInfo, factory: ClassifierFactory, workers: usize) -> Result<Scorer, EvalError> {
        let workers = workers.max(1);
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(workers)
            .thread_name(|i| format!("eval-score-{i}"))
            .build()
            .map_err(|e| EvalError::invalid("scoring pool", e.to_string()))?;
        Ok(Scorer {
            info,
            factory,
            pool,
            workers,
            stash: Mutex::new(vec![]),
            max_pixels: crate::images::DEFAULT_MAX_PIXELS,
        })
    }

    /// Image files over `max_pixels` (read from the header) are skipped, not decoded.
    pub fn with_max_pixels(mut self, max_pixels: u64) -> Self {
        self.max_pixels = max_pixels;
        self
    }

    pub fn max_pixels(&self) -> u64 {
        self.max_pixels
    }

    pub fn info(&self) -> &ModelInfo {
        &self.info
    }

    pub fn workers(&self) -> usize {
        self.workers
    }

    fn take(&self) -> Result<Box<dyn Classifier>, VisionError> {
        let stashed = self.stash.lock().map(|mut s| s.pop()).unwrap_or(None);
        match stashed {
            Some(c) => Ok(c),
            None => (self.factory)(),
        }
    }

    fn put_back(&self, c: Box<dyn Classifier>) {
        if let Ok(mut s) = self.stash.lock() {
            s.push(c);
        }
    }

    /// Runs `f` on every job, on all workers, each with its own classifier;
    /// results come back in job order. Stops early (with `Cancelled`) when
    /// `cancel` fires; fails if no worker can make a classifier.
    pub fn map<J, T, F>(
        &self,
        jobs: &[J],
        f: F,
        progress: &Progress,
        cancel: &CancellationToken,
    ) -> Result<Vec<T>, EvalError>
    where
        J: Sync,
        T: Send,
        F: Fn(&mut dyn Classifier, &J) -> T + Sync,
    {
        let n = jobs.len();
        let mut out: Vec<Option<T>> = (0..n).map(|_| None).collect();
        if n == 0 {
            return Ok(vec![]);
        }
        let next = AtomicUsize::new(0);
        let (tx, rx) = std::sync::mpsc::channel::<Result<(usize, T), VisionError>>();
        let workers = self.workers.min(n);
        let mut setup_error = None;
        self.pool.in_place_scope(|s| {
            for _ in 0..workers {
                let tx = tx.clone();
                let (next, f) = (&next, &f);
                s.spawn(move |_| {
                    let mut c = match self.take() {
                        Ok(c) => c,
                        Err(e) => {
                            let _ = tx.send(Err(e));
                            return;
                        }
                    };
                    loop {
                        if cancel.is_cancelled() {
                            break;
                        }
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        if i >= n {
                            break;
                        }
                        let r = f(c.as_mut(), &jobs[i]);
                        if tx.send(Ok((i, r))).is_err() {
                            break;
                        }
                    }
                    self.put_back(c);
                });
            }
            drop(tx);
            for msg in rx {
                match msg {
                    Ok((i, r)) => {
                        out[i] = Some(r);
                        progress.inc(1);
                    }
                    Err(e) => {
                        tracing::error!(error = %e, "a scoring worker could not load the model");
                        setup_error.get_or_insert(e);
                    }
                }
            }
        });
        if cancel.is_cancelled() {
            return Err(EvalError::Cancelled);
        }
        let done = out.iter().filter(|o| o.is_some()).count();
        if done < n {
            return Err(match setup_error {
                Some(e) => EvalError::Vision(e),
                None => EvalError::invalid("scoring", format!("only {done} of {n} frames were scored")),
            });
        }
        Ok(out.into_iter().flatten().collect())
    }

    /// Scores frames already in memory (sequence replays).
    pub fn score_frames(
        &self,
        frames: &[Frame],
        progress: &Progress,
        cancel: &CancellationToken,
    ) -> Result<Vec<Result<FrameScore, ScoreFail>>, EvalError> {
        self.map(frames, |c, f| c.classify(f).map_err(fail_of), progress, cancel)
    }

    /// Reads and scores image files (labelled image sets). Reading happens on
    /// the workers too, so decoding and I/O run in parallel.
    pub fn score_files(
        &self,
        paths: &[PathBuf],
        progress: &Progress,
        cancel: &CancellationToken,
    ) -> Result<Vec<Result<FrameScore, ScoreFail>>, EvalError> {
        let jobs: Vec<(usize, &PathBuf)> = paths.iter().enumerate().collect();
        self.map(
            &jobs,
            |c, (i, p)| {
                let frame = load_image_frame(p, *i as u64, Timestamp(0), self.max_pixels)?;
                c.classify(&frame).map_err(fail_of)
            },
            progress,
            cancel,
        )
    }
}

fn fail_of(e: VisionError) -> ScoreFail {
    match e {
        VisionError::Decode { .. } => ScoreFail { kind: SkipKind::Undecodable, reason: e.to_string() },
        other => ScoreFail { kind: SkipKind::ScoringFailed, reason: other.to_string() },
    }
}

/// Reads an image file into a frame as the folder camera would deliver it
/// (`capture::image_file`): size from the header first, refused over
/// `max_pixels`; JPEG stays encoded, other formats are decoded to RGB.
pub fn load_image_frame(path: &Path, seq: u64, at: Timestamp, max_pixels: u64) -> Result<Frame, ScoreFail> {
    use crate::capture::image_file::{self, ImageFileError};
    let image = image_file::load(path, max_pixels).map_err(|e| ScoreFail {
        kind: if matches!(e, ImageFileError::Missing) { SkipKind::MissingFile } else { SkipKind::Undecodable },
        reason: match e {
            ImageFileError::Missing | ImageFileError::Unreadable(_) => e.to_string(),
            other => format!("not a readable image: {other}"),
        },
    })?;
    Ok(Frame { seq, captured_at: at, source: Arc::from(path.display().to_string()), image })
}
