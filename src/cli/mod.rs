//! Command-line interface: one file per subcommand, each with its `Args` and `run`.
//!
//! This is the only place (with `app`) where errors become `anyhow` and exit codes:
//! 0 success, 1 the command ran and found a problem, 2 usage or setup error.

mod alerts;
mod camera_memory;
mod cameras;
mod classify;
mod dataset;
mod demo;
mod eval;
mod gcode;
mod label;
mod printer;
mod record;
mod run;
mod validate;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// layerwatch: watches a 3D printer through a camera and stops prints that fail.
#[derive(Debug, Parser)]
#[command(name = "layerwatch", version, about, propagate_version = true)]
pub struct Cli {
    /// Configuration file (TOML). Without it, built-in defaults are used.
    #[arg(long, short = 'c', global = true, env = "LAYERWATCH_CONFIG")]
    pub config: Option<PathBuf>,
    /// More log output (-v debug, -vv trace).
    #[arg(long, short = 'v', global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// The built-in demo: the daemon against a simulated camera, printer and alert receivers.
    Demo(demo::Args),
    /// Watch the printer: the daemon (camera, classifier, printer link, alerts, web API).
    Run(run::Args),
    /// Check a configuration file and report every problem with its key and value.
    ValidateConfig(validate::Args),
    /// Score images (a file or a folder) with the failure classifier and summarise.
    Classify(classify::Args),
    /// Inspect G-code files: layers, time, filament, objects (`gcode info FILE`).
    Gcode(gcode::Args),
    /// List the V4L2/UVC cameras on this machine and the modes they offer.
    Cameras(cameras::Args),
    /// Alert channels: `alerts test` sends a test alert to each.
    Alerts(alerts::Args),
    /// Talk to the printer: status, watch, print a file, pause, resume, cancel.
    Printer(printer::Args),
    /// Evaluate a model and the decision settings on labelled images and recorded sequences.
    Eval(eval::Args),
    /// Record the camera (and printer status) into a sequence for later evaluation.
    Record(record::Args),
    /// Set or show the labels of a recorded sequence (failure onset, kind, notes).
    Label(label::Args),
    /// Datasets: import other layouts, generate synthetic sequences, check files.
    Dataset(dataset::Args),
    /// Each camera's memory of normal frames, which the decision reads scores against: show or reset it.
    CameraMemory(camera_memory::Args),
}

/// Parses arguments, runs the command, maps the outcome to an exit code.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(2);
        }
    };
    let result = runtime.block_on(dispatch(cli));
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

async fn dispatch(cli: Cli) -> anyhow::Result<ExitCode> {
    let global = Global { config: cli.config, verbose: cli.verbose };
    match cli.command {
        Command::Run(a) => run::run(a, &global).await,
        Command::Demo(a) => demo::run(a, &global).await,
        Command::ValidateConfig(a) => validate::run(a, &global).await,
        Command::Classify(a) => classify::run(a, &global).await,
        Command::Gcode(a) => gcode::run(a, &global).await,
        Command::Cameras(a) => cameras::run(a, &global).await,
        Command::Alerts(a) => alerts::run(a, &global).await,
        Command::Printer(a) => printer::run(a, &global).await,
        Command::Eval(a) => eval::run(a, &global).await,
        Command::Record(a) => record::run(a, &global).await,
        Command::Label(a) => label::run(a, &global).await,
        Command::Dataset(a) => dataset::run(a, &global).await,
        Command::CameraMemory(a) => camera_memory::run(a, &global).await,
    }
}

/// Options every subcommand sees.
#[derive(Debug, Clone)]
pub struct Global {
    pub config: Option<PathBuf>,
    pub verbose: u8,
}

impl Global {
    /// Loads the config file if one was given, else the defaults; initialises logging.
    pub fn load_config(&self) -> anyhow::Result<crate::config::Config> {
        let cfg = match &self.config {
            Some(p) => crate::config::Config::load(p)?,
            None => crate::config::Config::default(),
        };
        let filter = match self.verbose {
            0 => cfg.general.log.clone(),
            1 => "debug".to_string(),
            _ => "trace".to_string(),
        };
        crate::telemetry::init(&filter, cfg.general.log_format);
        Ok(cfg)
    }
}
