//! Builds the configured `PrinterLink`: one factory for every backend, so the
//! daemon and the CLI never match on the printer kind themselves.

use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use super::marlin::MarlinLink;
use super::moonraker::MoonrakerLink;
use super::octoprint::OctoPrintLink;
use super::{PrinterConfig, PrinterError, PrinterKind, PrinterLink};

/// Starts the link `cfg.kind` names. It connects (and reconnects) in the
/// background: watch `status()` for `Disconnected` to end.
///
/// # Panics
/// Outside a Tokio runtime (the link runs as a task).
pub fn connect(cfg: &PrinterConfig, cancel: CancellationToken) -> Result<Arc<dyn PrinterLink>, PrinterError> {
    match cfg.kind {
        PrinterKind::None => Err(PrinterError::Link(
            "printer.kind = \"none\": no printer is configured".into(),
        )),
        PrinterKind::Marlin => Ok(MarlinLink::open(cfg, cancel)),
        PrinterKind::Octoprint => Ok(OctoPrintLink::start(cfg, cancel)?),
        PrinterKind::Moonraker => Ok(MoonrakerLink::start(cfg, cancel)?),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn factory_names_what_is_missing() {
        let mut cfg = PrinterConfig::default();
        let err = |cfg: &PrinterConfig| connect(cfg, CancellationToken::new()).err().map(|e| e.to_string());
        assert_eq!(
            err(&cfg).as_deref(),
            Some("printer link: printer.kind = \"none\": no printer is configured")
        );
        cfg.kind = PrinterKind::Octoprint;
        cfg.octoprint.url = "http://127.0.0.1:9".into();
        if std::env::var_os("OCTOPRINT_API_KEY").is_none() {
            assert!(err(&cfg).unwrap_or_default().contains("api key"), "a missing key is named");
        }
        cfg.octoprint.api_key = Some("0123456789abcdef".into());
        let cancel = CancellationToken::new();
        let link = connect(&cfg, cancel.clone()).expect("octoprint links start in the background");
        assert!(link.pause().await.is_err(), "nothing listens on port 9");
        cancel.cancel();
        cfg.kind = PrinterKind::Marlin;
        cfg.serial.path = "/nonexistent/ttyUSB9".into();
        let cancel = CancellationToken::new();
        let link = connect(&cfg, cancel.clone()).expect("marlin links start in the background");
        assert_eq!(link.name(), "/nonexistent/ttyUSB9 @ 115200");
        assert!(matches!(link.pause().await, Err(PrinterError::NotConnected)));
        cancel.cancel();
    }
}
