//! Shared helpers of the actions and store tests: a `PrinterLink` double with
//! scripted answers, verdict and frame builders, and an engine harness.
#![allow(dead_code)]

use std::collections::VecDeque;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use layerwatch::actions::alerts::Notifier;
use layerwatch::actions::{ActionEngine, ActionsConfig, AlertsConfig, Clock, DeciderFeedback, EngineDeps, RetryConfig};
use layerwatch::decision::Feedback;
use layerwatch::domain::{
    Evidence, FailureKind, Frame, FrameImage, Level, PrintJob, PrinterState, PrinterStatus, Timestamp, Verdict,
};
use layerwatch::printer::{Confirmation, FileAnalysis, PrinterError, PrinterLink};
use layerwatch::store::{Store, StoreConfig};
use opencv::core::{Mat, Scalar, Vector};
use opencv::prelude::*;
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// How the double answers one command.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Answer {
    /// Change state as a printer would, then confirm.
    Confirm,
    /// Leave the state alone and report `Unconfirmed`.
    Unconfirmed,
    /// `NotConnected`.
    NotConnected,
}

#[derive(Debug, Default)]
struct DoubleState {
    commands: Vec<String>,
    script: VecDeque<Answer>,
    /// Objects `cancel_object` cancelled.
    cancelled: Vec<String>,
}

/// A `PrinterLink` that records commands and follows a script (default: confirm).
#[derive(Clone)]
pub struct DoublePrinter {
    status: watch::Sender<PrinterStatus>,
    state: Arc<Mutex<DoubleState>>,
    analysis: watch::Sender<Option<FileAnalysis>>,
}

impl DoublePrinter {
    pub fn printing(file: &str, layer: u32) -> Self {
        let (tx, _) = watch::channel(status(PrinterState::Printing { job: job(file, layer) }));
        DoublePrinter { status: tx, state: Arc::default(), analysis: watch::channel(None).0 }
    }

    /// Publishes the analysis of the printing file (the objects `cancel_object` and `object_at` see).
    pub fn set_analysis(&self, analysis: FileAnalysis) {
        self.analysis.send_replace(Some(analysis));
    }

    pub fn with_state(state: PrinterState) -> Self {
        let (tx, _) = watch::channel(status(state));
        DoublePrinter { status: tx, state: Arc::default(), analysis: watch::channel(None).0 }
    }

    /// Answers for the next commands, in order; confirm after them.
    pub fn script(&self, answers: &[Answer]) {
        self.state.lock().unwrap().script.extend(answers.iter().copied());
    }

    /// Every command received: `pause`, `park`, `set_temperatures(Some(0.0), None)`…
    pub fn commands(&self) -> Vec<String> {
        self.state.lock().unwrap().commands.clone()
    }

    pub fn set_state(&self, state: PrinterState) {
        self.status.send_replace(status(state));
    }

    pub fn state(&self) -> PrinterState {
        self.status.borrow().state.clone()
    }

    fn answer(&self, name: String) -> Answer {
        let mut s = self.state.lock().unwrap();
        s.commands.push(name);
        s.script.pop_front().unwrap_or(Answer::Confirm)
    }

    fn run(
        &self,
        name: &'static str,
        transition: impl Fn(&PrinterState) -> Option<PrinterState>,
    ) -> Result<Confirmation, PrinterError> {
        match self.answer(name.to_string()) {
            Answer::Confirm => {
                let cur = self.state();
                match transition(&cur) {
                    Some(next) if next == cur => Ok(Confirmation::AlreadyThere),
                    Some(next) => {
                        self.set_state(next);
                        Ok(Confirmation::Confirmed)
                    }
                    None => Err(PrinterError::InvalidState { command: name, state: cur.name() }),
                }
            }
            Answer::Unconfirmed => {
                Err(PrinterError::Unconfirmed { command: name, timeout_ms: 30_000, state: self.state().name() })
            }
            Answer::NotConnected => Err(PrinterError::NotConnected),
        }
    }
}

#[async_trait]
impl PrinterLink for DoublePrinter {
    fn name(&self) -> &str {
        "double"
    }

