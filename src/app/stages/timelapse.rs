//! The time-lapse stage: follows the printer's layer and, at each layer
//! change, stores the first judged camera frame taken at or after the change
//! (`timelapse::Spool`, on disk, decimated to `[timelapse] max_frames`). When
//! the print ends — finished, cancelled, failed, interrupted, or another file
//! starts — the frames become `<data_dir>/timelapses/<print id>.mp4` on a
//! blocking thread, then retention runs.
//!
//! Which print is which comes from the store's `prints` table (the action
//! engine writes it from the same printer status). At start the stage takes
//! over what a previous run left: the frames of the print still unfinished in
//! the store are resumed if the printer is still printing that file (and
//! encoded when it is not); the frames of every ended print are encoded then,
//! and discarded if that fails again. A failed encode is logged with the file
//! and the reason and counted (`layerwatch_timelapse_failures_total`); it never
//! stops the daemon.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::app::status::StatusBoard;
use crate::domain::{PrinterState, PrinterStatus, Timestamp};
use crate::store::Store;
use crate::timelapse::{Library, Spool, TimelapseConfig};
use crate::web::StatusSource as _;

/// How often a pending layer change looks for its frame.
const POLL: Duration = Duration::from_millis(100);
/// A layer change without a frame after this long goes without one.
const FRAME_WAIT_MS: i64 = 30_000;
/// The store's print row may start this much before the stage saw the print.
const START_SLACK_MS: i64 = 10_000;

/// What the stage reads.
pub struct TimelapseInputs {
    pub cfg: TimelapseConfig,
    pub library: Library,
    pub store: Store,
    pub printer: watch::Receiver<PrinterStatus>,
    pub board: Arc<StatusBoard>,
}

/// The print being recorded.
struct Recording {
    file: String,
    /// When the stage first saw it printing.
    seen_at: Timestamp,
    /// The store's id, once the action engine has recorded the print.
    print: Option<i64>,
    spool: Option<Spool>,
    layer: Option<u32>,
    /// A layer change waiting for its frame, since then.
    pending: Option<Timestamp>,
    /// The last frame stored (a frame is never stored twice).
    last_seq: Option<u64>,
}

impl Recording {
    fn new(file: &str, seen_at: Timestamp) -> Recording {
        Recording { file: file.into(), seen_at, print: None, spool: None, layer: None, pending: None, last_seq: None }
    }
}

/// Runs until `cancel`; errors are logged, never returned.
pub async fn run(inputs: Arc<TimelapseInputs>, cancel: CancellationToken) {
    let mut rec = match recover(&inputs).await {
        Ok(r) => r,
        Err(e) => {
            tracing::error!(dir = %inputs.library.root().display(), error = %e, "time-lapse folder unusable: no time-lapses this run");
            return;
        }
    };
    let mut printer = inputs.printer.clone();
    // The status now counts too (the printer may already be idle after a restart).
    printer.mark_changed();
    let mut poll = tokio::time::interval(POLL);
    poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            biased;
            _ = cancel.cancelled() => return,
            changed = printer.changed() => {
                if changed.is_err() {
                    return;
                }
                let status = printer.borrow_and_update().clone();
                on_status(&inputs, &mut rec, &status, &cancel).await;
            }
            _ = poll.tick() => {
                if let Some(r) = &mut rec {
                    capture_pending(&inputs, r).await;
                }
            }
        }
    }
}

/// Follows one printer status: a new print, a new layer, or the end of one.
async fn on_status(
    inputs: &TimelapseInputs,
    rec: &mut Option<Recording>,
    s: &PrinterStatus,
    cancel: &CancellationToken,
) {
    match &s.state {
        PrinterState::Printing { job }
        | PrinterState::Pausing { job }
        | PrinterState::Paused { job }
        | PrinterState::Heating { job: Some(job) } => {
            if job.file.is_empty() {
                return;
            }
            if rec.as_ref().is_some_and(|r| r.file != job.file) {
                end(inputs, rec.take(), "another file started", cancel).await;
            }
            let r = rec.get_or_insert_with(|| Recording::new(&job.file, Timestamp::now()));
            if matches!(s.state, PrinterState::Printing { .. })
                && let Some(layer) = job.layer
                && r.layer != Some(layer)
            {
                r.layer = Some(layer);
                r.pending = Some(Timestamp::now());
            }
        }
        PrinterState::Finished { .. } => end(inputs, rec.take(), "finished", cancel).await,
        PrinterState::Cancelled { .. } => end(inputs, rec.take(), "cancelled", cancel).await,
        PrinterState::Error { .. } => end(inputs, rec.take(), "printer error", cancel).await,
        PrinterState::Idle => end(inputs, rec.take(), "interrupted", cancel).await,
        PrinterState::Disconnected | PrinterState::Heating { job: None } => {}
    }
}

