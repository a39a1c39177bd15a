//! Monitor mode: the printer prints from its SD card (or another host drives
//! it); layerwatch follows SD progress, temperatures and position, and can
//! pause, resume and cancel with the firmware's own commands (`quirks.rs`).
//!
//! Traffic is minimal and unnumbered (another host may own the line numbers):
//! auto-reports where the firmware has them, else one poll per interval, and
//! one command in flight at a time.

use std::collections::VecDeque;
use std::time::Duration;

use tokio::time::Instant;
use tracing::{debug, info, warn};

mod commands;

use super::conn::Handshake;
use super::driver::{Cx, Mode, ModeEvent};
use super::flow::{Flow, Target};
use super::job::{self, Job};
use super::protocol::{Action, ErrorKind, Response};
use super::{Reply, Request, Settings};
use crate::domain::{PrintJob, PrinterState};
use crate::printer::{Confirmation, FileAnalysis, PrinterError};

/// An unanswered command is given up after this long (its `ok` may have been someone else's).
const COMMAND_PATIENCE: Duration = Duration::from_secs(2);
/// While a pause/resume/cancel is being confirmed, SD status is asked this often.
const CONFIRM_POLL: Duration = Duration::from_millis(500);
/// An SD position standing still this long after a pause command confirms it.
const STALL_CONFIRM: Duration = Duration::from_millis(1200);
/// A host-streamed print with no movement for this long is over.
const HOST_IDLE: Duration = Duration::from_secs(30);

#[derive(Debug, Clone, PartialEq)]
enum Phase {
    Idle,
    Printing,
    Pausing,
    Paused,
    Resuming,
    Cancelling,
    Finished,
    Cancelled,
    Error(String),
}

impl Phase {
    fn name(&self) -> &'static str {
        match self {
            Phase::Idle => "idle",
            Phase::Printing => "printing",
            Phase::Pausing => "pausing",
            Phase::Paused => "paused",
            Phase::Resuming => "resuming",
            Phase::Cancelling => "cancelling",
            Phase::Finished => "finished",
            Phase::Cancelled => "cancelled",
            Phase::Error(_) => "error",
        }
    }

    fn is_active(&self) -> bool {
        matches!(
            self,
            Phase::Printing | Phase::Pausing | Phase::Paused | Phase::Resuming | Phase::Cancelling
        )
    }
}

/// Where the followed print comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Source {
    Sd,
    /// Another host streams it: we only see movement.
    Host,
}

pub struct MonitorMode {
    settings: Settings,
    connected: bool,
    phase: Phase,
    source: Source,
    job: Option<Job>,
    job_id: u64,
    flow: Flow,
    queue: VecDeque<String>,
    awaiting: Option<(String, Instant)>,
    next_poll: Option<Instant>,
    next_confirm_poll: Option<Instant>,
    last_sd_pos: Option<u64>,
    /// Identical SD positions seen in a row while pausing, and since when.
    stalled_reports: u32,
    still_since: Instant,
    last_z: Option<f32>,
    last_motion: Option<Instant>,
    heating_until: Option<Instant>,
    hold: Option<String>,
    opened_file: Option<(String, Option<u64>)>,
    parked: bool,
    /// The firmware said "Not SD printing" since we connected.
    sd_seen_idle: bool,
    /// A park command is out; an `Unknown command` before its `ok` means the firmware cannot park.
    park_pending: bool,
    /// The last line of a `run_gcode` batch: its `ok` confirms the batch.
    gcode_pending: Option<String>,
    last_rx: Instant,
    /// Objects cancelled with `M486 P` in the current print (shared with `MarlinLink`).
    cancelled: super::host::CancelledObjects,
}

impl MonitorMode {
    pub fn new(settings: Settings) -> Self {
        MonitorMode {
            settings,
            connected: false,
            phase: Phase::Idle,
            source: Source::Sd,
            job: None,
            job_id: 0,
            flow: Flow::default(),
            queue: VecDeque::new(),
            awaiting: None,
            next_poll: None,
            next_confirm_poll: None,
            last_sd_pos: None,
            stalled_reports: 0,
            still_since: Instant::now(),
            last_z: None,
            last_motion: None,
            heating_until: None,
            hold: None,
            opened_file: None,
            parked: false,
            sd_seen_idle: false,
            park_pending: false,
            gcode_pending: None,
            last_rx: Instant::now(),
            cancelled: super::host::CancelledObjects::default(),
        }
    }