    fn status(&self) -> watch::Receiver<PrinterStatus> {
        self.status.subscribe()
    }

    async fn pause(&self) -> Result<Confirmation, PrinterError> {
        self.run("pause", |s| match s {
            PrinterState::Printing { job } | PrinterState::Pausing { job } => {
                Some(PrinterState::Paused { job: job.clone() })
            }
            p @ PrinterState::Paused { .. } => Some(p.clone()),
            _ => None,
        })
    }

    async fn resume(&self) -> Result<Confirmation, PrinterError> {
        self.run("resume", |s| match s {
            PrinterState::Paused { job } => Some(PrinterState::Printing { job: job.clone() }),
            p @ PrinterState::Printing { .. } => Some(p.clone()),
            _ => None,
        })
    }

    async fn cancel(&self) -> Result<Confirmation, PrinterError> {
        self.run("cancel", |s| match s {
            PrinterState::Printing { job } | PrinterState::Paused { job } => {
                Some(PrinterState::Cancelled { job: Some(job.clone()) })
            }
            _ => None,
        })
    }

    async fn set_temperatures(&self, hotend: Option<f32>, bed: Option<f32>) -> Result<Confirmation, PrinterError> {
        match self.answer(format!("set_temperatures({hotend:?}, {bed:?})")) {
            Answer::Confirm => Ok(Confirmation::Confirmed),
            Answer::Unconfirmed => {
                Err(PrinterError::Unconfirmed { command: "set_temperatures", timeout_ms: 1, state: "paused" })
            }
            Answer::NotConnected => Err(PrinterError::NotConnected),
        }
    }

    async fn park(&self) -> Result<Confirmation, PrinterError> {
        self.run("park", |s| matches!(s, PrinterState::Paused { .. }).then(|| s.clone()))
            .map(|_| Confirmation::Confirmed)
    }

    fn analysis(&self) -> watch::Receiver<Option<FileAnalysis>> {
        self.analysis.subscribe()
    }

    async fn cancel_object(&self, name: &str) -> Result<Confirmation, PrinterError> {
        match self.answer(format!("cancel_object {name}")) {
            Answer::Confirm => {
                self.state.lock().unwrap().cancelled.push(name.to_string());
                Ok(Confirmation::Confirmed)
            }
            Answer::Unconfirmed => {
                Err(PrinterError::Unconfirmed { command: "cancel_object", timeout_ms: 1, state: "printing" })
            }
            Answer::NotConnected => Err(PrinterError::NotConnected),
        }
    }

    async fn cancelled_objects(&self) -> Vec<String> {
        self.state.lock().unwrap().cancelled.clone()
    }

    async fn start_print(&self, path: &Path) -> Result<Confirmation, PrinterError> {
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        match self.answer(format!("print {name}")) {
            Answer::Confirm if matches!(self.state(), PrinterState::Idle) => {
                self.set_state(PrinterState::Printing { job: job(&name, 0) });
                Ok(Confirmation::Confirmed)
            }
            Answer::Confirm => Err(PrinterError::InvalidState { command: "print", state: self.state().name() }),
            Answer::Unconfirmed => Err(PrinterError::Unconfirmed { command: "print", timeout_ms: 1, state: "idle" }),
            Answer::NotConnected => Err(PrinterError::NotConnected),
        }
    }
}

pub fn job(file: &str, layer: u32) -> PrintJob {
    PrintJob {
        file: file.into(),
        layer: Some(layer),
        layer_count: Some(120),
        progress: Some(layer as f32 / 120.0),
        ..Default::default()
    }
}

pub fn status(state: PrinterState) -> PrinterStatus {
    PrinterStatus { state, temps: Default::default(), at: Timestamp::now() }
}

