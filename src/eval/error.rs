//! Errors of the evaluation module and the record of inputs it skipped.
//!
//! `EvalError` is for problems that stop a run (unreadable dataset root,
//! empty dataset, bad manifest); `Skip` is for one bad input among many (a
//! missing image, an undecodable frame, a truncated JSON line): it is logged,
//! counted and listed in the report, and the run goes on. Every message names
//! the file and, where there is one, the line.

use std::fmt;
use std::path::{Path, PathBuf};

use serde::Serialize;

/// Why an evaluation, import, recording or generation could not run.
#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    #[error("{}: {source}", path.display())]
    Io { path: PathBuf, source: std::io::Error },
    /// A file's content is wrong in a way that makes the whole file unusable.
    #[error("{}{}: {message}", path.display(), line.map(|l| format!(":{l}")).unwrap_or_default())]
    Format { path: PathBuf, line: Option<u64>, message: String },
    /// Nothing usable was found where a dataset was expected.
    #[error("{}: {message}", path.display())]
    Dataset { path: PathBuf, message: String },
    /// A command-line or config value makes no sense.
    #[error("{what}: {message}")]
    Invalid { what: String, message: String },
    #[error(transparent)]
    Vision(#[from] crate::vision::VisionError),
    #[error(transparent)]
    Gcode(#[from] crate::gcode::GcodeError),
    #[error("{0}")]
    Capture(String),
    #[error("cancelled")]
    Cancelled,
}

impl EvalError {
    pub fn io(path: &Path, source: std::io::Error) -> EvalError {
        EvalError::Io { path: path.to_path_buf(), source }
    }

    pub fn format(path: &Path, line: Option<u64>, message: impl Into<String>) -> EvalError {
        EvalError::Format { path: path.to_path_buf(), line, message: message.into() }
    }

    pub fn dataset(path: &Path, message: impl Into<String>) -> EvalError {
        EvalError::Dataset { path: path.to_path_buf(), message: message.into() }
    }

    pub fn invalid(what: impl Into<String>, message: impl Into<String>) -> EvalError {
        EvalError::Invalid { what: what.into(), message: message.into() }
    }
}

/// What kind of input was skipped: a closed set, counted per kind in reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SkipKind {
    /// A labels file or `frames.csv` names a file that does not exist.
    MissingFile,
    /// The image could not be decoded (truncated, not an image, corrupt).
    Undecodable,
    /// A label that is neither a known dataset label nor mapped with `--map`.
    UnknownLabel,
    /// A CSV row that cannot be read (wrong field count, bad number, empty path).
    BadRow,
    /// A JSON line that does not parse (truncated or garbled).
    BadJson,
    /// A timestamp at or before the previous one.
    ClockBackwards,
    /// The same image listed twice.
    Duplicate,
    /// The model could not score a decodable frame.
    ScoringFailed,
    /// A whole sequence could not be used.
    BadSequence,
}

impl SkipKind {
    pub fn name(self) -> &'static str {
        match self {
            SkipKind::MissingFile => "missing_file",
            SkipKind::Undecodable => "undecodable",
            SkipKind::UnknownLabel => "unknown_label",
            SkipKind::BadRow => "bad_row",
            SkipKind::BadJson => "bad_json",
            SkipKind::ClockBackwards => "clock_backwards",
            SkipKind::Duplicate => "duplicate",
            SkipKind::ScoringFailed => "scoring_failed",
            SkipKind::BadSequence => "bad_sequence",
        }
    }
}

/// One input that was left out, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Skip {
    pub kind: SkipKind,
    /// The file that holds the problem (labels file, `frames.csv`, `printer.jsonl`, the image).
    pub file: String,
    /// 1-based line in `file`, when the problem is on a line.
    pub line: Option<u64>,
    pub reason: String,
}

impl Skip {
    pub fn new(kind: SkipKind, file: &Path, line: Option<u64>, reason: impl Into<String>) -> Skip {
        Skip { kind, file: file.display().to_string(), line, reason: reason.into() }
    }

    /// Logs the skip at `warn` with structured fields.
    pub fn log(&self) {
        tracing::warn!(kind = self.kind.name(), file = %self.file, line = self.line, reason = %self.reason, "input \
            skipped");
    }
}

impl fmt::Display for Skip {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(l) => write!(f, "{}:{l}: {} ({})", self.file, self.reason, self.kind.name()),
            None => write!(f, "{}: {} ({})", self.file, self.reason, self.kind.name()),
        }
    }
}

/// Counts skips per kind, in kind order.
pub fn count_by_kind(skips: &[Skip]) -> std::collections::BTreeMap<&'static str, usize> {
    let mut out = std::collections::BTreeMap::new();
    for s in skips {
        *out.entry(s.kind.name()).or_insert(0) += 1;
    }
    out
}
