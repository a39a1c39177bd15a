//! What every link to a peer shares, in one place: reconnect pacing
//! ([`Backoff`], with optional jitter) with quiet logs during long outages
//! ([`LogLimiter`]), and the process-wide TLS provider that `reqwest` needs
//! ([`install_tls_provider`]).
//!
//! A leaf: pure mechanisms with no knowledge of cameras, printers or alert
//! channels, so capture, printer, actions and app all use it without
//! importing each other.

mod backoff;
mod tls;

pub use backoff::{Backoff, LogLimiter};
pub use tls::install_tls_provider;

/// An error and its sources in one line, each source once (reqwest's own message often repeats its
/// source's): what a log line or a refusal says about a failed request.
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(inner) = cur {
        let t = inner.to_string();
        if !s.contains(&t) {
            s.push_str(": ");
            s.push_str(&t);
        }
        cur = inner.source();
    }
    s
}
