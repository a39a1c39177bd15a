//! Host mode: layerwatch streams the G-code file itself, one numbered line at a
//! time, and owns pause (hold the stream, wait for moves, remember, park),
//! resume (reheat, un-park, restore modes, continue) and cancel (drop the rest,
//! heaters off, lift).
//!
//! Synchronous: the driver feeds events in and writes `cx.out`; nothing here
//! does I/O except reading the local G-code file. Firmware differences come
//! from `cx.quirks` only.

use tokio::time::Instant;
use tracing::{debug, error, info, warn};

mod commands;
#[cfg(test)]
mod tests;

use super::conn::Handshake;
use super::counters::Counters;
use super::driver::{Cx, Mode, ModeEvent};
use super::flow::{Flow, Target};
use super::host_flow::{Meta, Origin, Phase, Step};
use super::job::Job;
use super::park::{self, Parked, Saved};
use super::protocol::{Action, Position, Response};
use super::window::{OkOutcome, ResendOutcome, Window};
use super::{Reply, Request, Settings};
use crate::domain::{PrintJob, PrinterState};
use crate::printer::{Confirmation, FileAnalysis, PrinterError};

/// Accepted lines kept for resend requests.
const HISTORY: usize = 256;

/// Names of the objects cancelled in the current print, shared with `MarlinLink`
/// (which reads it; the mode running writes it).
#[derive(Debug, Clone, Default)]
pub struct CancelledObjects(std::sync::Arc<std::sync::Mutex<Vec<String>>>);

impl CancelledObjects {
    pub fn get(&self) -> Vec<String> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    pub(super) fn set(&self, names: Vec<String>) {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = names;
    }
}

pub struct HostMode {
    settings: Settings,
    flow: Flow,
    window: Window<Meta>,
    connected: bool,
    phase: Phase,
    job: Option<Job>,
    job_id: u64,
    last_position: Option<Position>,
    /// Last `ok` or keep-alive: the printer is working on what we sent.
    last_progress: Instant,
    last_tx: Instant,
    last_rx: Instant,
    probes: u32,
    /// A transmission error was reported and its `Resend:` has not come yet.
    transmission_error: bool,
    probe_rx_mark: Instant,
    stuck_logged: bool,
    next_poll: Option<Instant>,
    poll_outstanding: bool,
    cancelled: CancelledObjects,
}

impl HostMode {
    pub fn new(settings: Settings) -> Self {
        let now = Instant::now();
        HostMode {
            settings,
            last_rx: now,
            flow: Flow::default(),
            window: Window::new(HISTORY, 1, true),
            connected: false,
            phase: Phase::Idle,
            job: None,
            job_id: 0,
            last_position: None,
            last_progress: now,
            last_tx: now,
            probes: 0,
            transmission_error: false,
            probe_rx_mark: now,
            stuck_logged: false,
            next_poll: None,
            poll_outstanding: false,
            cancelled: CancelledObjects::default(),
        }
    }

    /// Publishes the cancelled objects' names through `shared`.
    pub fn sharing_cancelled(mut self, shared: CancelledObjects) -> Self {
        self.cancelled = shared;
        self
    }

    fn push(&mut self, text: impl Into<String>, meta: Meta) {
        self.window.push(text.into(), meta);
    }

    /// Queues a sequence; the last line carries `done`.
    fn push_sequence(&mut self, lines: Vec<String>, done: Step) {
        let n = lines.len();
        for (i, l) in lines.into_iter().enumerate() {
            self.push(l, Meta::Host(if i + 1 == n { done } else { Step::Plain }));
        }
        if n == 0 {
            self.push("M400", Meta::Host(done));
        }
    }

    /// Writes an unnumbered command now (out of band), counting its `ok`.
    fn send_raw(&mut self, cx: &mut Cx, cmd: &str) {
        cx.out.push(cmd.to_string());
        self.window.transmit_raw();
    }

    fn in_heat_wait(&self) -> bool {
        self.window
            .oldest_unacked()
            .is_some_and(|(_, t)| super::modal::kind(t) == super::modal::Kind::HeatWait)
    }

