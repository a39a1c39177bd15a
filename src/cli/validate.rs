//! `layerwatch validate-config [FILE]`.

use std::path::PathBuf;
use std::process::ExitCode;

use crate::config::Config;

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
            println!("{}: ok", path.display());
            if args.print {
                println!("{}", toml::to_string_pretty(&cfg)?);
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            eprintln!("{e}");
            Ok(ExitCode::from(1))
        }
    }
}
