//! `ActionEngine`: one task that turns verdicts, health findings, printer
//! status and user commands into incidents, printer commands and alerts.
//!
//! Everything goes through one lossless, bounded channel and is handled in
//! order, so two inputs can never race to pause the printer twice. The handle
//! is cheap to clone; the task stops on its cancellation token. Incident state
//! lives in the store, so a restart adopts an incident that holds the printer
//! instead of pausing and alerting again.

mod commands;
mod feedback;
mod incident;
mod status;
mod user;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use tokio::sync::{mpsc, oneshot, watch};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub use feedback::{DeciderFeedback, FEEDBACK_QUEUE};
pub use user::{UserCommand, UserOutcome};

use super::ActionError;
use super::alerts::Notifier;
use super::clock::Clock;
use super::config::{ActionsConfig, AlertsConfig};
use super::feedback_set::FlaggedFrames;
use super::outbox::Outbox;
use crate::domain::{Frame, HealthFinding, MuteInfo, PrinterStatus, Timestamp, Verdict};
use crate::printer::PrinterLink;
use crate::store::{IncidentCause, IncidentId, PrintId, Store, TimelineSampler};

/// What the engine needs.
pub struct EngineDeps {
    /// `general.name`, shown in alerts.
    pub printer_name: String,
    pub actions: ActionsConfig,
    pub alerts: AlertsConfig,
    pub store: Store,
    /// `None` when `printer.kind = "none"`: alerts only.
    pub printer: Option<Arc<dyn PrinterLink>>,
    pub notifiers: Vec<Arc<dyn Notifier>>,
    pub clock: Clock,
    /// `general.data_dir`: "not a failure" frames go to its `feedback/` folder.
    pub data_dir: Option<PathBuf>,
    /// Owner feedback for the decider, sent once the engine has carried out the
    /// command that implies it ([`DeciderFeedback`]).
    pub decider: Option<DeciderFeedback>,
    /// `[timelapse] enabled`: alerts about a print link its time-lapse (with `alerts.public_url`).
    pub timelapse_links: bool,
}

impl EngineDeps {
    /// Everything from the config file: `[general].name`, `[actions]`, `[alerts]`
    /// (one notifier per configured channel), the system clock. No data folder
    /// and no decider until the caller adds them.
    pub fn from_config(
        printer_name: &str,
        actions: &ActionsConfig,
        alerts: &AlertsConfig,
        store: Store,
        printer: Option<Arc<dyn PrinterLink>>,
    ) -> Result<EngineDeps, ActionError> {
        Ok(EngineDeps {
            printer_name: printer_name.to_string(),
            actions: actions.clone(),
            alerts: alerts.clone(),
            store,
            printer,
            notifiers: super::alerts::build_notifiers(alerts)?,
            clock: Clock::System,
            data_dir: None,
            decider: None,
            timelapse_links: false,
        })
    }
}

enum Msg {
    Verdict(Box<Verdict>, Option<Frame>),
    Health(HealthFinding),
    User(UserCommand, Option<String>, oneshot::Sender<Result<UserOutcome, ActionError>>),
    Sync(oneshot::Sender<()>),
}

/// Handle to the running engine. Cloning is cheap; all clones feed one task.
#[derive(Clone)]
pub struct ActionEngine {
    tx: mpsc::Sender<Msg>,
    outbox: Outbox,
    mute: watch::Receiver<Option<MuteInfo>>,
    /// Read-only use: the current print's objects for the dashboard.
    printer: Option<Arc<dyn PrinterLink>>,
}

impl std::fmt::Debug for ActionEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ActionEngine").field("channels", &self.outbox.channels()).finish()
    }
}

/// The model incident the engine is handling (at most one at a time).
#[derive(Debug, Clone)]
pub(super) struct OpenIncident {
    /// `None` only if the store could not record it (the pause still happens).
    id: Option<IncidentId>,
    level: crate::domain::Level,
    /// The highest confidence stored for it (written only when it rises).
    max_confidence: f32,
    /// The printer is stopped on this incident's account: only a person (or the
    /// print ending) closes it.
    holds_printer: bool,
    /// The printer has been seen paused since the incident opened, so seeing it
    /// print again means someone resumed.
    seen_paused: bool,
    /// An alert was queued for it (so closing it may send a follow-up).
    alerted: bool,
}

/// A mute the owner set from the dashboard: bounded by `until`
/// (`actions.max_mute_min` at most), by the print it was set during, or both.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Mute {
    since: Timestamp,
    until: Option<Timestamp>,
    print: Option<PrintId>,
    who: Option<String>,
}

impl Mute {
    fn info(&self) -> MuteInfo {
        MuteInfo { since: self.since, until: self.until, for_print: self.print.is_some(), who: self.who.clone() }
    }
}

#[derive(Debug, Clone)]
pub(super) struct CurrentPrint {
    id: PrintId,
    file: String,
    layer_count_known: bool,
}