pub fn verdict(level: Level, confidence: f32, layer: u32) -> Verdict {
    Verdict {
        at: Timestamp::now(),
        frame_seq: Some(u64::from(layer)),
        level,
        kind: (level != Level::Ok).then_some(FailureKind::Spaghetti),
        confidence,
        evidence: Evidence {
            smoothed: confidence,
            raw: confidence,
            frames: 6,
            top_class: Some("spaghetti".into()),
            top_class_p: confidence,
            layer: Some(layer),
            layer_count: Some(120),
            z: Some(layer as f32 * 0.2),
            progress: Some(layer as f32 / 120.0),
            note: format!("smoothed {confidence:.2} over 6 frames at layer {}/120, spaghetti", layer + 1),
            ..Evidence::default()
        },
    }
}

/// A real JPEG made with OpenCV: a grey 320×240 picture with a bright square.
pub fn jpeg_frame(seq: u64) -> Frame {
    let mut m = Mat::new_rows_cols_with_default(240, 320, opencv::core::CV_8UC3, Scalar::all(90.0)).unwrap();
    opencv::imgproc::rectangle(
        &mut m,
        opencv::core::Rect::new(120, 80, 80, 80),
        Scalar::new(200.0, 220.0, 240.0, 0.0),
        -1,
        opencv::imgproc::LINE_8,
        0,
    )
    .unwrap();
    let mut buf = Vector::<u8>::new();
    opencv::imgcodecs::imencode(".jpg", &m, &mut buf, &Vector::new()).unwrap();
    Frame {
        seq,
        captured_at: Timestamp::now(),
        source: "test-camera".into(),
        image: FrameImage::Jpeg(buf.to_vec().into()),
    }
}

/// Alert settings for tests: short backoffs and timeouts, no channels.
pub fn fast_alerts() -> AlertsConfig {
    AlertsConfig {
        request_timeout_ms: 5_000,
        retry: RetryConfig { initial_ms: 20, max_ms: 100, permanent_attempts: 3, ..RetryConfig::default() },
        ..AlertsConfig::default()
    }
}

pub async fn open_store(dir: &Path) -> Store {
    Store::open(&StoreConfig::default(), dir).await.unwrap()
}

/// A running engine and what it needs to stop.
pub struct Harness {
    pub engine: ActionEngine,
    pub store: Store,
    pub cancel: CancellationToken,
    pub tracker: TaskTracker,
    /// The decider's end of the engine's feedback channel.
    pub feedback: Mutex<mpsc::Receiver<Feedback>>,
    /// Where the engine writes the "not a failure" dataset (`<data_dir>/feedback/`).
    pub data_dir: std::path::PathBuf,
}

impl Harness {
    pub async fn start(
        dir: &Path,
        actions: ActionsConfig,
        alerts: AlertsConfig,
        printer: Option<DoublePrinter>,
        notifiers: Vec<Arc<dyn Notifier>>,
        clock: Clock,
    ) -> Harness {
        let store = open_store(dir).await;
        let cancel = CancellationToken::new();
        let tracker = TaskTracker::new();
        let (decider, feedback) = DeciderFeedback::channel();
        let data_dir = dir.join("data");
        let deps = EngineDeps {
            printer_name: "Test MK4".into(),
            actions,
            alerts,
            store: store.clone(),
            printer: printer.map(|p| Arc::new(p) as Arc<dyn PrinterLink>),
            notifiers,
            clock,
            data_dir: Some(data_dir.clone()),
            decider: Some(decider),
            timelapse_links: false,
        };
        let engine = ActionEngine::start(deps, &cancel, &tracker).await.unwrap();
        Harness { engine, store, cancel, tracker, feedback: Mutex::new(feedback), data_dir }
    }

    /// The feedback the engine has sent the decider so far (drained).
    pub fn feedback(&self) -> Vec<Feedback> {
        let mut rx = self.feedback.lock().unwrap();
        std::iter::from_fn(|| rx.try_recv().ok()).collect()
    }

    /// Stops every task and waits for them.
    pub async fn stop(self) {
        self.cancel.cancel();
        self.tracker.close();
        tokio::time::timeout(Duration::from_secs(10), self.tracker.wait()).await.expect("engine stops within 10 s");
    }
}

/// Polls `f` every 10 ms until it returns true or `timeout` passes.
pub async fn eventually<F, Fut>(timeout: Duration, mut f: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if f().await {
            return true;
        }
        if tokio::time::Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

pub mod delivery;