    /// Transmits what the window allows; feeds file lines while printing.
    fn pump(&mut self, cx: &mut Cx) {
        if !self.connected {
            return;
        }
        loop {
            if let Some((n, framed)) = self.window.transmit() {
                if let Some((_, Meta::Host(Step::PauseMark))) = self.window.get(n) {
                    self.last_position = None;
                }
                if self.window.outstanding() == 1 {
                    self.last_progress = cx.now;
                }
                self.last_tx = cx.now;
                cx.out.push(framed);
                continue;
            }
            if self.window.queued() > 0 || self.window.outstanding() > 0 || self.phase != Phase::Printing {
                break;
            }
            let Some(job) = self.job.as_mut() else { break };
            let Some(file) = job.file.as_mut() else { break };
            match file.next_command() {
                Ok(Some((cmd, start, end))) => {
                    job.modal.apply(&cmd);
                    self.window.push(cmd, Meta::File { start, end });
                }
                Ok(None) => {
                    // Everything sent: wait until the moves are done before calling it finished.
                    self.phase = Phase::Finishing;
                    self.push("M400", Meta::Host(Step::FinishMark));
                }
                Err(e) => {
                    let name = job.name.clone();
                    self.fail(cx, format!("cannot read {name}: {e}"));
                    break;
                }
            }
        }
    }

    fn accepted(&mut self, cx: &mut Cx, n: u32) {
        let Some((text, meta)) = self.window.get(n) else { return };
        let meta = *meta;
        note_target(cx, text);
        if self.flow.hold.take().is_some() {
            self.flow.resolve(Target::Unheld);
            if let Some(j) = self.job.as_mut() {
                j.set_paused(false, cx.now);
            }
        }
        match meta {
            Meta::File { start, .. } => {
                Counters::inc(&cx.counters.file_lines_acked);
                if let Some(j) = self.job.as_mut() {
                    j.position = Some(start);
                }
                self.flow.confirm_print();
            }
            Meta::Host(step) => self.step_done(cx, step),
        }
    }

    fn step_done(&mut self, cx: &mut Cx, step: Step) {
        match step {
            Step::Plain | Step::Setup | Step::TempSet => {}
            Step::GcodeDone => self.flow.resolve(Target::GcodeRan),
            Step::Poll => self.poll_outstanding = false,
            Step::PauseMark => self.moves_done(cx),
            Step::ParkDone => {
                if let Phase::Parking { saved, parked, origin } = std::mem::replace(&mut self.phase, Phase::Idle) {
                    let (lift_mm, retract_mm) = (parked.lift_mm, parked.retract_mm);
                    info!(printer = %cx.printer, lift_mm, retract_mm, "print paused and parked");
                    self.phase = Phase::Paused {
                        saved,
                        parked: Some(parked),
                        origin,
                    };
                    self.flow.resolve(Target::Paused);
                    self.flow.resolve(Target::Parked);
                }
            }
            Step::ResumeDone => {
                if self.phase == Phase::Resuming {
                    info!(printer = %cx.printer, "print resumed");
                    self.phase = Phase::Printing;
                    if let Some(j) = self.job.as_mut() {
                        j.set_paused(false, cx.now);
                    }
                    self.flow.resolve(Target::Printing);
                }
            }
            Step::CancelDone => {
                if self.phase == Phase::Cancelling {
                    info!(printer = %cx.printer, "print cancelled");
                    self.phase = Phase::Cancelled;
                    if let Some(j) = self.job.as_mut() {
                        j.end(cx.now);
                    }
                    self.flow.resolve(Target::Cancelled);
                }
            }
            Step::FinishMark => {
                if self.phase == Phase::Finishing {
                    info!(printer = %cx.printer, "print finished");
                    self.phase = Phase::Finished;
                    if let Some(j) = self.job.as_mut() {
                        j.position = j.size;
                        j.end(cx.now);
                    }
                    self.flow.confirm_print();
                }
            }
        }
    }

    /// `M400` and `M114` came back: the head is still; remember where it is and park.
    fn moves_done(&mut self, cx: &mut Cx) {
        let Phase::Pausing { origin } = self.phase else { return };
        let modal = self.job.as_ref().map(|j| j.modal.clone()).unwrap_or_default();
        let position = self.last_position.take().unwrap_or(Position {
            x: modal.x,
            y: modal.y,
            z: modal.z,
            e: modal.e,
        });
        let target = |h: Option<crate::domain::Heater>| h.map(|h| h.target).filter(|t| *t > 0.0);
        let saved = Saved {
            position,
            hotend_target: target(cx.temps.hotend).or(modal.hotend_target),
            bed_target: target(cx.temps.bed).or(modal.bed_target),
            modal,
        };
        let park_cfg = &cx.settings.park;
        let parked = Parked {
            retract_mm: park_cfg.retract_mm,
            lift_mm: cx.quirks.clamp_lift(position.z, park_cfg.lift_mm),
        };
        self.push_sequence(park::park(parked.retract_mm, parked.lift_mm), Step::ParkDone);
        self.phase = Phase::Parking { saved, parked, origin };
    }

