//! `layerwatch validate-config [FILE]`: the file's own problems, then what
//! `run` would fail on in this machine (`app::preflight`: model, ONNX Runtime,
//! calibration, data folder, serial port, camera files), all at once.

use std::path::PathBuf;
use std::process::ExitCode;

use crate::config::{Config, ConfigError};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The file to check (defaults to --config).
    pub file: Option<PathBuf>,
    /// Print the effective configuration (defaults filled in) as TOML.
    #[arg(long)]
    pub print: bool,
}

pub async fn run(args: Args, global: &super::Global) -> anyhow::Result<ExitCode> {
    let Some(path) = args.file.or_else(|| global.config.clone()) else {
        anyhow::bail!("no config file: pass one, or --config FILE");
    };
    match Config::load(&path) {
        Ok(cfg) => {
            let mut issues = crate::app::preflight::check(&cfg);
            let (server, warning) = crate::app::preflight::check_inference_server(&cfg).await;
            issues.extend(server);
            if let Some(w) = warning {
                eprintln!("warning: {w}");
            }
            if !issues.is_empty() {
                eprintln!("{}", ConfigError::Invalid { file: Some(path), issues });
                return Ok(ExitCode::from(1));
            }
            println!("{}: ok", path.display());
            if args.print {
                // The same masked view the dashboard serves: secrets never reach a terminal or a pasted bug report.
                let mut view = cfg.redacted_json();
                drop_nulls(&mut view);
                println!("{}", toml::to_string_pretty(&view)?);
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            eprintln!("{e}");
            Ok(ExitCode::from(1))
        }
    }
}

/// TOML has no null: unset options are left out, as they would be in a file.
fn drop_nulls(v: &mut serde_json::Value) {
    match v {
        serde_json::Value::Object(m) => {
            m.retain(|_, v| !v.is_null());
            m.values_mut().for_each(drop_nulls);
        }
        serde_json::Value::Array(a) => a.iter_mut().for_each(drop_nulls),
        _ => {}
    }
}
