//! OctoPrint's printer state → our closed `PrinterState`.
//!
//! OctoPrint reports a state text and flags (`/api/printer`, push `current`);
//! `/api/job` and a 409 from `/api/printer` give only the text, which
//! `Flags::from_text` turns into the same flags. The table, first match wins:
//!
//! | OctoPrint (flags; typical text)                          | layerwatch                |
//! |----------------------------------------------------------|---------------------------|
//! | `closedOrError` or not `operational`, with `error` or     | `Error { message }`: the  |
//! |   text `Error: …` / `Offline after error`                 |   error text, else state  |
//! | `closedOrError` (`Offline`, `Closed`)                     | `Disconnected`            |
//! | not `operational` (`Opening serial connection`,           | `Disconnected`            |
//! |   `Detecting…`, `Connecting`)                             |                           |
//! | `cancelling` (`Cancelling`)                               | `Cancelled { job }`       |
//! | `pausing` (`Pausing`)                                     | `Pausing { job }`         |
//! | `paused` (`Paused`)                                       | `Paused { job }`          |
//! | `printing` (`Printing`, `Printing from SD`, `Starting`,   | `Heating { job }` if a    |
//! |   `Resuming`, `Finishing`)                                |   heater is > 5 °C below  |
//! |                                                           |   target before the first |
//! |                                                           |   layer, else `Printing`  |
//! | text `Transferring file to SD` / `Sending file to SD`     | `Idle` (busy, bed empty)  |
//! | ready after `PrintDone`, or after printing reached 100 %  | `Finished { job }`        |
//! | ready after `PrintCancelled` / `PrintFailed` (reason      | `Cancelled { job }`       |
//! |   `cancelled`), or after `Cancelling`                     |                           |
//! | ready, otherwise (`Operational`)                          | `Idle`                    |
//!
//! `Finished`/`Cancelled` stay until the next print starts or another file is
//! selected; OctoPrint itself says `Operational` then. "First layer not
//! reached" means the file position is before the first layer of the analysed
//! file, or (no analysis) progress below 5 %.

use crate::domain::{Heater, PrintJob, PrinterState, PrinterStatus, Temperatures, Timestamp};
use crate::printer::hostlink::confirm::heating;
use crate::printer::hostlink::layers::{FileKey, LayerMap};

use super::model::{
    Current, Flags, HostEvent, Job, JobResponse, PrinterResponse, Progress, StateInfo, TempRecord, as_u64,
};

/// One look at OctoPrint, from the push socket or from REST polling.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Observation {
    pub state: StateInfo,
    pub job: Job,
    pub progress: Progress,
    pub current_z: Option<f32>,
    /// Latest temperatures, when this observation carries any.
    pub temps: Option<TempRecord>,
}

impl Observation {
    pub(crate) fn from_push(c: Current) -> Self {
        let temps = c.temps.last().copied();
        Observation { state: c.state, job: c.job, progress: c.progress, current_z: c.current_z, temps }
    }

    /// From `/api/job` and, when the printer is operational, `/api/printer`.
    pub(crate) fn from_rest(job: JobResponse, printer: Option<PrinterResponse>) -> Self {
        let (state, temps) = match printer {
            Some(p) => (p.state, Some(p.temperature)),
            None => {
                let flags = Flags::from_text(&job.state);
                (StateInfo { text: job.state.clone(), flags, error: job.error.clone() }, None)
            }
        };
        Observation { state, job: job.job, progress: job.progress, current_z: None, temps }
    }
}

/// How the last job ended, remembered while OctoPrint says `Operational`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    Finished,
    Cancelled,
}

/// Folds observations and events into the current status.
#[derive(Debug, Default)]
pub(crate) struct Tracker {
    last: Observation,
    temps: Temperatures,
    /// The outcome of the job in `outcome_file`.
    outcome: Option<(Outcome, Option<String>)>,
    was_active: bool,
    was_cancelling: bool,
}

impl Tracker {
    pub(crate) fn observe(&mut self, obs: Observation) {
        if let Some(t) = obs.temps {
            merge_heater(&mut self.temps.hotend, t.tool0);
            merge_heater(&mut self.temps.bed, t.bed);
        }
        let f = obs.state.flags;
        let active = f.printing || f.paused || f.pausing || f.cancelling || f.resuming || f.finishing;
        let file = obs.job.file.path.clone();
        if active {
            if !f.cancelling {
                self.outcome = None;
            }
            self.was_cancelling |= f.cancelling;
            self.was_active = true;
        } else if f.operational {
            if self.was_active && self.outcome.is_none() {
                let done = self.last.progress.completion.is_some_and(|c| c >= 99.99)
                    || obs.progress.completion.is_some_and(|c| c >= 99.99);
                let outcome = if self.was_cancelling || !done { Outcome::Cancelled } else { Outcome::Finished };
                self.outcome = Some((outcome, file.clone()));
            }
            if let Some((_, of)) = &self.outcome
                && *of != file
            {
                self.outcome = None;
            }
            self.was_active = false;
            self.was_cancelling = false;
        } else {
            // Printer gone or failed: a job that was running did not finish,
            // and the last temperatures are no longer known.
            self.temps = Temperatures::default();
            self.outcome = None;
            self.was_active = false;
            self.was_cancelling = false;
        }
        self.last = obs;
    }