    /// The print cannot go on: stop streaming and report `Error`.
    fn fail(&mut self, cx: &mut Cx, message: String) {
        error!(printer = %cx.printer, %message, "print stopped");
        self.window.discard_queued();
        if let Some(j) = self.job.as_mut() {
            j.end(cx.now);
        }
        self.flow.fail_all(&message);
        self.phase = Phase::Error(message);
    }

    fn on_action(&mut self, cx: &mut Cx, action: Action) {
        match action {
            Action::Pause if self.phase == Phase::Printing && self.flow.hold.is_none() => {
                self.start_pause(cx, Origin::Firmware)
            }
            Action::Paused if matches!(self.phase, Phase::Printing | Phase::Finishing) => {
                self.hold(cx, "the firmware paused (//action:paused)")
            }
            Action::Resume => {
                if !self.start_resume(cx) {
                    debug!(printer = %cx.printer, "resume action while not paused by us: ignored");
                }
            }
            Action::Resumed => {
                if self.flow.hold.take().is_some() {
                    self.flow.resolve(Target::Unheld);
                }
            }
            Action::Cancel if self.phase.is_active() => self.start_cancel(cx),
            Action::Disconnect => cx.disconnect = Some("the firmware asked the host to disconnect".into()),
            Action::Notification(message) => info!(printer = %cx.printer, %message, "printer notification"),
            Action::PromptBegin(text) => info!(printer = %cx.printer, prompt = %text, "printer prompt"),
            other => debug!(printer = %cx.printer, action = ?other, "host action ignored"),
        }
    }

    fn hold(&mut self, cx: &mut Cx, reason: &str) {
        if self.flow.hold.is_none() {
            info!(printer = %cx.printer, reason, "the firmware waits for the user");
            if let Some(j) = self.job.as_mut() {
                j.set_paused(true, cx.now);
            }
        }
        self.flow.hold = Some(reason.to_string());
    }

    /// No answer in time: send the unacknowledged lines again (duplicates are refused by number).
    fn probe(&mut self, cx: &mut Cx) {
        self.probes += 1;
        Counters::inc(&cx.counters.timeouts);
        if self.probes == 1 {
            self.probe_rx_mark = cx.last_rx;
        }
        let max = cx.settings.max_probes;
        if self.probes > max && cx.last_rx <= self.probe_rx_mark {
            cx.disconnect = Some(format!(
                "the printer stopped answering ({} probes without a byte)",
                self.probes - 1
            ));
            return;
        }
        if self.probes > max && !self.stuck_logged {
            self.stuck_logged = true;
            let line = self
                .window
                .oldest_unacked()
                .map(|(n, t)| format!("N{n} {t}"))
                .unwrap_or_default();
            error!(printer = %cx.printer, %line, "the printer talks but does not acknowledge a line; still retrying");
        }
        self.last_progress = cx.now;
        if !cx.quirks.checks_line_numbers {
            // Without line numbers a copy would run twice: keep waiting instead.
            let msg = "no acknowledgement in time (firmware without line numbers: not resending)";
            warn!(printer = %cx.printer, probe = self.probes, "{msg}");
            return;
        }
        let again = self.window.on_lost();
        Counters::add(&cx.counters.retransmitted, u64::from(again));
        warn!(printer = %cx.printer, probe = self.probes, lines = again, "no acknowledgement in time: sending again");
    }

    fn job_snapshot(&self) -> PrintJob {
        self.job
            .as_ref()
            .map(|j| j.snapshot(Instant::now()))
            .unwrap_or_default()
    }
}

/// A heater command the firmware accepted sets the target we report, without
/// waiting for the next temperature report.
fn note_target(cx: &mut Cx, command: &str) {
    use super::protocol::framing::{command_word, param};
    let word = command_word(command);
    let heater = match word {
        "M104" | "M109" if param(command, 'T').is_none_or(|t| t == 0.0) => &mut cx.temps.hotend,
        "M140" | "M190" => &mut cx.temps.bed,
        _ => return,
    };
    if let Some(target) = param(command, 'S').or_else(|| param(command, 'R')) {
        let actual = heater.map_or(0.0, |h| h.actual);
        *heater = Some(crate::domain::Heater { actual, target });
    }
}

