//! `crate::actions`: `[actions]` and `[alerts]`.

pub mod alerts;
#[path = "../../../src/actions/config.rs"]
pub mod config;

pub use config::{ActionsConfig, AlertsConfig, HealthPolicy, Policy, RateLimitConfig, RetryConfig};
