//! Command-line interface: one file per subcommand, each with its `Args` and `run`.
//!
//! This is the only place (with `app`) where errors become `anyhow` and exit codes:
//! 0 success, 1 the command ran and found a problem, 2 usage or setup error.

mod alerts;
mod calibrate;
mod camera_memory;
mod cameras;
mod classify;
mod dataset;
mod demo;
mod doctor;
mod eval;
mod gcode;
mod label;
mod printer;
mod record;
mod run;
mod validate;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{CommandFactory as _, FromArgMatches as _, Parser, Subcommand};

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
    /// Check that this set-up will work (config, model, camera, printer, alerts, disk) and say how to fix what won't.
    Doctor(doctor::Args),
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
    /// Camera calibration: `calibrate solve` finds the camera's pose from bed points seen in a frame.
    Calibrate(calibrate::Args),
    /// Each camera's memory of normal frames, which the decision reads scores against: show or reset it.
    CameraMemory(camera_memory::Args),
}

/// Parses arguments, runs the command, maps the outcome to an exit code.
pub fn main() -> ExitCode {
    // `-V`: the version; `--version`: also the build, the model and ONNX Runtime.
    let matches = Cli::command().long_version(&*Box::leak(long_version().into_boxed_str())).get_matches();
    let cli = Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
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
            eprintln!("error: {}", error_chain(&e));
            ExitCode::from(2)
        }
    }
}

/// What `--version` says: the build (version, commit, compiler, profile), the
/// built-in model (name, ONNX file hash, the int8 variant) and ONNX Runtime (the
/// API the binary needs and the library it would load, or why none is found).
pub fn long_version() -> String {
    let profile = if cfg!(debug_assertions) { "debug" } else { "release" };
    let mut s = format!(
        "{} (commit {}, {}, {profile} build)",
        env!("CARGO_PKG_VERSION"),
        env!("LAYERWATCH_COMMIT"),
        env!("LAYERWATCH_RUSTC")
    );
    match crate::vision::Model::load(None) {
        Ok(m) => {
            let sha: String = m.spec.sha256.chars().take(12).collect();
            s.push_str(&format!("\nmodel: {} (built in, sha256 {sha}…, {} classes)", m.spec.name, m.labels.len()));
        }
        Err(e) => s.push_str(&format!("\nmodel: the built-in model does not load: {e}")),
    }
    let api = crate::vision::runtime::MIN_API;
    s.push_str(&format!("\nONNX Runtime: API {api} or newer (1.{api}+, loaded at run time)"));
    let inputs = crate::vision::runtime::SearchInputs::from_process(None);
    match crate::vision::runtime::locate(&inputs) {
        Ok((lib, origin)) => s.push_str(&format!("; library: {} ({})", lib.display(), origin.describe())),
        Err(_) => s.push_str("; library: not found (`layerwatch doctor` says where it looks)"),
    }
    s
}

/// The error and its causes joined by `: `, each cause once: an error whose own
/// message already quotes its source (`cannot read x: No such file…`) does not
/// repeat it.
pub fn error_chain(e: &anyhow::Error) -> String {
    let mut out = String::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if out.contains(&text) {
            continue;
        }
        if !out.is_empty() {
            out.push_str(": ");
        }
        out.push_str(&text);
    }
    out
}

async fn dispatch(cli: Cli) -> anyhow::Result<ExitCode> {
    let global = Global { config: cli.config, verbose: cli.verbose };
    match cli.command {
        Command::Run(a) => run::run(a, &global).await,
        Command::Demo(a) => demo::run(a, &global).await,
        Command::ValidateConfig(a) => validate::run(a, &global).await,
        Command::Doctor(a) => doctor::run(a, &global).await,
        Command::Classify(a) => classify::run(a, &global).await,
        Command::Gcode(a) => gcode::run(a, &global).await,
        Command::Cameras(a) => cameras::run(a, &global).await,
        Command::Alerts(a) => alerts::run(a, &global).await,
        Command::Printer(a) => printer::run(a, &global).await,
        Command::Eval(a) => eval::run(a, &global).await,
        Command::Record(a) => record::run(a, &global).await,
        Command::Label(a) => label::run(a, &global).await,
        Command::Dataset(a) => dataset::run(a, &global).await,
        Command::Calibrate(a) => calibrate::run(a, &global).await,
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

#[cfg(test)]
mod tests {
    /// Issue 13 item 7: `No such file or directory (os error 2): No such file or directory (os error 2)`.
    #[test]
    fn a_cause_already_in_the_message_is_not_repeated() {
        let io = std::io::Error::from(std::io::ErrorKind::NotFound);
        let e = crate::config::ConfigError::Read { path: "/nope.toml".into(), source: io };
        let e = anyhow::Error::new(e).context("loading");
        let text = super::error_chain(&e);
        assert_eq!(text.matches("entity not found").count(), 1, "{text}");
        assert_eq!(text, "loading: cannot read config file /nope.toml: entity not found");
    }

    /// Issue 13 item 7: `printer pause|resume|cancel`, `--baud`, `--api-key` and several
    /// `eval`/`dataset` flags had empty help text.
    #[test]
    fn every_flag_and_subcommand_has_help() {
        use clap::CommandFactory;
        fn walk(cmd: &clap::Command, path: &str, missing: &mut Vec<String>) {
            for a in cmd.get_arguments() {
                let id = a.get_id().as_str();
                if a.is_hide_set() || id == "help" || id == "version" {
                    continue;
                }
                if a.get_help().is_none() && a.get_long_help().is_none() {
                    missing.push(format!("{path} {id}"));
                }
            }
            for s in cmd.get_subcommands() {
                let name = format!("{path} {}", s.get_name());
                if s.get_about().is_none() && s.get_long_about().is_none() {
                    missing.push(name.clone());
                }
                walk(s, &name, missing);
            }
        }
        let mut cmd = super::Cli::command();
        cmd.build();
        let mut missing = vec![];
        walk(&cmd, "layerwatch", &mut missing);
        missing.sort();
        missing.dedup();
        assert!(missing.is_empty(), "no help text:\n{}", missing.join("\n"));
    }
}
