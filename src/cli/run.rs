//! `layerwatch run`: the daemon, until SIGTERM or Ctrl-C.
//!
//! Exit status: 0 after a clean shutdown; non-zero when it cannot start (bad
//! config, store, calibration) or a stage crashed past its restart budget, so
//! a service manager (`Restart=on-failure`) starts it afresh.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use tokio_util::sync::CancellationToken;

use crate::app::{Daemon, RunOptions};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Host mode only (`printer.serial.mode = "host"`): stream this G-code file to
    /// the printer once it is connected and idle.
    #[arg(long, value_name = "FILE")]
    pub print: Option<PathBuf>,
}

pub async fn run(args: Args, global: &super::Global) -> anyhow::Result<ExitCode> {
    let cfg = global.load_config()?;
    let (warn, mut issues): (Vec<_>, Vec<_>) =
        crate::app::preflight::check(&cfg).into_iter().partition(crate::app::preflight::is_one_printers_device);
    for w in &warn {
        tracing::warn!(problem = %w, "one printer cannot reach its device yet; it retries, the others run");
    }
    let (server, warning) = crate::app::preflight::check_inference_server(&cfg).await;
    issues.extend(server);
    if let Some(w) = warning {
        tracing::warn!("{w}");
    }
    if !issues.is_empty() {
        // One clear error now, rather than a stage crash-looping on it.
        let file = global.config.clone();
        anyhow::bail!("cannot start: {}", crate::config::ConfigError::Invalid { file, issues });
    }
    let print = match args.print {
        Some(p) => Some(std::path::absolute(&p).with_context(|| format!("--print {}", p.display()))?),
        None => None,
    };
    let cancel = CancellationToken::new();
    let signals = spawn_signal_handler(cancel.clone())?;
    let opts = RunOptions { print, ..Default::default() };
    let result = match cfg.printers.is_empty() {
        true => Daemon::start(cfg, opts, cancel).await?.wait().await,
        false => crate::app::farm::run(cfg, opts, cancel).await,
    };
    signals.abort();
    result.map(|()| ExitCode::SUCCESS)
}

/// Cancels `cancel` on SIGTERM, SIGINT (Ctrl-C) or SIGHUP.
pub fn spawn_signal_handler(cancel: CancellationToken) -> anyhow::Result<tokio::task::JoinHandle<()>> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).context("cannot listen for SIGTERM")?;
    let mut int = signal(SignalKind::interrupt()).context("cannot listen for SIGINT")?;
    let mut hup = signal(SignalKind::hangup()).context("cannot listen for SIGHUP")?;
    Ok(tokio::spawn(async move {
        let name = tokio::select! {
            _ = term.recv() => "SIGTERM",
            _ = int.recv() => "SIGINT",
            _ = hup.recv() => "SIGHUP",
            _ = cancel.cancelled() => return,
        };
        tracing::info!(signal = name, "stopping");
        cancel.cancel();
    }))
}
