//! When the light should be on: a pure state machine (no I/O, no clock), fed
//! the printer's state and the camera's "too dark" finding with the time,
//! answering what to send now. It only ever switches off a light it switched
//! on, so a light the owner turned on by hand stays on between prints.

use crate::printer::light::{LightConfig, LightWhen};

/// What the policy sees at one step.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LightInput {
    /// A print runs (heating, printing, pausing, paused or resuming).
    pub active: bool,
    /// The printer link is up (nothing is sent otherwise).
    pub connected: bool,
    /// The camera's picture is too dark to judge (the decider's `camera_dark` finding).
    pub dark: bool,
    pub now_ms: i64,
}

/// A switch to send now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Switch {
    On,
    Off,
}

#[derive(Debug, Clone)]
pub struct LightPolicy {
    when: LightWhen,
    off_after_ms: i64,
    retry_ms: i64,
    /// The light is on because we switched it on (confirmed).
    on: bool,
    /// The last switch sent that failed, and when: retried after `retry_ms`.
    failed_at: Option<(Switch, i64)>,
    /// When the print ended while our light was on.
    ended_at: Option<i64>,
    /// `when = "dark"`: the picture was too dark during this print.
    dark_seen: bool,
}

impl LightPolicy {
    pub fn new(cfg: &LightConfig) -> LightPolicy {
        LightPolicy {
            when: cfg.when,
            off_after_ms: cfg.off_after_s as i64 * 1000,
            retry_ms: cfg.retry_s as i64 * 1000,
            on: false,
            failed_at: None,
            ended_at: None,
            dark_seen: false,
        }
    }

    /// Whether the light is on by our doing.
    pub fn is_on(&self) -> bool {
        self.on
    }

    /// What to send now, if anything. Call [`LightPolicy::sent`] with the outcome.
    pub fn step(&mut self, i: &LightInput) -> Option<Switch> {
        let want = if i.active {
            self.ended_at = None;
            self.dark_seen |= i.dark;
            match self.when {
                LightWhen::Printing => true,
                LightWhen::Dark => self.dark_seen,
            }
        } else {
            self.dark_seen = false;
            if !self.on {
                return None;
            }
            let ended = *self.ended_at.get_or_insert(i.now_ms);
            i.now_ms - ended < self.off_after_ms
        };
        if want == self.on || !i.connected {
            return None;
        }
        let switch = if want { Switch::On } else { Switch::Off };
        match self.failed_at {
            Some((s, at)) if s == switch && i.now_ms - at < self.retry_ms => None,
            _ => Some(switch),
        }
    }

    /// The outcome of a switch [`LightPolicy::step`] asked for.
    pub fn sent(&mut self, switch: Switch, ok: bool, now_ms: i64) {
        if ok {
            self.on = switch == Switch::On;
            self.failed_at = None;
            if !self.on {
                self.ended_at = None;
            }
        } else {
            self.failed_at = Some((switch, now_ms));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::printer::light::LightMethod;

    /// Steps of (time s, active, connected, dark, send ok) → what was sent, as a string per step.
    fn run(when: LightWhen, steps: &[(i64, bool, bool, bool, bool)]) -> String {
        let cfg = LightConfig { method: LightMethod::M355, when, off_after_s: 60, retry_s: 10, ..Default::default() };
        let mut p = LightPolicy::new(&cfg);
        let mut out = Vec::new();
        for &(t, active, connected, dark, ok) in steps {
            let i = LightInput { active, connected, dark, now_ms: t * 1000 };
            match p.step(&i) {
                Some(s) => {
                    p.sent(s, ok, i.now_ms);
                    out.push(format!("{t}:{s:?}{}", if ok { "" } else { "!" }));
                }
                None => {}
            }
        }
        out.join(" ")
    }

    #[test]
    fn printing_lights_the_whole_print_and_off_after_the_delay() {
        let s = run(
            LightWhen::Printing,
            &[
                (0, false, true, false, true),   // idle at start: a light we did not switch stays as it is
                (5, true, true, false, true),    // print starts: on
                (6, true, true, false, true),    // nothing more
                (100, false, true, false, true), // print ended: wait
                (159, false, true, false, true), // still within 60 s
                (160, false, true, false, true), // off
                (200, false, true, false, true), // nothing
            ],
        );
        assert_eq!(s, "5:On 160:Off");
    }

    #[test]
    fn a_new_print_within_the_delay_keeps_the_light_on() {
        let s = run(
            LightWhen::Printing,
            &[
                (0, true, true, false, true),
                (10, false, true, false, true),
                (30, true, true, false, true),
                (100, true, true, false, true),
                (200, false, true, false, true),
                (260, false, true, false, true),
            ],
        );
        assert_eq!(s, "0:On 260:Off");
    }

    #[test]
    fn dark_switches_on_only_once_the_picture_is_too_dark() {
        let s = run(
            LightWhen::Dark,
            &[
                (0, true, true, false, true),
                (10, true, true, true, true),   // too dark: on
                (20, true, true, false, true),  // the light cleared the finding: stays on
                (30, false, true, false, true), // ended
                (90, false, true, false, true), // off
                (100, true, true, false, true), // next print, bright: stays off
            ],
        );
        assert_eq!(s, "10:On 90:Off");
    }

    #[test]
    fn refused_switches_are_retried_after_the_retry_delay_and_never_while_disconnected() {
        let s = run(
            LightWhen::Printing,
            &[
                (0, true, false, false, true), // link down: nothing
                (1, true, true, false, false), // refused
                (5, true, true, false, true),  // too soon
                (11, true, true, false, true), // retried, ok
                (12, true, true, false, true),
            ],
        );
        assert_eq!(s, "1:On! 11:On");
    }
}