/// Stores the frame of a pending layer change once a frame taken after it has been judged.
async fn capture_pending(inputs: &TimelapseInputs, r: &mut Recording) {
    let Some(since) = r.pending else { return };
    if Timestamp::now().millis() - since.millis() > FRAME_WAIT_MS {
        tracing::debug!(file = %r.file, layer = r.layer, "no camera frame for this layer: skipped in the time-lapse");
        r.pending = None;
        return;
    }
    let frames = inputs.board.live_frames();
    let Some(frame) = frames.iter().find(|f| f.captured_at >= since && r.last_seq.is_none_or(|s| f.seq > s)) else {
        return;
    };
    if r.print.is_none() {
        r.print = match inputs.store.unfinished_print().await {
            Ok(Some(p)) if p.file == r.file && p.started_at.millis() >= r.seen_at.millis() - START_SLACK_MS => {
                Some(p.id)
            }
            Ok(_) => return, // not recorded yet: the next poll asks again
            Err(e) => {
                tracing::warn!(error = %e, "time-lapse: cannot read the current print");
                return;
            }
        };
    }
    let Some(print) = r.print else { return };
    if r.spool.is_none() {
        match Spool::open(&inputs.library, print, inputs.cfg.max_frames) {
            Ok(s) => r.spool = Some(s),
            Err(e) => {
                tracing::warn!(print, error = %e, "time-lapse: cannot open the frame folder");
                r.pending = None;
                return;
            }
        }
    }
    let Some(spool) = &mut r.spool else { return };
    // One small file write (and maybe a few deletes) per layer change.
    match spool.add(&frame.jpeg) {
        Ok(kept) => tracing::debug!(
            print,
            layer = r.layer,
            frame_seq = frame.seq,
            index = kept,
            frames = spool.len(),
            "time-lapse frame"
        ),
        Err(e) => tracing::warn!(print, error = %e, "time-lapse: cannot store a frame"),
    }
    r.last_seq = Some(frame.seq);
    r.pending = None;
}

/// The print ended: encode its frames off the runtime, then apply retention.
async fn end(inputs: &TimelapseInputs, rec: Option<Recording>, why: &'static str, cancel: &CancellationToken) {
    let Some(r) = rec else { return };
    let Some(print) = r.print else { return };
    tokio::select! {
        _ = cancel.cancelled() => {
            // The frames stay on disk: the next start encodes them.
            tracing::info!(print, "shutting down while a time-lapse encodes: the next start finishes it");
        }
        _ = encode(inputs, print, &r.file, why, false) => {}
    }
}

/// Encodes `print`'s frames; `last_try`: a failure discards them instead of keeping them for the next start.
async fn encode(inputs: &TimelapseInputs, print: i64, file: &str, why: &str, last_try: bool) {
    let (lib, fps, encoder, limits) = (inputs.library.clone(), inputs.cfg.fps, inputs.cfg.encoder, inputs.cfg.limits());
    let t0 = std::time::Instant::now();
    let done = tokio::task::spawn_blocking(move || {
        let r = lib.finish(print, fps, encoder);
        let retention = lib.enforce(limits, Timestamp::now());
        (r, retention)
    })
    .await;
    let (result, retention) = match done {
        Ok(x) => x,
        Err(e) => {
            inputs.board.count_timelapse(false);
            tracing::error!(print, file, error = %e, "time-lapse encoder crashed");
            return;
        }
    };
    let video = inputs.library.video(print);
    match result {
        Ok(Some(e)) => {
            inputs.board.count_timelapse(true);
            tracing::info!(
                print,
                file,
                ended = why,
                video = %e.path.display(),
                frames = e.frames,
                skipped = e.skipped,
                bytes = e.bytes,
                codec = %e.codec,
                took_ms = t0.elapsed().as_millis() as u64,
                "time-lapse written"
            );
        }
        Ok(None) => tracing::info!(print, file, ended = why, "no frame was taken: no time-lapse"),
        Err(e) => {
            inputs.board.count_timelapse(false);
            tracing::error!(print, file, video = %video.display(), error = %e, discarded = last_try, "time-lapse encoding failed");
            if last_try && let Err(e) = inputs.library.discard(print) {
                tracing::warn!(print, error = %e, "cannot remove the frames of a failed time-lapse");
            }
        }
    }
    match retention {
        Ok(deleted) if !deleted.is_empty() => tracing::info!(prints = ?deleted, "time-lapse retention deleted videos"),
        Ok(_) => {}
        Err(e) => tracing::warn!(error = %e, "time-lapse retention failed"),
    }
}

/// At start: prepares the folder, encodes the frames of ended prints, and
/// returns the unfinished print's recording to resume.
async fn recover(inputs: &TimelapseInputs) -> Result<Option<Recording>, crate::timelapse::TimelapseError> {
    let (lib, limits) = (inputs.library.clone(), inputs.cfg.limits());
    // Retention runs at each start too, so the age limit holds between prints.
    let spools = tokio::task::spawn_blocking(move || {
        lib.prepare()?;
        match lib.enforce(limits, Timestamp::now()) {
            Ok(deleted) if !deleted.is_empty() => {
                tracing::info!(prints = ?deleted, "time-lapse retention deleted videos")
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "time-lapse retention failed"),
        }
        lib.spools()
    })
    .await
    .unwrap_or_else(|e| {
        Err(crate::timelapse::TimelapseError::Io { path: "timelapses".into(), source: std::io::Error::other(e) })
    })?;
    let unfinished = match inputs.store.unfinished_print().await {
        Ok(p) => p,
        Err(e) => {
            tracing::warn!(error = %e, "time-lapse: cannot read the unfinished print; leftover frames stay");
            return Ok(None);
        }
    };
    for print in spools {
        if unfinished.as_ref().is_some_and(|p| p.id == print) {
            continue;
        }
        let file = match inputs.store.print(print).await {
            Ok(Some(p)) => p.file,
            _ => String::new(),
        };
        tracing::info!(print, file, "time-lapse frames left by the previous run: encoding them");
        encode(inputs, print, &file, "before the restart", true).await;
    }
    Ok(unfinished.map(|p| {
        tracing::info!(print = p.id, file = %p.file, "time-lapse resumes the unfinished print");
        let mut r = Recording::new(&p.file, p.started_at);
        r.print = Some(p.id);
        r
    }))
}
