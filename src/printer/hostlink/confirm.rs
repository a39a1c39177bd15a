//! Command confirmation by observed state, and inference rules both host
//! tables share.

use std::time::Duration;

use tokio::sync::watch;

use crate::domain::{Heater, PrinterState, PrinterStatus, Temperatures};
use crate::printer::PrinterError;

/// A heater this far (°C) below a non-zero target counts as still heating.
pub(crate) const HEATING_MARGIN_C: f32 = 5.0;
/// Targets within this (°C) of the requested value count as set.
pub(crate) const TARGET_TOLERANCE_C: f32 = 0.5;

/// Waits until the published state satisfies `done`, or `timeout` passes.
/// The current value counts: callers check idempotency before sending.
pub(crate) async fn wait_for_state(
    rx: &mut watch::Receiver<PrinterStatus>,
    command: &'static str,
    timeout: Duration,
    done: impl Fn(&PrinterStatus) -> bool,
) -> Result<(), PrinterError> {
    let outcome = tokio::time::timeout(timeout, rx.wait_for(|s| done(s))).await.map(|r| r.map(drop));
    match outcome {
        Ok(Ok(())) => Ok(()),
        Ok(Err(_)) => Err(PrinterError::NotConnected),
        Err(_) => Err(PrinterError::Unconfirmed {
            command,
            timeout_ms: timeout.as_millis() as u64,
            state: rx.borrow().state.name(),
        }),
    }
}

/// True when a heater with a target is still well below it.
pub(crate) fn heating(temps: &Temperatures) -> bool {
    let below = |h: &Option<Heater>| h.is_some_and(|h| h.target > 0.0 && h.actual < h.target - HEATING_MARGIN_C);
    below(&temps.hotend) || below(&temps.bed)
}

/// True when both requested targets are what the printer reports.
pub(crate) fn targets_match(temps: &Temperatures, hotend: Option<f32>, bed: Option<f32>) -> bool {
    let ok = |want: Option<f32>, have: &Option<Heater>| match want {
        None => true,
        Some(w) => have.is_some_and(|h| (h.target - w).abs() <= TARGET_TOLERANCE_C),
    };
    ok(hotend, &temps.hotend) && ok(bed, &temps.bed)
}

/// Checks requested targets: finite, not negative, below a sane ceiling.
pub(crate) fn check_targets(hotend: Option<f32>, bed: Option<f32>) -> Result<(), PrinterError> {
    for (name, v, max) in [("hotend", hotend, 350.0), ("bed", bed, 150.0)] {
        if let Some(v) = v
            && (!v.is_finite() || !(0.0..=max).contains(&v))
        {
            return Err(PrinterError::Rejected {
                command: "set_temperatures",
                message: format!("{name} target {v} °C is outside 0..={max}"),
            });
        }
    }
    Ok(())
}

/// The states a pause request can act on (`Heating` counts: the job has started).
pub(crate) fn pausable(state: &PrinterState) -> bool {
    matches!(state, PrinterState::Printing { .. } | PrinterState::Heating { job: Some(_) })
}

/// States in which no print is running, so a cancel has nothing to do.
pub(crate) fn nothing_to_cancel(state: &PrinterState) -> bool {
    matches!(
        state,
        PrinterState::Idle
            | PrinterState::Finished { .. }
            | PrinterState::Cancelled { .. }
            | PrinterState::Heating { job: None }
    )
}

/// Shared preconditions: commands need a connected, non-failed printer.
pub(crate) fn require_link(state: &PrinterState, command: &'static str) -> Result<(), PrinterError> {
    match state {
        PrinterState::Disconnected => Err(PrinterError::NotConnected),
        PrinterState::Error { .. } => Err(PrinterError::InvalidState { command, state: state.name() }),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(hotend: Option<(f32, f32)>, bed: Option<(f32, f32)>) -> Temperatures {
        let h = |x: Option<(f32, f32)>| x.map(|(actual, target)| Heater { actual, target });
        Temperatures { hotend: h(hotend), bed: h(bed) }
    }

    #[test]
    fn heating_means_well_below_a_set_target() {
        assert!(heating(&t(Some((150.0, 210.0)), None)));
        assert!(heating(&t(Some((210.0, 210.0)), Some((40.0, 60.0)))));
        assert!(!heating(&t(Some((207.0, 210.0)), Some((58.0, 60.0)))));
        assert!(!heating(&t(Some((25.0, 0.0)), Some((25.0, 0.0)))));
        assert!(!heating(&Temperatures::default()));
    }

    #[test]
    fn targets_match_only_what_was_asked() {
        let temps = t(Some((20.0, 200.0)), Some((20.0, 0.0)));
        assert!(targets_match(&temps, Some(200.2), None));
        assert!(targets_match(&temps, None, Some(0.0)));
        assert!(!targets_match(&temps, Some(210.0), None));
        assert!(!targets_match(&Temperatures::default(), Some(0.0), None));
    }

    #[test]
    fn target_checks_name_the_heater_and_value() {
        assert!(check_targets(Some(0.0), Some(60.0)).is_ok());
        let e = check_targets(Some(500.0), None).unwrap_err().to_string();
        assert_eq!(e, "set_temperatures rejected: hotend target 500 °C is outside 0..=350");
        assert!(check_targets(None, Some(f32::NAN)).is_err());
    }
}