/// The engine task's state.
pub(super) struct Engine {
    name: String,
    cfg: ActionsConfig,
    public_url: Option<String>,
    timelapse_links: bool,
    followup: bool,
    store: Store,
    outbox: Outbox,
    printer: Option<Arc<dyn PrinterLink>>,
    status: watch::Receiver<PrinterStatus>,
    clock: Clock,
    print: Option<CurrentPrint>,
    incident: Option<OpenIncident>,
    health: HashMap<IncidentCause, IncidentId>,
    ok_since: Option<Timestamp>,
    mute: Option<Mute>,
    /// What `mute` is, for the status board (`/api/status`, `/healthz`, `/metrics`).
    mute_tx: watch::Sender<Option<MuteInfo>>,
    cool_due: Option<(IncidentId, Timestamp)>,
    sampler: TimelineSampler,
    /// Frames judged above `Ok`, for the "not a failure" dataset.
    flagged: FlaggedFrames,
    data_dir: Option<PathBuf>,
    decider: Option<DeciderFeedback>,
    /// Keeps the placeholder status channel alive when there is no printer.
    _status_tx: Option<watch::Sender<PrinterStatus>>,
}

/// Messages the engine can hold before senders wait (back-pressure, never loss).
const QUEUE: usize = 64;

impl ActionEngine {
    /// Starts the engine and one delivery task per alert channel on `tracker`.
    /// Adopts what the store says is still open from a previous run.
    pub async fn start(
        deps: EngineDeps,
        cancel: &CancellationToken,
        tracker: &TaskTracker,
    ) -> Result<ActionEngine, ActionError> {
        let outbox = Outbox::new(deps.store.clone(), deps.notifiers, &deps.alerts, &deps.printer_name, deps.clock);
        let (status, status_tx) = match &deps.printer {
            Some(p) => (p.status(), None),
            None => {
                let (tx, rx) = watch::channel(PrinterStatus::disconnected(deps.clock.now()));
                (rx, Some(tx))
            }
        };
        let (mute_tx, mute_rx) = watch::channel(None);
        let printer = deps.printer.clone();
        let mut engine = Engine {
            name: deps.printer_name,
            sampler: TimelineSampler::new(deps.store.config().timeline_interval_s),
            cfg: deps.actions,
            public_url: deps.alerts.public_url.clone(),
            timelapse_links: deps.timelapse_links,
            followup: deps.alerts.followup,
            store: deps.store,
            outbox: outbox.clone(),
            printer: deps.printer,
            status,
            clock: deps.clock,
            print: None,
            incident: None,
            health: HashMap::new(),
            ok_since: None,
            mute: None,
            mute_tx,
            cool_due: None,
            flagged: FlaggedFrames::default(),
            data_dir: deps.data_dir,
            decider: deps.decider,
            _status_tx: status_tx,
        };
        engine.adopt().await?;
        let (tx, rx) = mpsc::channel(QUEUE);
        outbox.spawn(cancel, tracker);
        let cancel = cancel.clone();
        tracker.spawn(async move { engine.run(rx, cancel).await });
        Ok(ActionEngine { tx, outbox, mute: mute_rx, printer })
    }

    /// The mute in force (or `None`), updated as it is set, lifted or ends with its print.
    /// A timed mute is over once `MuteInfo::active` says so.
    pub fn mute(&self) -> watch::Receiver<Option<MuteInfo>> {
        self.mute.clone()
    }

    /// Hands a verdict (and the frame it was made from, for the snapshot) to the engine.
    /// Waits when the engine is busy (a pause in progress); never drops it.
    pub async fn verdict(&self, verdict: Verdict, frame: Option<Frame>) -> Result<(), ActionError> {
        self.tx.send(Msg::Verdict(Box::new(verdict), frame)).await.map_err(|_| ActionError::Stopped)
    }

    pub async fn health(&self, finding: HealthFinding) -> Result<(), ActionError> {
        self.tx.send(Msg::Health(finding)).await.map_err(|_| ActionError::Stopped)
    }

    /// A command from the owner (dashboard): carried out in order with the
    /// daemon's own actions, audited with `who`.
    pub async fn user_command(&self, command: UserCommand, who: Option<String>) -> Result<UserOutcome, ActionError> {
        let (tx, rx) = oneshot::channel();
        self.tx.send(Msg::User(command, who, tx)).await.map_err(|_| ActionError::Stopped)?;
        rx.await.map_err(|_| ActionError::Stopped)?
    }

    /// Returns once everything sent before it has been handled.
    pub async fn sync(&self) -> Result<(), ActionError> {
        let (tx, rx) = oneshot::channel();
        self.tx.send(Msg::Sync(tx)).await.map_err(|_| ActionError::Stopped)?;
        rx.await.map_err(|_| ActionError::Stopped)
    }

    /// The outbox, for health checks and the dashboard's delivery view.
    pub fn outbox(&self) -> &Outbox {
        &self.outbox
    }

    /// The current print's objects and their state (printing, done, cancelled), read from the
    /// printer link; empty without a printer. Cancelling one goes through `UserCommand::CancelObject`.
    pub async fn objects(&self) -> crate::printer::objects::ObjectList {
        match &self.printer {
            Some(p) => crate::printer::objects::list(p.as_ref()).await,
            None => crate::printer::objects::ObjectList::default(),
        }
    }
}

