//! `[store]` section.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::config::Issues;

/// `[store]`: where history lives and how much of it to keep.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StoreConfig {
    /// Database file; unset means `<general.data_dir>/layerwatch.db`.
    pub path: Option<PathBuf>,
}

impl StoreConfig {
    pub fn validate(&self, _p: &str, _out: &mut Issues) {}

    pub fn resolve_paths(&mut self, base: &Path) {
        if let Some(p) = &mut self.path
            && p.is_relative()
        {
            *p = base.join(&*p);
        }
    }
}