impl Mode for HostMode {
    fn on_connected(&mut self, cx: &mut Cx, handshake: &Handshake) {
        self.connected = true;
        self.window = Window::new(HISTORY, 1, cx.quirks.ok_after_resend);
        self.window.restart(handshake.last_line.unwrap_or(0));
        if matches!(self.phase, Phase::Error(_)) {
            self.phase = Phase::Idle;
        }
        if let Some(cmd) = cx.quirks.temp_autoreport(cx.settings.autoreport_secs) {
            self.push(cmd, Meta::Host(Step::Setup));
            self.next_poll = None;
        } else {
            self.next_poll = Some(cx.now + cx.settings.poll);
        }
        self.push("M105", Meta::Host(Step::Poll));
        self.poll_outstanding = true;
        self.last_progress = cx.now;
        self.probes = 0;
        self.pump(cx);
    }

    fn on_response(&mut self, cx: &mut Cx, response: Response) {
        self.last_rx = cx.now;
        match response {
            Response::Ok(ok) => {
                self.transmission_error = false;
                if let Some(t) = &ok.temps {
                    cx.update_temps(t);
                }
                if let Some(p) = ok.position {
                    self.last_position = Some(p);
                }
                self.last_progress = cx.now;
                self.probes = 0;
                match self.window.on_ok() {
                    OkOutcome::Accepted(range) => {
                        for n in range {
                            self.accepted(cx, n);
                        }
                    }
                    OkOutcome::Spurious => Counters::inc(&cx.counters.spurious_oks),
                    OkOutcome::Other => {}
                }
            }
            Response::Resend { line } => {
                Counters::inc(&cx.counters.resends);
                self.last_progress = cx.now;
                let after_error = std::mem::take(&mut self.transmission_error);
                let (outcome, newly) = self.window.on_resend(line, after_error);
                if let Some(range) = newly {
                    for n in range {
                        self.accepted(cx, n);
                    }
                }
                match outcome {
                    ResendOutcome::Rewound { from, count } => {
                        Counters::add(&cx.counters.retransmitted, u64::from(count));
                        info!(printer = %cx.printer, line = from, count, "printer asked for lines again");
                    }
                    ResendOutcome::NextLine { line } => {
                        debug!(printer = %cx.printer, line, "printer asked for the next line")
                    }
                    ResendOutcome::Resync { requested, to } => {
                        Counters::inc(&cx.counters.unexpected_resends);
                        let msg = "resend requested for a line never sent: resetting the line counter";
                        warn!(printer = %cx.printer, requested, resync_to = to, "{msg}");
                        self.send_raw(cx, &format!("M110 N{to}"));
                    }
                    ResendOutcome::Ignored { requested } => {
                        Counters::inc(&cx.counters.unexpected_resends);
                        let msg = "resend request without a transmission error: taken for line noise";
                        warn!(printer = %cx.printer, requested, "{msg}");
                    }
                    ResendOutcome::Forgotten { requested, oldest } => {
                        Counters::inc(&cx.counters.unexpected_resends);
                        self.fail(
                            cx,
                            format!("the printer asked for line {requested}, older than the {oldest} kept for resends"),
                        );
                    }
                }
            }
            Response::Wait => {
                let quiet = cx.now.duration_since(self.last_tx) > std::time::Duration::from_millis(200);
                let unanswered = self.window.outstanding() > 0 && self.flow.hold.is_none() && !self.in_heat_wait();
                if unanswered && quiet && cx.quirks.checks_line_numbers {
                    let again = self.window.on_lost();
                    Counters::add(&cx.counters.retransmitted, u64::from(again));
                    let msg = "printer idle while a line was unanswered: sending again";
                    debug!(printer = %cx.printer, lines = again, "{msg}");
                }
            }
            Response::Busy { reason } => {
                self.last_progress = cx.now;
                if reason.waits_for_user() && self.phase.is_active() {
                    self.hold(cx, "busy: paused for user");
                }
                self.flow.confirm_print_if_started(self.window.outstanding() > 0);
            }
            Response::Temperatures(t) => {
                cx.update_temps(&t);
                if t.waiting || self.in_heat_wait() {
                    self.last_progress = cx.now;
                    self.flow.confirm_print_if_started(self.window.outstanding() > 0);
                }
            }
            Response::Position(p) => self.last_position = Some(p),
            Response::Action(a) => self.on_action(cx, a),
            Response::Error(e) => {
                if cx.quirks.is_fatal(&e) {
                    Counters::inc(&cx.counters.fatal_errors);
                    self.window.on_lost();
                    self.fail(cx, format!("printer halted: {}", e.message));
                } else if e.kind.is_transmission() {
                    self.transmission_error = true;
                    Counters::inc(&cx.counters.transmission_errors);
                    debug!(printer = %cx.printer, error = %e.message, "transmission error reported");
                } else {
                    warn!(printer = %cx.printer, error = %e.message, "printer reported an error");
                }
            }
            Response::Start => {
                if self.phase.is_active() {
                    self.fail(cx, "the printer restarted during the print".into());
                }
                cx.disconnect = Some("the firmware restarted".into());
            }
            Response::Echo(text) | Response::Comment(text) => debug!(printer = %cx.printer, %text, "printer says"),
            _ => {}
        }
        self.flow.check_temps(cx.temps);
        self.pump(cx);
    }