    /// Publishes the cancelled objects' names through `shared`.
    pub fn sharing_cancelled(mut self, shared: super::host::CancelledObjects) -> Self {
        self.cancelled = shared;
        self
    }

    fn enqueue(&mut self, cmd: impl Into<String>) {
        let cmd = cmd.into();
        if !self.queue.contains(&cmd) && self.awaiting.as_ref().is_none_or(|(c, _)| *c != cmd) {
            self.queue.push_back(cmd);
        }
    }

    fn send_next(&mut self, cx: &mut Cx) {
        if !self.connected {
            return;
        }
        if let Some((_, at)) = &self.awaiting {
            if cx.now.duration_since(*at) < COMMAND_PATIENCE {
                return;
            }
            self.awaiting = None;
        }
        if let Some(cmd) = self.queue.pop_front() {
            cx.out.push(cmd.clone());
            self.awaiting = Some((cmd, cx.now));
        }
    }

    fn polls(&mut self, cx: &Cx) {
        let q = &cx.quirks;
        if !q.caps.autoreport_temp {
            self.enqueue("M105");
        }
        if !q.caps.autoreport_sd_status {
            self.enqueue("M27");
        }
        if !q.caps.autoreport_pos {
            self.enqueue("M114");
        }
        if let Some(cmd) = q.progress_query() {
            self.enqueue(cmd);
        }
    }

    fn set_phase(&mut self, cx: &Cx, phase: Phase) {
        if self.phase == phase {
            return;
        }
        info!(printer = %cx.printer, from = self.phase.name(), to = phase.name(), "printer state");
        let paused = matches!(phase, Phase::Paused | Phase::Pausing);
        if let Some(j) = self.job.as_mut() {
            j.set_paused(paused, cx.now);
            if matches!(phase, Phase::Finished | Phase::Cancelled | Phase::Error(_)) {
                j.end(cx.now);
            }
        }
        match &phase {
            Phase::Paused => {
                self.flow.resolve(Target::Paused);
                self.parked = false;
            }
            Phase::Printing => self.flow.resolve(Target::Printing),
            Phase::Cancelled => self.flow.resolve(Target::Cancelled),
            Phase::Finished => {
                self.flow.fail(Target::Paused, "pause", "the print finished");
                self.flow.fail(Target::Cancelled, "cancel", "the print finished");
            }
            Phase::Error(m) => self.flow.fail_all(m),
            _ => {}
        }
        self.phase = phase;
        self.stalled_reports = 0;
        self.still_since = cx.now;
        self.next_confirm_poll =
            matches!(self.phase, Phase::Pausing | Phase::Resuming | Phase::Cancelling).then_some(cx.now + CONFIRM_POLL);
    }

    /// A new SD print appeared: start a job, and look for its local copy.
    fn start_sd_job(&mut self, cx: &mut Cx, size: u64) {
        self.job_id += 1;
        let name = match &self.opened_file {
            Some((n, s)) if s.is_none_or(|s| s == size) => n.clone(),
            _ => "SD print".to_string(),
        };
        self.job = Some(Job::new(name.clone(), None, Some(size), None, cx.now));
        self.cancelled.set(Vec::new());
        self.source = Source::Sd;
        if let Some(dir) = self.settings.local_gcode.clone() {
            if let Some(path) = job::find_local_copy(&dir, &name, size) {
                info!(printer = %cx.printer, file = %path.display(), "local copy of the SD file found");
                if let Some(j) = self.job.as_mut() {
                    j.path = Some(path.clone());
                }
                let (id, tx) = (self.job_id, cx.events.clone());
                tokio::task::spawn_blocking(move || {
                    let _ = tx.send(ModeEvent::Analysis(id, job::analyze(&path)));
                });
            } else {
                debug!(printer = %cx.printer, file = %name, size, "no local copy of the SD file");
            }
        }
    }

