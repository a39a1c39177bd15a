//! The printer's light, switched for the camera (`[printer.light]`): a task of
//! its own beside the action engine, so a slow switch never delays a pause.
//!
//! Once a second, and on every printer state change, it feeds the pure
//! [`LightPolicy`] the printer's state and whether the camera's picture is too
//! dark (the decider's `camera_dark` finding, read through [`LightHooks`]),
//! sends the switch the policy decides through `PrinterLink::run_gcode` (or,
//! with `method = "mqtt"`, through the [`LightSender`] `app` hands over), and
//! writes each attempt to the audit log (`light_on` / `light_off`, actor
//! `daemon`). A switch the printer refuses is logged and retried after
//! `retry_s`; it never stops anything else.

mod policy;

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

pub use policy::{LightInput, LightPolicy, Switch};

use crate::domain::{PrinterState, PrinterStatus, Timestamp};
use crate::printer::PrinterLink;
use crate::printer::light::LightConfig;
use crate::store::{Actor, AuditCommand, AuditEntry, CommandResult, Store};

/// How long one switch may take before it counts as failed.
const SWITCH_TIMEOUT: Duration = Duration::from_secs(20);

/// What the light task reads from, and reports to, the rest of the daemon.
pub struct LightHooks {
    /// The camera's picture is too dark to judge now.
    pub dark: Box<dyn Fn() -> bool + Send + Sync>,
    /// A switch ended: `(on, confirmed)`.
    pub switched: Box<dyn Fn(bool, bool) + Send + Sync>,
    /// Where switches go for a light that is not the printer's (`method = "mqtt"`).
    pub sender: Option<Arc<dyn LightSender>>,
}

/// A light switched outside the printer (the MQTT bus). `Ok` means confirmed.
#[async_trait::async_trait]
pub trait LightSender: Send + Sync {
    async fn switch(&self, on: bool) -> Result<(), String>;
}

pub async fn run(
    cfg: LightConfig,
    link: Arc<dyn PrinterLink>,
    store: Store,
    hooks: LightHooks,
    cancel: CancellationToken,
) {
    let mut status: watch::Receiver<PrinterStatus> = link.status();
    let mut policy = LightPolicy::new(&cfg);
    let start = Instant::now();
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tracing::info!(method = cfg.method.name(), when = ?cfg.when, "light control on");
    loop {
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tick.tick() => {}
            r = status.changed() => if r.is_err() { return },
        }
        let state = status.borrow_and_update().state.clone();
        let input = LightInput {
            active: state.print_running(),
            connected: !matches!(state, PrinterState::Disconnected),
            dark: (hooks.dark)(),
            now_ms: start.elapsed().as_millis() as i64,
        };
        let Some(switch) = policy.step(&input) else { continue };
        let ok = tokio::select! {
            _ = cancel.cancelled() => return,
            ok = send(&cfg, link.as_ref(), hooks.sender.as_deref(), &store, switch, &state) => ok,
        };
        (hooks.switched)(switch == Switch::On, ok);
        policy.sent(switch, ok, start.elapsed().as_millis() as i64);
    }
}

/// Sends one switch and audits it; whether the printer confirmed it.
async fn send(
    cfg: &LightConfig,
    link: &dyn PrinterLink,
    sender: Option<&dyn LightSender>,
    store: &Store,
    switch: Switch,
    state: &PrinterState,
) -> bool {
    let on = switch == Switch::On;
    let t0 = Instant::now();
    let result = match (cfg.method, sender) {
        (crate::printer::light::LightMethod::Mqtt, Some(s)) => {
            tokio::time::timeout(SWITCH_TIMEOUT, s.switch(on)).await.map(|r| r.map(|_| ()))
        }
        (crate::printer::light::LightMethod::Mqtt, None) => Ok(Err("no MQTT connection ([mqtt] enabled)".to_string())),
        _ => tokio::time::timeout(SWITCH_TIMEOUT, link.run_gcode("light", &cfg.lines(on)))
            .await
            .map(|r| r.map(|_| ()).map_err(|e| e.to_string())),
    };
    let (result, error) = match result {
        Ok(Ok(())) => {
            tracing::info!(on, printer_state = state.name(), "light switched");
            (CommandResult::Confirmed, None)
        }
        Ok(Err(e)) => {
            tracing::warn!(on, error = %e, retry_s = cfg.retry_s, "light switch failed");
            (CommandResult::Failed, Some(e))
        }
        Err(_) => {
            tracing::warn!(on, timeout_s = SWITCH_TIMEOUT.as_secs(), retry_s = cfg.retry_s, "light switch unconfirmed");
            (CommandResult::Unconfirmed, None)
        }
    };
    let entry = AuditEntry {
        at: Timestamp::now(),
        actor: Actor::Daemon,
        who: None,
        command: if on { AuditCommand::LightOn } else { AuditCommand::LightOff },
        reason: format!("[printer.light] method {}, printer {}", cfg.method.name(), state.name()),
        incident_id: None,
        attempt: 1,
        result,
        error,
        duration_ms: t0.elapsed().as_millis() as u64,
    };
    if let Err(e) = store.audit(entry).await {
        tracing::warn!(error = %e, "cannot write the light switch to the audit log");
    }
    result == CommandResult::Confirmed
}
