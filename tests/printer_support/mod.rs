//! Helpers for the serial printer tests: OctoPrint's VirtualPrinter behind a
//! pseudo-terminal (the real peer), a small G-code generator, and waits on the
//! link's status.

#![allow(dead_code)]

pub mod gcode;
pub mod vp;

use std::time::Duration;

use layerwatch::domain::{PrinterState, PrinterStatus};
use tokio::sync::watch;

/// Waits until the status satisfies `pred`; panics with the last status after `timeout`.
pub async fn wait_for(
    rx: &mut watch::Receiver<PrinterStatus>,
    what: &str,
    timeout: Duration,
    pred: impl Fn(&PrinterState) -> bool,
) -> PrinterStatus {
    let res = tokio::time::timeout(timeout, async {
        rx.wait_for(|s| pred(&s.state)).await.map(|s| s.clone())
    })
    .await;
    match res {
        Ok(Ok(s)) => s,
        Ok(Err(_)) => panic!("status channel closed while waiting for {what}"),
        Err(_) => panic!(
            "timed out after {timeout:?} waiting for {what}; last status: {:?}",
            rx.borrow().state
        ),
    }
}

/// Records every distinct state name the link publishes, in order.
pub fn record_states(mut rx: watch::Receiver<PrinterStatus>) -> std::sync::Arc<std::sync::Mutex<Vec<String>>> {
    let seen = std::sync::Arc::new(std::sync::Mutex::new(vec![rx.borrow().state.name().to_string()]));
    let out = seen.clone();
    tokio::spawn(async move {
        while rx.changed().await.is_ok() {
            let name = rx.borrow().state.name().to_string();
            let mut v = out.lock().unwrap();
            if v.last() != Some(&name) {
                v.push(name);
            }
        }
    });
    seen
}
