//! `[decision]` section.

use serde::{Deserialize, Serialize};

use crate::config::Issues;

/// `[decision]`: how eager the daemon is to call a failure.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DecisionConfig {
    /// One user-facing knob, 0 (never) ..= 1 (most eager); 0.5 is the calibrated default.
    pub sensitivity: f32,
}

impl Default for DecisionConfig {
    fn default() -> Self {
        DecisionConfig { sensitivity: 0.5 }
    }
}

impl DecisionConfig {
    pub fn validate(&self, p: &str, out: &mut Issues) {
        out.range(format!("{p}.sensitivity"), self.sensitivity, 0.0, 1.0);
    }
}