    fn on_sd_progress(&mut self, cx: &mut Cx, pos: u64, size: u64) {
        if size == 0 {
            return self.on_not_sd_printing(cx);
        }
        let new_job = match &self.job {
            None => true,
            Some(j) => {
                j.size != Some(size)
                    || self.source != Source::Sd
                    || matches!(
                        self.phase,
                        Phase::Finished | Phase::Cancelled | Phase::Idle | Phase::Error(_)
                    ) && self.last_sd_pos.is_some_and(|p| pos < p)
            }
        };
        let moved = self.last_sd_pos.is_some_and(|p| p != pos);
        if new_job && (moved || pos > 0) && !matches!(self.phase, Phase::Pausing | Phase::Cancelling) {
            self.start_sd_job(cx, size);
        }
        self.last_sd_pos = Some(pos);
        if let Some(j) = self.job.as_mut() {
            j.position = Some(pos);
        }
        match self.phase {
            Phase::Idle | Phase::Finished | Phase::Cancelled | Phase::Error(_) if moved || new_job && pos > 0 => {
                if pos < size {
                    self.set_phase(cx, Phase::Printing)
                }
            }
            Phase::Paused | Phase::Resuming if moved => self.set_phase(cx, Phase::Printing),
            Phase::Pausing => {
                // Reports can come in quick pairs (auto-report + our poll): standing
                // still means no movement for STALL_CONFIRM, over at least two reports.
                if moved {
                    self.stalled_reports = 0;
                    self.still_since = cx.now;
                } else {
                    self.stalled_reports += 1;
                    if self.stalled_reports >= 2 && cx.now.duration_since(self.still_since) >= STALL_CONFIRM {
                        self.set_phase(cx, Phase::Paused);
                    }
                }
            }
            _ => {}
        }
    }

    fn on_not_sd_printing(&mut self, cx: &mut Cx) {
        self.sd_seen_idle = true;
        match self.phase {
            Phase::Pausing => self.set_phase(cx, Phase::Paused),
            Phase::Cancelling => {
                self.last_sd_pos = None;
                self.set_phase(cx, Phase::Cancelled)
            }
            Phase::Printing if self.source == Source::Sd => {
                let done = self
                    .job
                    .as_ref()
                    .is_some_and(|j| j.position.is_some() && j.position >= j.size);
                // Marlin 2 reports a paused SD print as "Not SD printing".
                self.set_phase(cx, if done { Phase::Finished } else { Phase::Paused });
            }
            _ => {}
        }
    }

    /// Another host streams: follow movement while heaters are on.
    fn on_position(&mut self, cx: &mut Cx, z: Option<f32>, moved: bool) {
        if let Some(j) = self.job.as_mut() {
            if z.is_some() {
                j.reported_z = z;
            }
        }
        if !moved {
            return;
        }
        self.last_motion = Some(cx.now);
        let hot = cx.temps.hotend.is_some_and(|h| h.target > 0.0);
        if hot && matches!(self.phase, Phase::Idle | Phase::Finished | Phase::Cancelled) && self.last_sd_pos.is_none() {
            self.job_id += 1;
            self.job = Some(Job::new("streamed by another host".into(), None, None, None, cx.now));
            self.source = Source::Host;
            self.set_phase(cx, Phase::Printing);
        }
        if self.source == Source::Host && matches!(self.phase, Phase::Paused | Phase::Resuming) {
            self.set_phase(cx, Phase::Printing);
        }
    }

    fn on_action(&mut self, cx: &mut Cx, action: Action) {
        match action {
            Action::Paused if self.phase.is_active() => self.set_phase(cx, Phase::Paused),
            Action::Resumed if self.phase.is_active() => self.set_phase(cx, Phase::Printing),
            Action::Cancel if self.phase.is_active() => self.set_phase(cx, Phase::Cancelled),
            Action::Disconnect => cx.disconnect = Some("the firmware asked the host to disconnect".into()),
            Action::Notification(message) => info!(printer = %cx.printer, %message, "printer notification"),
            other => debug!(printer = %cx.printer, action = ?other, "host action"),
        }
    }

    fn job_snapshot(&self) -> PrintJob {
        self.job
            .as_ref()
            .map(|j| j.snapshot(Instant::now()))
            .unwrap_or_default()
    }
}

impl Mode for MonitorMode {
    fn on_connected(&mut self, cx: &mut Cx, handshake: &Handshake) {
        self.connected = true;
        // The silence before this connection is not this connection's: without this, a printer that
        // was gone longer than the probes allow is dropped again at once, forever (the soak found it).
        self.last_rx = cx.now;
        // A firmware that booted has no print: the one we followed ended with the reset (without
        // this, its "Not SD printing" made the lost print look paused).
        if handshake.saw_boot && self.phase.is_active() {
            warn!(printer = %cx.printer, from = self.phase.name(), "the printer restarted: the print it was running is gone");
            self.flow.fail_all("the printer restarted");
            if let Some(j) = self.job.as_mut() {
                j.end(cx.now);
            }
            self.hold = None;
            self.last_sd_pos = None;
            self.set_phase(cx, Phase::Idle);
        }
        self.queue.clear();
        self.awaiting = None;
        self.gcode_pending = None;
        if matches!(self.phase, Phase::Error(_)) {
            self.phase = Phase::Idle;
        }
        let secs = self.settings.autoreport_secs;
        for cmd in [
            cx.quirks.temp_autoreport(secs),
            cx.quirks.sd_autoreport(secs),
            cx.quirks.pos_autoreport(secs),
        ]
        .into_iter()
        .flatten()
        {
            self.enqueue(cmd);
        }
        self.sd_seen_idle = false;
        self.enqueue("M105");
        self.enqueue("M27");
        self.enqueue("M27 C");
        self.enqueue("M114");
        self.next_poll = Some(cx.now + self.settings.poll);
        self.send_next(cx);
    }