    pub(crate) fn event(&mut self, ev: &HostEvent) {
        let file = self.last.job.file.path.clone();
        match ev {
            HostEvent::PrintStarted { .. } => {
                self.outcome = None;
                self.was_active = true;
                self.was_cancelling = false;
            }
            HostEvent::PrintDone => self.outcome = Some((Outcome::Finished, file)),
            HostEvent::PrintCancelling => self.was_cancelling = true,
            HostEvent::PrintCancelled => self.outcome = Some((Outcome::Cancelled, file)),
            HostEvent::PrintFailed { reason } if reason.as_deref() != Some("error") => {
                self.outcome = Some((Outcome::Cancelled, file));
            }
            HostEvent::FileSelected { path } if *path != file => self.outcome = None,
            _ => {}
        }
    }

    /// The file to analyse for layers: only local files can be downloaded.
    pub(crate) fn file_key(&self) -> Option<FileKey> {
        let f = &self.last.job.file;
        if f.origin.as_deref() != Some("local") {
            return None;
        }
        Some(FileKey { path: f.path.clone()?, size: as_u64(f.size), modified: f.date.map(|d| d as i64) })
    }

    pub(crate) fn status(&self, layers: Option<&LayerMap>, at: Timestamp) -> PrinterStatus {
        let job = self.job(layers);
        let heating_now = heating(&self.temps)
            && job
                .as_ref()
                .is_some_and(|j| j.layer.is_none() && (layers.is_some() || j.progress.is_none_or(|p| p < 0.05)));
        let state = map_state(&self.last.state, self.outcome.as_ref().map(|o| o.0), job, heating_now);
        PrinterStatus { state, temps: self.temps, at }
    }

    fn job(&self, layers: Option<&LayerMap>) -> Option<PrintJob> {
        let o = &self.last;
        let f = &o.job.file;
        let file = f.path.clone().or_else(|| f.name.clone())?;
        let file_position = as_u64(o.progress.filepos);
        let point = layers.zip(file_position).and_then(|(m, pos)| m.at_offset(pos));
        Some(PrintJob {
            file,
            layer: point.as_ref().map(|p| p.layer),
            layer_count: layers.map(LayerMap::layer_count),
            z: o.current_z.or(point.as_ref().map(|p| p.z)),
            progress: o.progress.completion.map(|c| (c / 100.0).clamp(0.0, 1.0) as f32),
            file_position,
            file_size: as_u64(f.size),
            elapsed: o
                .progress
                .print_time
                .filter(|t| t.is_finite() && *t >= 0.0)
                .map(std::time::Duration::from_secs_f64),
            feature: point.and_then(|p| p.feature),
        })
    }
}

fn merge_heater(slot: &mut Option<Heater>, r: Option<super::model::HeaterReading>) {
    if let Some(r) = r
        && let (Some(actual), target) = (r.actual, r.target)
    {
        *slot = Some(Heater { actual, target: target.unwrap_or(0.0) });
    }
}

/// The table in this file's header, as code.
pub(crate) fn map_state(s: &StateInfo, outcome: Option<Outcome>, job: Option<PrintJob>, heating: bool) -> PrinterState {
    let f = &s.flags;
    let text = s.text.trim();
    let lower = text.to_ascii_lowercase();
    // After a firmware error OctoPrint drops the serial link: `error` is false
    // then, and only the text (`Offline after error`) and `state.error` tell.
    let errored = f.error || lower.starts_with("offline after error") || lower.starts_with("error");
    if errored && (f.closed_or_error || !f.operational) {
        let message = s.error.as_deref().map(str::trim).filter(|e| !e.is_empty()).unwrap_or(text);
        return PrinterState::Error { message: format!("octoprint: {message}") };
    }
    if f.closed_or_error || !f.operational {
        return PrinterState::Disconnected;
    }
    if lower.contains("file to sd") {
        return PrinterState::Idle;
    }
    let active = f.printing || f.paused || f.pausing || f.cancelling || f.resuming || f.finishing;
    if active {
        let job = job.unwrap_or_default();
        return if f.cancelling {
            PrinterState::Cancelled { job: Some(job) }
        } else if f.pausing {
            PrinterState::Pausing { job }
        } else if f.paused {
            PrinterState::Paused { job }
        } else if heating {
            PrinterState::Heating { job: Some(job) }
        } else {
            PrinterState::Printing { job }
        };
    }
    match (outcome, job) {
        (Some(Outcome::Finished), Some(job)) => PrinterState::Finished { job },
        (Some(Outcome::Cancelled), job) => PrinterState::Cancelled { job },
        _ => PrinterState::Idle,
    }
}
