//! layerwatch: a local, G-code-aware 3D print failure monitor.
//!
//! The pipeline is `capture → vision → decision → actions`, with `printer`
//! feeding live status and commands, `store` keeping history, `web` serving the
//! dashboard, and `eval` replaying datasets through the same `decision` code.
//! See ARCHITECTURE.md for the map and the invariants.

pub mod actions;
pub mod app;
pub mod capture;
pub mod cli;
pub mod config;
pub mod config_issues;
pub mod decision;
pub mod domain;
pub mod eval;
pub mod gcode;
pub mod geometry;
pub mod images;
pub mod mqtt;
pub mod net;
pub mod printer;
pub mod secret;
pub mod sim;
pub mod store;
pub mod telemetry;
pub mod timelapse;
pub mod vision;
pub mod web;

/// The repository root when running from a checkout (set by `.cargo/config.toml`
/// for `cargo run`/`cargo test`), used to find bundled models and datasets.
pub fn repo_root() -> Option<std::path::PathBuf> {
    option_env!("LAYERWATCH_ROOT").map(std::path::PathBuf::from).filter(|p| p.join("Cargo.toml").exists())
}

/// The fuzz targets' property checks (`fuzz/props/`), run over their seed corpora in the normal test run.
#[cfg(test)]
#[path = "../fuzz/props/mod.rs"]
mod fuzz_props;
