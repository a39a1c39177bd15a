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
        .with_writer(Redacting)
        .with_ansi(use_colour(std::io::stderr().is_terminal(), std::env::var_os("NO_COLOR").is_some()))
        .with_target(false);
    // A second init (tests, repeated CLI calls in one process) is harmless: keep the first.
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
}

/// Writes each log line to stderr after `secret::redact_text`: no URL's
/// password or token reaches a log, whichever module logged it.
struct Redacting;

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Redacting {
    type Writer = LineBuffer;

    fn make_writer(&'a self) -> LineBuffer {
        LineBuffer(Vec::new())
    }
}

/// One event's text, masked and written when dropped (the formatter writes an
/// event, then drops its writer).
struct LineBuffer(Vec<u8>);

impl std::io::Write for LineBuffer {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.extend_from_slice(b);
        Ok(b.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for LineBuffer {
    fn drop(&mut self) {
        let text = crate::secret::redact_text(&String::from_utf8_lossy(&self.0));
        let _ = std::io::Write::write_all(&mut std::io::stderr().lock(), text.as_bytes());
    }
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
