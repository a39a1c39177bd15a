//! Logging set-up: one `tracing` subscriber for the whole process.
//!
//! Fields, not formatted strings: `camera`, `printer`, `frame_seq`, `error`.
//! Levels follow operator impact: `error!` means someone must act.

use tracing_subscriber::EnvFilter;

use crate::config::LogFormat;

/// Installs the global subscriber. `RUST_LOG` overrides `filter`. Logs go to
/// stderr so command output on stdout stays machine-readable.
pub fn init(filter: &str, format: LogFormat) {
    let env = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(filter));
    let builder = tracing_subscriber::fmt().with_env_filter(env).with_writer(std::io::stderr).with_target(false);
    // A second init (tests, repeated CLI calls in one process) is harmless: keep the first.
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
}