    fn on_request(&mut self, cx: &mut Cx, request: Request) {
        self.request(cx, request);
        self.pump(cx);
    }

    fn on_event(&mut self, cx: &mut Cx, event: ModeEvent) {
        match event {
            ModeEvent::Analysis(id, index) if id == self.job_id => {
                if let (Some(j), Some(a)) = (self.job.as_mut(), index) {
                    debug!(printer = %cx.printer, layers = a.layers.len(), "G-code analysed");
                    j.set_analysis(a);
                }
            }
            ModeEvent::Analysis(..) => {}
        }
    }

    fn on_timer(&mut self, cx: &mut Cx) {
        let timeout = cx.settings.read_timeout;
        let halted = matches!(self.phase, Phase::Error(_));
        if self.window.outstanding() > 0 && self.flow.hold.is_none() && !halted {
            if cx.now >= self.last_progress + timeout {
                self.probe(cx);
            }
        } else if !halted && !self.poll_outstanding && cx.now >= cx.last_rx + timeout {
            // Quiet printer, nothing outstanding: ask something to prove it is alive.
            self.push("M105", Meta::Host(Step::Poll));
            self.poll_outstanding = true;
        }
        if let Some(at) = self.next_poll {
            if cx.now >= at {
                if !self.poll_outstanding && !halted {
                    self.push("M105", Meta::Host(Step::Poll));
                    self.poll_outstanding = true;
                }
                self.next_poll = Some(cx.now + cx.settings.poll);
            }
        }
        self.flow.expire_temp_waiters();
        self.pump(cx);
    }

    fn deadline(&self) -> Option<Instant> {
        let mut d: Option<Instant> = self.next_poll;
        let mut add = |t: Instant| d = Some(d.map_or(t, |d| d.min(t)));
        if !self.connected {
            return d;
        }
        let timeout = self.settings.read_timeout;
        if self.window.outstanding() > 0 && self.flow.hold.is_none() {
            add(self.last_progress + timeout);
        } else if !self.poll_outstanding {
            add(self.last_rx + timeout);
        }
        d
    }

    fn on_disconnected(&mut self, cx: &mut Cx, reason: &str) {
        self.connected = false;
        if self.phase.is_active() {
            let message = format!("connection lost during the print ({reason}); it cannot be resumed");
            self.fail(cx, message);
        }
        self.flow.fail_disconnected();
        self.flow.hold = None;
        self.poll_outstanding = false;
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
        match &self.phase {
            Phase::Idle => PrinterState::Idle,
            Phase::Printing | Phase::Finishing if self.flow.hold.is_some() => PrinterState::Paused { job: job() },
            Phase::Printing | Phase::Finishing | Phase::Resuming if self.in_heat_wait() => {
                PrinterState::Heating { job: Some(job()) }
            }
            Phase::Printing | Phase::Finishing => PrinterState::Printing { job: job() },
            Phase::Pausing { .. } | Phase::Parking { .. } | Phase::Cancelling => PrinterState::Pausing { job: job() },
            Phase::Paused { .. } | Phase::Resuming => PrinterState::Paused { job: job() },
            Phase::Finished => PrinterState::Finished { job: job() },
            Phase::Cancelled => PrinterState::Cancelled { job: Some(job()) },
            Phase::Error(message) => PrinterState::Error {
                message: message.clone(),
            },
        }
    }
}
