//! Several printers in one daemon (`[[printers]]`): one [`Daemon`] per printer, each with
//! its own link, camera, decision, actions, store (`<data_dir>/<name>/`), supervisor and
//! cancellation token, all sharing one inference pool and one web server.
//!
//! ```text
//!  printer A: capture ─► vision ─┐                ┌─► decision ─► actions ─► store A
//!  printer B: capture ─► vision ─┼─► VisionPool ──┼─► decision ─► actions ─► store B
//!                                 (one model, one thread)
//!  web: /  /api/printers  /healthz  /metrics  /p/A/…  /p/B/…
//! ```
//!
//! Isolation: a printer's stages restart within their own budget; past it, only that
//! printer's token fires and its pipeline stops (logged at `error!`, shown by `/healthz`
//! and `/api/printers`), and the others go on. A dead link or a missing camera is a
//! reconnect loop inside that printer's stages, never a stop of the rest. The daemon
//! ends when the root token fires (a signal), or when the web server cannot run.

use std::time::Duration;

use anyhow::Context as _;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::daemon::{Daemon, RunOptions};
use super::stages::vision::{VisionPool, onnx_factory};
use crate::config::Config;
use crate::web::FarmPrinter;

/// The shared worker finishes the frame in hand within this on shutdown.
const STOP_VISION: Duration = Duration::from_secs(5);

/// Runs every printer of `cfg` (`[[printers]]`) until `cancel` fires.
pub async fn run(cfg: Config, opts: RunOptions, cancel: CancellationToken) -> anyhow::Result<()> {
    if opts.print.is_some() {
        anyhow::bail!("--print streams to one printer: it cannot be used with [[printers]]");
    }
    let factory = opts.classifier.clone().unwrap_or_else(|| onnx_factory(cfg.vision.clone()));
    let pool = VisionPool::new(factory, cancel.child_token());
    let printers = TaskTracker::new();
    let mut served = Vec::new();
    let list = cfg.printer_list();
    tracing::info!(printers = list.len(), "layerwatch starting several printers, one inference pool");
    for (name, pcfg) in list {
        let token = cancel.child_token();
        let daemon = Daemon::start_part(pcfg, opts.clone(), token.clone(), Some(pool.clone()))
            .await
            .with_context(|| format!("printer {name:?}"))?;
        if let Some(state) = daemon.web_state() {
            served.push(FarmPrinter { name: name.clone(), state, stopped: token.clone() });
        }
        printers.spawn(async move {
            match daemon.wait().await {
                Ok(()) => tracing::info!(printer = %name, "printer stopped"),
                Err(e) => tracing::error!(
                    printer = %name,
                    error = %e,
                    "printer stopped: a stage gave up; the other printers go on"
                ),
            }
        });
    }
    printers.close();
    let web = match cfg.web.enabled && !served.is_empty() {
        true => {
            let listener = crate::web::bind(&cfg.web.bind).await?;
            let (stop, web) = (cancel.clone(), cfg.web.clone());
            Some(tokio::spawn(async move {
                let r = crate::web::serve_farm(served, &web, listener, stop.clone()).await;
                if let Err(e) = &r {
                    tracing::error!(stage = "web", error = %e, "the web server stopped: stopping every printer");
                    stop.cancel();
                }
                r
            }))
        }
        false => None,
    };
    cancel.cancelled().await;
    printers.wait().await;
    pool.shutdown(STOP_VISION).await;
    if let Some(web) = web
        && let Ok(Err(e)) = web.await
    {
        return Err(e.into());
    }
    Ok(())
}
