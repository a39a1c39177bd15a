//! What the Moonraker loop knows, without I/O: the merged objects, Klippy's
//! state, and the last active job (context for "Klippy vanished mid-print").
//! The loop feeds it answers and notifications and does what it asks
//! (`Next::Resubscribe`); the unit tests replay captured sessions through it.

use serde_json::Value;

use crate::domain::{PrintJob, PrinterState, PrinterStatus, Timestamp};
use crate::printer::hostlink::layers::LayerMap;

use super::objects::{Klippy, Objects, View};
use super::state;

/// What the loop should do after a notification.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Next {
    /// Nothing changed that matters.
    Nothing,
    /// State changed: publish (and check the printing file).
    Publish,
    /// Klippy is (back) ready: subscriptions were dropped, subscribe again.
    Resubscribe,
}

#[derive(Debug)]
pub(crate) struct Follow {
    objects: Objects,
    klippy: Klippy,
    last_active: Option<PrintJob>,
}

impl Default for Follow {
    fn default() -> Self {
        Follow { objects: Objects::default(), klippy: Klippy::Disconnected, last_active: None }
    }
}

impl Follow {
    pub(crate) fn klippy(&self) -> Klippy {
        self.klippy
    }

    pub(crate) fn view(&self) -> View {
        self.objects.view()
    }

    /// A `printer.objects.subscribe` (or `query`) answer's `status`: the full state.
    pub(crate) fn subscribed(&mut self, status: &Value) {
        self.objects.reset(status);
        self.klippy = self.objects.view().webhooks_state.unwrap_or(Klippy::Ready);
    }

    /// Klippy's state from `server.info`, when it is not ready (no objects then,
    /// except after a shutdown, when they still answer).
    pub(crate) fn klippy_not_ready(&mut self, k: Klippy) {
        self.klippy = k;
        if !matches!(k, Klippy::Shutdown | Klippy::Error) {
            self.objects.clear();
        }
    }

    pub(crate) fn has_objects(&self) -> bool {
        !self.objects.is_empty()
    }

    /// The websocket to Moonraker is gone: nothing is known any more.
    pub(crate) fn socket_lost(&mut self) {
        self.klippy = Klippy::Disconnected;
        self.objects.clear();
    }

    pub(crate) fn notification(&mut self, method: &str, params: &Value) -> Next {
        match method {
            "notify_status_update" => {
                // params: [ {object: {field: value}}, eventtime ]
                let Some(diff) = params.get(0) else { return Next::Nothing };
                self.objects.merge(diff);
                if let Some(k) = self.objects.view().webhooks_state {
                    self.klippy = k;
                }
                Next::Publish
            }
            "notify_klippy_ready" => Next::Resubscribe,
            "notify_klippy_shutdown" => {
                self.klippy = Klippy::Shutdown;
                Next::Publish
            }
            "notify_klippy_disconnected" => {
                self.klippy = Klippy::Disconnected;
                self.objects.clear();
                Next::Publish
            }
            _ => Next::Nothing,
        }
    }

    pub(crate) fn last_active(&self) -> Option<&PrintJob> {
        self.last_active.as_ref()
    }

    /// The status to publish; remembers the job while it is active.
    pub(crate) fn status(&mut self, layers: Option<&LayerMap>, at: Timestamp) -> PrinterStatus {
        let v = self.objects.view();
        let next = state::status(self.klippy, &v, layers, self.last_active.as_ref(), at);
        match &next.state {
            PrinterState::Printing { job } | PrinterState::Paused { job } | PrinterState::Pausing { job } => {
                self.last_active = Some(job.clone());
            }
            PrinterState::Heating { job: Some(job) } => self.last_active = Some(job.clone()),
            // Keep the context while the printer is away or failed.
            PrinterState::Error { .. } | PrinterState::Disconnected => {}
            _ => self.last_active = None,
        }
        next
    }
}
