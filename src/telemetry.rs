//! Logging set-up: one `tracing` subscriber for the whole process.
//!
//! Fields, not formatted strings: `camera`, `printer`, `frame_seq`, `error`.
//! Levels follow operator impact: `error!` means someone must act.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

use crate::config::LogFormat;

/// Installs the global subscriber. `RUST_LOG` overrides `filter`. Logs go to
/// stderr so command output on stdout stays machine-readable; colours only
/// when stderr is a terminal (journald and log files get plain text).
pub fn init(filter: &str, format: LogFormat) {
    let env = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(filter));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(env)
        .with_writer(std::io::stderr)
        .with_ansi(use_colour(std::io::stderr().is_terminal(), std::env::var_os("NO_COLOR").is_some()))
        .with_target(false);
    // A second init (tests, repeated CLI calls in one process) is harmless: keep the first.
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
}

/// Colour only on a terminal, and never with `NO_COLOR` set.
fn use_colour(terminal: bool, no_color: bool) -> bool {
    terminal && !no_color
}

#[cfg(test)]
mod tests {
    /// Issue 13 item 7: ANSI colours reached journald. (The end-to-end check runs the
    /// binary with stderr on a pipe: `tests/e2e_preflight.rs`.)
    #[test]
    fn colour_only_on_a_terminal() {
        assert!(super::use_colour(true, false));
        assert!(!super::use_colour(false, false));
        assert!(!super::use_colour(true, true));
    }
}
