//! `crate::actions::alerts`: the channels' config and `Secret`.

#[path = "../../../../src/actions/alerts/config.rs"]
pub mod config;
#[path = "../../../../src/actions/alerts/secret.rs"]
mod secret;

pub use secret::Secret;