impl Engine {
    async fn run(mut self, mut rx: mpsc::Receiver<Msg>, cancel: CancellationToken) {
        let mut status_open = true;
        let initial = self.status.borrow_and_update().clone();
        let r = self.on_status(initial).await;
        self.log_err("printer status", r);
        loop {
            let cool_wait = self.cool_due.map(|(_, due)| self.clock.until(due));
            tokio::select! {
                biased;
                _ = cancel.cancelled() => break,
                _ = async { tokio::time::sleep(cool_wait.unwrap_or_default()).await }, if cool_wait.is_some() => {
                    let r = self.on_cool_due().await;
                    self.log_err("cool-down", r);
                }
                changed = self.status.changed(), if status_open => match changed {
                    Ok(()) => {
                        let s = self.status.borrow_and_update().clone();
                        let r = self.on_status(s).await;
                        self.log_err("printer status", r);
                    }
                    Err(_) => {
                        tracing::warn!("printer link closed its status channel");
                        status_open = false;
                    }
                },
                msg = rx.recv() => match msg {
                    None => break,
                    Some(Msg::Verdict(v, frame)) => {
                        let r = self.on_verdict(*v, frame).await;
                        self.log_err("verdict", r);
                    }
                    Some(Msg::Health(f)) => {
                        let r = self.on_health(f).await;
                        self.log_err("health finding", r);
                    }
                    Some(Msg::User(cmd, who, reply)) => {
                        let r = self.on_user(cmd, who).await;
                        let _ = reply.send(r);
                    }
                    Some(Msg::Sync(reply)) => {
                        let _ = reply.send(());
                    }
                },
            }
        }
        if let Some(p) = self.sampler.flush() {
            self.log_err("timeline", self.store.append_timeline(p).await.map_err(ActionError::from));
        }
        tracing::debug!("action engine stopped");
    }

    fn log_err(&self, what: &'static str, r: Result<(), ActionError>) {
        if let Err(e) = r {
            tracing::error!(input = what, error = %e, "action engine could not handle an input");
        }
    }

    /// Takes over what a previous run left: the unfinished print, an incident
    /// that holds the printer (and its cool-down deadline), an active mute.
    async fn adopt(&mut self) -> Result<(), ActionError> {
        if let Some(p) = self.store.unfinished_print().await? {
            self.print = Some(CurrentPrint { id: p.id, file: p.file, layer_count_known: p.layer_count.is_some() });
        }
        let now = self.clock.now();
        for inc in self.store.open_incidents().await? {
            if inc.cause.is_health() {
                self.health.insert(inc.cause, inc.id);
                continue;
            }
            tracing::info!(incident = inc.id, cause = %inc.cause, "adopting an incident that still holds the printer");
            if let Some(due) = inc.cool_due_at {
                self.cool_due = Some((inc.id, due));
            }
            self.incident = Some(OpenIncident {
                id: Some(inc.id),
                level: inc.level,
                max_confidence: inc.confidence,
                holds_printer: inc.holds_printer,
                seen_paused: inc.holds_printer,
                alerted: true,
            });
            if self.store.alerts_of_incident(inc.id).await?.is_empty() {
                // The previous run died between pausing and queueing the alert.
                self.alert_adopted(&inc).await?;
            }
        }
        if let Some(m) = self.store.last_mute().await?
            && m.entry.kind == crate::store::FeedbackKind::Mute
        {
            // A mute stored by an older version may be unbounded: cap it as one set now would be.
            let cap = m.entry.at.add(std::time::Duration::from_secs(u64::from(self.cfg.max_mute_min) * 60));
            let mute = Mute {
                since: m.entry.at,
                until: m.entry.until.map(|t| if t > cap { cap } else { t }),
                print: m.entry.print_id,
                who: m.entry.who.clone(),
            };
            if self.mute_holds(&mute, now) {
                tracing::warn!(until = ?mute.until, print = ?mute.print, "pauses and alerts are still muted from before the restart");
                self.set_mute(Some(mute));
            }
        }
        Ok(())
    }

    /// Whether `m` is in force: before its end time, and during the print it was set in (if any).
    fn mute_holds(&self, m: &Mute, now: Timestamp) -> bool {
        let current = self.print.as_ref().map(|p| p.id);
        let in_time = m.until.is_none_or(|t| now < t);
        let in_print = match m.print {
            Some(p) => current == Some(p),
            None => m.until.is_some(),
        };
        in_time && in_print
    }

    fn is_muted(&self, now: Timestamp) -> bool {
        self.mute.as_ref().is_some_and(|m| self.mute_holds(m, now))
    }

    /// Sets (or lifts) the mute and publishes it.
    pub(super) fn set_mute(&mut self, mute: Option<Mute>) {
        self.mute_tx.send_replace(mute.as_ref().map(Mute::info));
        self.mute = mute;
    }
}
