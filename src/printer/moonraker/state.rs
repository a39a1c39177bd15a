//! Klippy and `print_stats` states → our closed `PrinterState`.
//!
//! First match wins:
//!
//! | Moonraker / Klipper                                     | layerwatch                  |
//! |---------------------------------------------------------|-----------------------------|
//! | websocket to Moonraker down                             | `Disconnected`              |
//! | klippy `disconnected` while a job was printing/paused   | `Error { "klippy            |
//! |                                                         |   disconnected during <file>|
//! |                                                         |   (layer n/N): <why>" }`    |
//! | klippy `disconnected` or `startup`                      | `Disconnected`              |
//! | klippy `shutdown` / `error`                             | `Error { state_message }`   |
//! | `print_stats.state` `printing` + `is_paused`            | `Pausing { job }`           |
//! | `printing`, a heater > 5 °C below target, no layer yet  | `Heating { job }`           |
//! | `printing`                                              | `Printing { job }`          |
//! | `paused`                                                | `Paused { job }`            |
//! | `complete`                                              | `Finished { job }`          |
//! | `cancelled`                                             | `Cancelled { job }`         |
//! | `error`                                                 | `Error { message }`         |
//! | `standby` (or no `print_stats` yet)                     | `Idle`                      |
//!
//! Layers: `print_stats.info.current_layer` (1-based; 0 means the first layer
//! has not started) when the file sets it with `SET_PRINT_STATS_INFO`,
//! otherwise the analysed file at `virtual_sdcard.file_position`. "First
//! layer not reached" means no layer yet, or (no layer source) progress < 5 %.

use std::time::Duration;

use crate::domain::{Heater, PrintJob, PrinterState, PrinterStatus, Temperatures, Timestamp};
use crate::printer::hostlink::confirm::heating;
use crate::printer::hostlink::layers::LayerMap;

use super::objects::{JobState, Klippy, View};

/// Builds the job from the objects (and the analysed file, when there is one).
pub(crate) fn job(v: &View, layers: Option<&LayerMap>) -> Option<PrintJob> {
    let file = v.filename.clone()?;
    let point = layers.zip(v.file_position).and_then(|(m, pos)| m.at_offset(pos));
    let (layer, layer_count) = match v.current_layer {
        Some(n) => (n.checked_sub(1), v.total_layer.filter(|t| *t > 0)),
        None => (point.as_ref().map(|p| p.layer), layers.map(LayerMap::layer_count)),
    };
    Some(PrintJob {
        file,
        layer,
        layer_count,
        z: v.z.or(point.as_ref().map(|p| p.z)),
        progress: v.sd_progress.or(v.display_progress).map(|p| p.clamp(0.0, 1.0) as f32),
        file_position: v.file_position,
        file_size: v.file_size,
        elapsed: v.print_duration.filter(|d| *d >= 0.0).map(Duration::from_secs_f64),
        feature: point.and_then(|p| p.feature),
    })
}

pub(crate) fn temps(v: &View) -> Temperatures {
    let h = |x: Option<(f32, f32)>| x.map(|(actual, target)| Heater { actual, target });
    Temperatures { hotend: h(v.extruder), bed: h(v.bed) }
}

/// The table in this file's header, as code. `klippy` is the best knowledge
/// of Klippy's state (notifications win over the possibly stale `webhooks`).
pub(crate) fn map_state(
    klippy: Klippy,
    v: &View,
    job: Option<PrintJob>,
    last_active: Option<&PrintJob>,
    temps: &Temperatures,
) -> PrinterState {
    match klippy {
        Klippy::Disconnected => {
            return match last_active {
                Some(j) => PrinterState::Error { message: disconnected_message(j, v.state_message.as_deref()) },
                None => PrinterState::Disconnected,
            };
        }
        Klippy::Startup => return PrinterState::Disconnected,
        Klippy::Shutdown | Klippy::Error => {
            // The message is Klippy's only when webhooks already says so (the
            // shutdown notification can overtake the status update).
            let own = matches!(v.webhooks_state, Some(Klippy::Shutdown | Klippy::Error));
            let m = v.state_message.as_deref().filter(|_| own).map(first_line).unwrap_or("shut down");
            return PrinterState::Error { message: format!("klipper: {m}") };
        }
        Klippy::Ready => {}
    }
    let active_job = || job.clone().unwrap_or_default();
    match v.job_state {
        None | Some(JobState::Standby) => PrinterState::Idle,
        Some(JobState::Printing) if v.is_paused => PrinterState::Pausing { job: active_job() },
        Some(JobState::Printing) => {
            let j = active_job();
            let before_first_layer =
                j.layer.is_none() && (j.layer_count.is_some() || j.progress.is_none_or(|p| p < 0.05));
            if heating(temps) && before_first_layer {
                PrinterState::Heating { job: Some(j) }
            } else {
                PrinterState::Printing { job: j }
            }
        }
        Some(JobState::Paused) => PrinterState::Paused { job: active_job() },
        Some(JobState::Complete) => PrinterState::Finished { job: active_job() },
        Some(JobState::Cancelled) => PrinterState::Cancelled { job },
        Some(JobState::Error) => {
            let m = v.job_message.as_deref().map(first_line).unwrap_or("print failed");
            PrinterState::Error { message: format!("klipper: {m}") }
        }
    }
}

/// A full status from the view.
pub(crate) fn status(
    klippy: Klippy,
    v: &View,
    layers: Option<&LayerMap>,
    last_active: Option<&PrintJob>,
    at: Timestamp,
) -> PrinterStatus {
    let temps = if klippy == Klippy::Ready { temps(v) } else { Temperatures::default() };
    let job = job(v, layers);
    PrinterStatus { state: map_state(klippy, v, job, last_active, &temps), temps, at }
}

fn first_line(s: &str) -> &str {
    s.lines().map(str::trim).find(|l| !l.is_empty()).unwrap_or(s)
}

fn disconnected_message(j: &PrintJob, why: Option<&str>) -> String {
    let layer = match (j.layer, j.layer_count) {
        (Some(l), Some(n)) => format!(" (layer {}/{n})", l + 1),
        (Some(l), None) => format!(" (layer {})", l + 1),
        _ => String::new(),
    };
    let why = why.map(first_line).filter(|w| !w.is_empty()).unwrap_or("Klippy Disconnected");
    format!("klippy disconnected during {}{layer}: {why}", j.file)
}
