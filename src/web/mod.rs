//! The local dashboard and JSON API, `/healthz` and `/metrics`.
//!
//! Owns HTTP routing, DTOs, authentication of state-changing requests and the
//! static page. Reads the store and live status; user commands go to actions.

mod config;

pub use config::WebConfig;
