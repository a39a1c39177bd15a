//! Verdicts to deeds: pause/park/cool-down/cancel through `PrinterLink`, and
//! alerts (webhook, SMS, ntfy, Telegram) through a durable outbox.
//!
//! Owns the per-severity policy, incident de-duplication (never a second pause
//! for one incident), rate limits, the audit log, and delivery with retries.
//! Only this module may command the printer on the daemon's behalf.

mod config;

pub use config::{ActionsConfig, AlertsConfig};
