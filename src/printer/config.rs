//! `[printer]` section.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::config::Issues;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum PrinterKind {
    /// No printer: watch only, never pause.
    #[default]
    None,
    Marlin,
    Octoprint,
    Moonraker,
}

/// `[printer]`: which printer link to use.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PrinterConfig {
    pub kind: PrinterKind,
}

impl PrinterConfig {
    pub fn validate(&self, _p: &str, _out: &mut Issues) {}

    pub fn resolve_paths(&mut self, _base: &Path) {}
}
