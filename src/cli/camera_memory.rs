//! `layerwatch camera-memory show|reset`: what the daemon remembers of each
//! camera's normal frames (`decision::CameraMemory`, stored in the database)
//! and forgetting it, e.g. after moving the camera or changing the lighting.
//!
//! Works on the store directly, so it works with the daemon stopped; a
//! running daemon notices a reset within one decision tick and forgets the
//! camera too.

use std::process::ExitCode;

use crate::domain::Timestamp;
use crate::store::Store;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    pub command: MemoryCommand,
}

#[derive(Debug, clap::Subcommand)]
pub enum MemoryCommand {
    /// List each camera's memory: how many scores, from how many prints and corrections, their median.
    Show {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Forget the memory of the configured camera (or of every camera with --all).
    Reset {
        /// Reset this camera instead of the configured one.
        #[arg(long, conflicts_with = "all")]
        camera: Option<String>,
        /// Reset every camera in the database.
        #[arg(long)]
        all: bool,
    },
}

pub async fn run(args: Args, global: &super::Global) -> anyhow::Result<ExitCode> {
    let cfg = global.load_config()?;
    let store = Store::open(&cfg.store, &cfg.general.data_dir).await?;
    match args.command {
        MemoryCommand::Show { json } => {
            let rows = store.camera_memories().await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&rows)?);
            } else if rows.is_empty() {
                println!("no camera memory stored yet (it grows from prints that finish without a failure)");
            } else {
                println!(
                    "{:<24} {:>6} {:>6} {:>11} {:>7}  updated",
                    "camera", "scores", "prints", "corrections", "median"
                );
                for r in rows {
                    let median = r.median.map_or("-".to_string(), |m| format!("{m:.3}"));
                    println!(
                        "{:<24} {:>6} {:>6} {:>11} {:>7}  {}",
                        r.camera, r.scores, r.prints, r.corrections, median, r.updated_at
                    );
                }
            }
        }
        MemoryCommand::Reset { camera, all } => {
            let target = if all { None } else { Some(camera.unwrap_or_else(|| cfg.camera.name.clone())) };
            let n = store.reset_camera_memory(target.as_deref(), Timestamp::now()).await?;
            match target {
                Some(c) => println!("camera memory of {c:?} reset"),
                None => println!("camera memory reset for {n} camera(s)"),
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
