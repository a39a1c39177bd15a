//! Verdicts to deeds: pause/park/cool-down/cancel (and the light) through `PrinterLink`, and
//! alerts (webhook, SMS, ntfy, Telegram) through a durable outbox.
//!
//! Owns the per-severity policy, incident de-duplication (never a second pause
//! for one incident), rate limits, the audit log, and delivery with retries.
//! Only this module may command the printer on the daemon's behalf; the
//! dashboard's buttons go through `ActionEngine::user_command` too.
//!
//! - `engine`: the `ActionEngine` task (verdicts, health findings, printer
//!   status and user commands in; printer commands, incidents and alerts out).
//! - `alerts`: the `Alert`, its texts and annotated snapshot, the `Notifier`
//!   channels.
//! - `outbox`: durable, rate-limited, retried delivery.
//! - `feedback_set`: the "not a failure" dataset the engine writes.
//! - `light`: the printer's light switched for the camera, a task beside the
//!   engine (a slow switch never delays a pause), audited like every command.
//!
//! The owner's commands that tell the decider something (resumed, not a
//! failure, mute for this print, forget this camera) leave the engine, once
//! carried out, on one declared bounded channel ([`DeciderFeedback`]) that the
//! decision stage reads.

pub mod alerts;
mod clock;
mod config;
mod engine;
mod error;
pub mod feedback_set;
pub mod http;
pub mod light;
pub mod outbox;

pub use clock::Clock;
pub use config::{ActionsConfig, AlertsConfig, HealthPolicy, Policy, RateLimitConfig, RetryConfig, SingleObjectPolicy};
pub use engine::{ActionEngine, DeciderFeedback, EngineDeps, FEEDBACK_QUEUE, UserCommand, UserOutcome};
pub use error::ActionError;
pub use outbox::Outbox;
