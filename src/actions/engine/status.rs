//! Following the printer: prints start and end (recorded in the store), and
//! an incident that holds the printer closes when someone resumes at the
//! printer or the print ends.

use super::{CurrentPrint, Engine};
use crate::actions::ActionError;
use crate::domain::{PrintJob, PrinterState, PrinterStatus};
use crate::store::{CloseReason, PrintOutcome};

impl Engine {
    pub(super) async fn on_status(&mut self, s: PrinterStatus) -> Result<(), ActionError> {
        match &s.state {
            PrinterState::Printing { job } => {
                self.follow_print(job).await?;
                if let Some(inc) = &self.incident
                    && inc.holds_printer
                    && inc.seen_paused
                {
                    // Paused for this incident, printing again: someone resumed it
                    // (at the printer, in OctoPrint…) without the dashboard.
                    let inc = inc.clone();
                    tracing::info!(incident = ?inc.id, "print resumed outside layerwatch");
                    self.close(inc, CloseReason::Resumed).await?;
                }
            }
            PrinterState::Heating { job: Some(job) } => self.follow_print(job).await?,
            PrinterState::Pausing { job } | PrinterState::Paused { job } => {
                self.follow_print(job).await?;
                if let Some(inc) = &mut self.incident {
                    inc.seen_paused = true;
                }
            }
            PrinterState::Finished { .. } => self.end_print(PrintOutcome::Finished, CloseReason::PrintEnded).await?,
            PrinterState::Cancelled { .. } => self.end_print(PrintOutcome::Cancelled, CloseReason::Cancelled).await?,
            PrinterState::Error { message } => {
                tracing::warn!(error = %message, "printer reports an error");
                self.end_print(PrintOutcome::Error, CloseReason::PrintEnded).await?
            }
            PrinterState::Idle => self.end_print(PrintOutcome::Interrupted, CloseReason::PrintEnded).await?,
            PrinterState::Disconnected | PrinterState::Heating { job: None } => {}
        }
        Ok(())
    }

    /// Makes `job` the current print, ending a different one first.
    async fn follow_print(&mut self, job: &PrintJob) -> Result<(), ActionError> {
        if job.file.is_empty() {
            return Ok(());
        }
        if let Some(p) = &mut self.print {
            if p.file == job.file {
                // The layer count may arrive after the print started (G-code analysis).
                if !p.layer_count_known
                    && let Some(n) = job.layer_count
                {
                    p.layer_count_known = true;
                    self.store.set_print_layer_count(p.id, n).await?;
                }
                return Ok(());
            }
            self.end_print(PrintOutcome::Interrupted, CloseReason::PrintEnded).await?;
        }
        let now = self.clock.now();
        let id = self.store.start_print(&job.file, now, job.layer_count).await?;
        tracing::info!(print = id, file = %job.file, "print started");
        self.print = Some(CurrentPrint { id, file: job.file.clone(), layer_count_known: job.layer_count.is_some() });
        Ok(())
    }

    /// Ends the current print (if any) and closes its incidents.
    async fn end_print(&mut self, outcome: PrintOutcome, reason: CloseReason) -> Result<(), ActionError> {
        let Some(p) = self.print.take() else { return Ok(()) };
        let now = self.clock.now();
        self.store.end_print(p.id, now, outcome).await?;
        tracing::info!(print = p.id, file = %p.file, %outcome, "print ended");
        if let Some(inc) = self.incident.clone() {
            self.close(inc, reason).await?;
        }
        for (_, id) in std::mem::take(&mut self.health) {
            self.store.close_incident(id, now, CloseReason::PrintEnded).await?;
        }
        if self.mute.as_ref().is_some_and(|m| m.print == Some(p.id)) {
            tracing::info!(print = p.id, "mute ended with its print");
            self.set_mute(None);
        }
        if let Some(point) = self.sampler.flush() {
            self.store.append_timeline(point).await?;
        }
        Ok(())
    }
}
