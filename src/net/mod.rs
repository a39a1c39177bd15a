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