    fn on_response(&mut self, cx: &mut Cx, response: Response) {
        self.last_rx = cx.now;
        match response {
            Response::Ok(ok) => {
                if let Some(t) = &ok.temps {
                    cx.update_temps(t);
                }
                if let Some(p) = ok.position {
                    let moved = self.last_z.is_some() && p.z != self.last_z;
                    self.last_z = p.z.or(self.last_z);
                    self.on_position(cx, p.z, moved);
                }
                if let Some((cmd, _)) = self.awaiting.take() {
                    if self.park_pending && cmd.starts_with("M125") {
                        self.park_pending = false;
                        self.parked = true;
                        self.flow.resolve(Target::Parked);
                    }
                    if self.gcode_pending.as_ref() == Some(&cmd) {
                        self.gcode_pending = None;
                        self.flow.resolve(Target::GcodeRan);
                    }
                }
                if self.hold.is_some() && self.queue.is_empty() {
                    self.hold = None;
                    self.flow.resolve(Target::Unheld);
                }
            }
            Response::Temperatures(t) => {
                cx.update_temps(&t);
                if t.waiting {
                    self.heating_until = Some(cx.now + Duration::from_secs(3));
                }
            }
            Response::Position(p) => {
                let moved = self.last_z.is_some() && p.z != self.last_z;
                self.last_z = p.z.or(self.last_z);
                self.on_position(cx, p.z, moved);
            }
            Response::SdProgress { pos, size } => self.on_sd_progress(cx, pos, size),
            Response::NotSdPrinting => self.on_not_sd_printing(cx),
            Response::SdDone => {
                if let Some(j) = self.job.as_mut() {
                    j.position = j.size;
                }
                self.last_sd_pos = None;
                self.set_phase(cx, Phase::Finished);
            }
            Response::FileOpened { name, size } => self.opened_file = Some((name, size)),
            Response::CurrentFile { name: Some(name) } => {
                // A file is open but the firmware is not printing it: an SD print paused
                // before we connected (Marlin 2 reports that as "Not SD printing").
                if self.phase == Phase::Idle && self.last_sd_pos.is_none() && self.sd_seen_idle {
                    self.opened_file = Some((name.clone(), None));
                    self.job_id += 1;
                    self.job = Some(Job::new(name, None, None, None, cx.now));
                    self.source = Source::Sd;
                    self.set_phase(cx, Phase::Paused);
                }
            }
            Response::Progress { percent, .. } => {
                if let Some(j) = self.job.as_mut() {
                    j.reported_progress = Some((percent / 100.0).clamp(0.0, 1.0));
                }
            }
            Response::Busy { reason } if reason.waits_for_user() => {
                if self.hold.is_none() {
                    info!(printer = %cx.printer, "the firmware waits for the user");
                }
                self.hold = Some("busy: paused for user".into());
            }
            Response::Action(a) => self.on_action(cx, a),
            Response::Error(e) => {
                if cx.quirks.is_fatal(&e) {
                    crate::printer::marlin::counters::Counters::inc(&cx.counters.fatal_errors);
                    self.set_phase(cx, Phase::Error(format!("printer halted: {}", e.message)));
                } else if e.kind == ErrorKind::UnknownCommand && self.park_pending {
                    self.park_pending = false;
                    self.flow.fail(
                        Target::Parked,
                        "park",
                        &format!("the firmware cannot park: {}", e.message),
                    );
                } else if e.kind == ErrorKind::UnknownCommand
                    && self.gcode_pending.as_ref().is_some_and(|p| !p.starts_with("M486 P") || e.message.contains(p))
                {
                    // An `M486 P` is refused only by its own echo: an SD file's own `M486 S` lines
                    // echo "Unknown command" too on firmware without CANCEL_OBJECTS.
                    let pending = self.gcode_pending.take().unwrap_or_default();
                    let mut command = "gcode";
                    if pending.starts_with("M486 P") {
                        // No CANCEL_OBJECTS in this firmware: the object was not cancelled after all.
                        command = crate::printer::objects::CANCEL_OBJECT;
                        let mut names = self.cancelled.get();
                        names.pop();
                        self.cancelled.set(names);
                    }
                    self.flow.fail(Target::GcodeRan, command, &format!("the firmware refused it: {}", e.message));
                } else {
                    warn!(printer = %cx.printer, error = %e.message, "printer reported an error");
                }
            }
            Response::Start => {
                if self.phase.is_active() {
                    self.set_phase(cx, Phase::Error("the printer restarted during the print".into()));
                }
                cx.disconnect = Some("the firmware restarted".into());
            }
            _ => {}
        }
        self.flow.check_temps(cx.temps);
        self.send_next(cx);
    }

