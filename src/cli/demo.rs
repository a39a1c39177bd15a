//! `layerwatch demo`: the built-in demo (see `app::demo`). Prints the timeline
//! on stdout; exit status 0 only when the printer was paused after the
//! failure appeared and an alert was delivered.

use std::process::ExitCode;
use std::time::Instant;

use tokio_util::sync::CancellationToken;

use crate::app::demo::{self, DemoOptions};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Keep the daemon (and its status API) running after the timeline, until Ctrl-C.
    #[arg(long)]
    pub keep: bool,
    /// Real seconds per simulated second of the printer (0.1 runs the print ten times faster).
    #[arg(long, default_value_t = 0.1, value_parser = parse_scale)]
    pub time_scale: f64,
    /// Address of the status API (default: 127.0.0.1:8484 with --keep when free, else any free port).
    #[arg(long, value_name = "ADDR")]
    pub web: Option<String>,
}

fn parse_scale(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if (0.01..=1.0).contains(&v) => Ok(v),
        _ => Err(format!("{s}: must be a number between 0.01 and 1")),
    }
}

pub async fn run(args: Args, global: &super::Global) -> anyhow::Result<ExitCode> {
    // The timeline tells the story (incidents, actions, alerts); logs interleaved with it only
    // blur it, so by default only errors are logged (-v for info).
    let filter = match global.verbose {
        0 => "error",
        1 => "info",
        2 => "debug",
        _ => "trace",
    };
    crate::telemetry::init(filter, crate::config::LogFormat::Text);
    let started = Instant::now();
    println!(
        "layerwatch demo: a simulated Marlin printer prints a 27-layer block ({}x faster than real time),\n\
         a simulated camera shows it, and the failure appears part-way through. Watch the daemon react…\n",
        (1.0 / args.time_scale).round()
    );
    let cancel = CancellationToken::new();
    let signals = super::run::spawn_signal_handler(cancel.clone())?;
    let opts = DemoOptions { keep: args.keep, time_scale: args.time_scale, web_bind: args.web };
    let outcome = demo::run(opts, cancel).await;
    signals.abort();
    let outcome = outcome?;
    if !args.keep {
        println!("{}", outcome.timeline);
    }
    println!("demo finished in {:.1} s", started.elapsed().as_secs_f64());
    Ok(if outcome.paused_after_onset && outcome.alert_delivered { ExitCode::SUCCESS } else { ExitCode::from(1) })
}
