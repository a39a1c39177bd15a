//! The watchdog stage: once a second it reads the vision worker's heartbeat
//! and publishes it. An inference running for more than
//! [`VISION_STUCK_AFTER`] is reported (`error!`, the API, `/healthz` 503);
//! one still running after [`ABANDON_AFTER`] is given up on: the worker is
//! stopped, the vision stage restarts with a new one (counted as a crash),
//! and the stuck thread ends whenever its call returns.

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::vision::VisionPool;
use crate::app::status::{StatusBoard, VISION_STUCK_AFTER};
use crate::app::supervisor::StageExit;
use crate::web::VisionDto;

/// A stuck inference is abandoned after this long.
pub const ABANDON_AFTER: Duration = Duration::from_secs(60);

/// With `shared` (one pool for several printers), `classified` is this printer's own count of
/// scored frames, not the shared worker's total.
pub async fn run(
    pool: Arc<VisionPool>,
    board: Arc<StatusBoard>,
    shared: bool,
    cancel: CancellationToken,
) -> anyhow::Result<StageExit> {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut stuck_reported = false;
    loop {
        tokio::select! {
            _ = cancel.cancelled() => return Ok(StageExit::Stopped),
            _ = tick.tick() => {}
        }
        let Some(worker) = pool.current() else {
            board.set_vision(VisionDto::default());
            continue;
        };
        let h = worker.health();
        let busy = h.busy_for.unwrap_or_default();
        let stuck = busy > VISION_STUCK_AFTER;
        if stuck && !stuck_reported {
            tracing::error!(stage = "vision", busy_ms = busy.as_millis() as u64, "inference stuck");
            stuck_reported = true;
        } else if !stuck && stuck_reported {
            tracing::info!(stage = "vision", "inference no longer stuck");
            stuck_reported = false;
        }
        if busy > ABANDON_AFTER {
            tracing::error!(
                stage = "vision",
                busy_ms = busy.as_millis() as u64,
                "giving up on the stuck vision worker"
            );
            pool.abandon();
        }
        board.set_vision(VisionDto {
            classified: match shared {
                true => crate::web::StatusSource::counters(&*board).latency_count,
                false => h.classified,
            },
            failed: h.failed,
            panics: h.panics,
            alive: h.alive,
            busy_for_ms: busy.as_millis() as u64,
            stuck,
            last_latency_ms: None,
            mean_latency_ms: None,
        });
    }
}