    fn on_request(&mut self, cx: &mut Cx, request: Request) {
        self.request(cx, request);
        self.send_next(cx);
    }

    fn on_event(&mut self, cx: &mut Cx, event: ModeEvent) {
        let ModeEvent::Analysis(id, index) = event;
        if id == self.job_id {
            if let (Some(j), Some(a)) = (self.job.as_mut(), index) {
                debug!(printer = %cx.printer, layers = a.layers.len(), "local G-code analysed");
                j.set_analysis(a);
            }
        }
    }

    fn on_timer(&mut self, cx: &mut Cx) {
        if self.next_poll.is_some_and(|t| cx.now >= t) {
            self.polls(cx);
            self.next_poll = Some(cx.now + self.settings.poll);
        }
        if self.next_confirm_poll.is_some_and(|t| cx.now >= t) {
            self.enqueue("M27");
            if self.source == Source::Host {
                self.enqueue("M114");
            }
            self.next_confirm_poll = Some(cx.now + CONFIRM_POLL);
        }
        if self.source == Source::Host && self.phase == Phase::Printing {
            if self.last_motion.is_some_and(|t| cx.now.duration_since(t) > HOST_IDLE) {
                self.set_phase(cx, Phase::Finished);
            }
        }
        if cx.now.duration_since(self.last_rx) > self.settings.read_timeout * (self.settings.max_probes + 1) {
            cx.disconnect = Some("the printer stopped answering".into());
        } else if cx.now.duration_since(self.last_rx) > self.settings.read_timeout {
            self.enqueue("M105");
        }
        self.flow.expire_temp_waiters();
        self.send_next(cx);
    }

    fn deadline(&self) -> Option<Instant> {
        let awaiting = self.awaiting.as_ref().map(|(_, at)| *at + COMMAND_PATIENCE);
        [
            self.next_poll,
            self.next_confirm_poll,
            awaiting,
            Some(self.last_rx + self.settings.read_timeout),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    fn on_disconnected(&mut self, _cx: &mut Cx, _reason: &str) {
        self.connected = false;
        self.awaiting = None;
        self.queue.clear();
        self.gcode_pending = None;
        self.hold = None;
        self.flow.fail_disconnected();
    }

    fn take_replies(&mut self) -> Vec<(Reply, Result<Confirmation, PrinterError>)> {
        self.flow.take_ready()
    }

    fn analysis(&self) -> Option<FileAnalysis> {
        self.job.as_ref().and_then(Job::file_analysis)
    }

    fn state(&self) -> PrinterState {
        if !self.connected && !matches!(self.phase, Phase::Error(_)) {
            return PrinterState::Disconnected;
        }
        let job = || self.job_snapshot();
        let heating = self.heating_until.is_some_and(|t| Instant::now() < t);
        match &self.phase {
            _ if self.hold.is_some() && self.phase.is_active() => PrinterState::Paused { job: job() },
            Phase::Idle if heating => PrinterState::Heating { job: None },
            Phase::Idle => PrinterState::Idle,
            Phase::Printing if heating => PrinterState::Heating { job: Some(job()) },
            Phase::Printing | Phase::Resuming => PrinterState::Printing { job: job() },
            Phase::Pausing | Phase::Cancelling => PrinterState::Pausing { job: job() },
            Phase::Paused => PrinterState::Paused { job: job() },
            Phase::Finished => PrinterState::Finished { job: job() },
            Phase::Cancelled => PrinterState::Cancelled {
                job: self.job.as_ref().map(|_| job()),
            },
            Phase::Error(m) => PrinterState::Error { message: m.clone() },
        }
    }
}
