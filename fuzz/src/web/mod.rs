//! `crate::web`: `[web]`.

#[path = "../../../src/web/config.rs"]
mod config;

pub use config::WebConfig;
