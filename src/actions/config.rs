//! `[actions]` and `[alerts]` sections.

use serde::{Deserialize, Serialize};

use crate::config::Issues;

/// `[actions]`: what to do for a warning and for a failure.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ActionsConfig {}

impl ActionsConfig {
    pub fn validate(&self, _p: &str, _out: &mut Issues) {}
}

/// `[alerts]`: where to tell the owner.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AlertsConfig {}

impl AlertsConfig {
    pub fn validate(&self, _p: &str, _out: &mut Issues) {}
}
