//! Config errors that name the key path, the offending value and what is wrong.
//!
//! A leaf: every stage's `config.rs` reports into [`Issues`] from here, and
//! `config` (which aggregates the sections) builds [`ConfigError`]. It imports
//! nothing from the crate, so the arrows between `config` and the stages run
//! one way.

use std::fmt;
use std::path::{Path, PathBuf};

/// One problem: `line 3: camera.fps = 0: must be between 1 and 120`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigIssue {
    /// 1-based line in the file, when the key is written there.
    pub line: Option<usize>,
    /// Dotted key path, e.g. `printer.serial.baud`.
    pub key: String,
    /// The offending value as written (TOML-ish rendering).
    pub value: String,
    pub message: String,
}

impl fmt::Display for ConfigIssue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(l) = self.line {
            write!(f, "line {l}: ")?;
        }
        write!(f, "{} = {}: {}", self.key, self.value, self.message)
    }
}

/// Collector passed to every section's `validate(prefix, &mut Issues)`.
#[derive(Debug, Default)]
pub struct Issues(Vec<ConfigIssue>);

impl Issues {
    pub fn push(&mut self, key: impl Into<String>, value: impl fmt::Debug, message: impl Into<String>) {
        self.0.push(ConfigIssue { line: None, key: key.into(), value: render(&value), message: message.into() });
    }

    /// Adds a problem found elsewhere (its key already written).
    pub fn push_issue(&mut self, issue: ConfigIssue) {
        self.0.push(issue);
    }

    /// Checks `lo <= v <= hi` and reports `key = v: must be between lo and hi` otherwise.
    pub fn range<T: PartialOrd + fmt::Debug + fmt::Display>(&mut self, key: impl Into<String>, v: T, lo: T, hi: T) {
        if !(v >= lo && v <= hi) {
            self.push(key, &v, format!("must be between {lo} and {hi}"));
        }
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn into_vec(self) -> Vec<ConfigIssue> {
        self.0
    }

    pub fn iter(&self) -> impl Iterator<Item = &ConfigIssue> {
        self.0.iter()
    }
}

fn render(v: &impl fmt::Debug) -> String {
    let s = format!("{v:?}");
    // Debug of PathBuf and String is already quoted; numbers and bools are plain.
    if s.len() > 120 { format!("{}…", &s[..s.floor_char_boundary(117)]) } else { s }
}

/// Why a config could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {}: {source}", path.display())]
    Read { path: PathBuf, source: std::io::Error },
    /// TOML syntax or type error; `key` is the dotted path where serde stopped.
    #[error("{}{}{}: {message}", file_prefix(file), key.as_deref().map(|k| format!("{k}: ")).unwrap_or_default(), line.map(|l| format!("line {l}")).unwrap_or_default())]
    Parse { file: Option<PathBuf>, key: Option<String>, line: Option<usize>, message: String },
    #[error("{}invalid configuration:\n{}", file_prefix(file), issues.iter().map(|i| format!("  - {i}")).collect::<Vec<_>>().join("\n"))]
    Invalid { file: Option<PathBuf>, issues: Vec<ConfigIssue> },
}

fn file_prefix(file: &Option<PathBuf>) -> String {
    file.as_ref().map(|f| format!("{}: ", f.display())).unwrap_or_default()
}

impl ConfigError {
    pub(crate) fn from_toml(text: &str, e: toml::de::Error, key: Option<String>) -> Self {
        let line = e.span().map(|s| text[..s.start.min(text.len())].matches('\n').count() + 1);
        let key = key.filter(|k| !k.is_empty() && k != ".");
        ConfigError::Parse { file: None, key, line, message: e.message().trim_end_matches('\n').to_string() }
    }

    pub(crate) fn with_file(self, path: &Path) -> Self {
        match self {
            ConfigError::Parse { key, line, message, .. } => {
                ConfigError::Parse { file: Some(path.to_path_buf()), key, line, message }
            }
            ConfigError::Invalid { issues, .. } => ConfigError::Invalid { file: Some(path.to_path_buf()), issues },
            other => other,
        }
    }

    /// The semantic issues, if that is what went wrong.
    pub fn issues(&self) -> &[ConfigIssue] {
        match self {
            ConfigError::Invalid { issues, .. } => issues,
            _ => &[],
        }
    }
}
