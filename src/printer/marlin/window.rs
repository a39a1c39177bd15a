//! The numbered send window: which line goes out next, what an `ok` or a
//! `Resend:` means, and the history kept so any requested line can be sent again.
//!
//! Pure bookkeeping, no I/O. The rules, for Marlin-style firmware that accepts
//! line N only right after N-1:
//! - every transmission of a numbered line is answered by exactly one `ok`
//!   (the firmware also sends `ok` after `Resend:`, for the rejected line);
//! - `Resend: M` means the firmware's last accepted line is M-1: everything up to
//!   M-1 is accepted (even lines whose `ok` got lost) and sending resumes at M;
//! - lines are never transmitted out of order, so a duplicate transmission is
//!   rejected by the firmware and never runs twice.

use std::collections::VecDeque;
use std::ops::RangeInclusive;

use super::protocol::numbered;

#[derive(Debug)]
struct Entry<M> {
    text: String,
    meta: M,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tx {
    Line(u32),
    /// An unnumbered command (`M108`, `M110` resync) whose `ok` we must not count as a line's.
    Raw,
}

/// What a `Resend:` request asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResendOutcome {
    /// Sending goes back to `from`; `count` lines will be transmitted again.
    Rewound { from: u32, count: u32 },
    /// The firmware asks for the line we were about to send anyway (it had the previous one).
    NextLine { line: u32 },
    /// The firmware asks for a line we never sent: its counter and ours disagree.
    /// The window restarts after `to`; the caller must send `M110 N<to>` (unnumbered) first.
    Resync { requested: u32, to: u32 },
    /// No transmission error came before: taken for line noise, nothing changed.
    Ignored { requested: u32 },
    /// The line is older than the history we keep: it cannot be sent again.
    Forgotten { requested: u32, oldest: u32 },
}

/// What an `ok` meant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OkOutcome {
    /// These lines are now known to be accepted (in order).
    Accepted(RangeInclusive<u32>),
    /// The `ok` answered a rejected transmission or an unnumbered command.
    Other,
    /// Nothing was waiting for an `ok` (a late answer after a timeout, or another host's).
    Spurious,
}

/// The send window over numbered lines carrying metadata `M`.
#[derive(Debug)]
pub struct Window<M> {
    entries: VecDeque<Entry<M>>,
    /// Line number of `entries[0]`.
    first_n: u32,
    /// Number the next pushed line gets.
    next_n: u32,
    /// Next line number to transmit.
    next_tx: u32,
    /// Every line up to and including this one is accepted by the firmware.
    acked: u32,
    tx: VecDeque<Tx>,
    /// `ok`s still to come that answer rejected transmissions.
    rejected: usize,
    history: usize,
    max_in_flight: usize,
    ok_after_resend: bool,
}

impl<M> Window<M> {
    /// `history`: accepted lines kept for resends; `max_in_flight`: transmissions
    /// awaiting `ok` at once (1 = classic ping-pong).
    pub fn new(history: usize, max_in_flight: usize, ok_after_resend: bool) -> Self {
        Window {
            entries: VecDeque::new(),
            first_n: 1,
            next_n: 1,
            next_tx: 1,
            acked: 0,
            tx: VecDeque::new(),
            rejected: 0,
            history: history.max(1),
            max_in_flight: max_in_flight.max(1),
            ok_after_resend,
        }
    }

    /// Starts over after the firmware's counter was set to `last` (`M110 N<last>`).
    pub fn restart(&mut self, last: u32) {
        self.entries.clear();
        self.first_n = last + 1;
        self.next_n = last + 1;
        self.next_tx = last + 1;
        self.acked = last;
        self.tx.clear();
        self.rejected = 0;
    }

    pub fn set_ok_after_resend(&mut self, yes: bool) {
        self.ok_after_resend = yes;
    }

    /// Queues a command; returns its line number.
    pub fn push(&mut self, text: String, meta: M) -> u32 {
        let n = self.next_n;
        self.entries.push_back(Entry { text, meta });
        self.next_n += 1;
        n
    }

    /// Lines queued but never transmitted.
    pub fn queued(&self) -> usize {
        (self.next_n - self.next_tx) as usize
    }

    /// Transmissions still waiting for their `ok`.
    pub fn outstanding(&self) -> usize {
        self.tx.len()
    }

    /// Nothing queued, nothing waiting.
    pub fn is_idle(&self) -> bool {
        self.queued() == 0 && self.tx.is_empty() && self.acked + 1 >= self.next_tx
    }

    pub fn acked(&self) -> u32 {
        self.acked
    }

    /// Line number the next transmission will carry.
    pub fn next_tx(&self) -> u32 {
        self.next_tx
    }

    pub fn can_transmit(&self) -> bool {
        self.tx.len() < self.max_in_flight && self.next_tx < self.next_n
    }

    /// The next framed line to write, recorded as in flight.
    pub fn transmit(&mut self) -> Option<(u32, String)> {
        if !self.can_transmit() {
            return None;
        }
        let n = self.next_tx;
        let entry = self.entry(n)?;
        let framed = numbered(n, &entry.text);
        self.tx.push_back(Tx::Line(n));
        self.next_tx += 1;
        Some((n, framed))
    }

    /// Records an unnumbered command written outside the window (its `ok` is not a line's).
    pub fn transmit_raw(&mut self) {
        self.tx.push_back(Tx::Raw);
    }

    pub fn get(&self, n: u32) -> Option<(&str, &M)> {
        self.entry(n).map(|e| (e.text.as_str(), &e.meta))
    }

    fn entry(&self, n: u32) -> Option<&Entry<M>> {
        let idx = n.checked_sub(self.first_n)? as usize;
        self.entries.get(idx)
    }

    /// The text of the oldest transmitted line not yet accepted.
    pub fn oldest_unacked(&self) -> Option<(u32, &str)> {
        let n = self.acked + 1;
        (n < self.next_tx)
            .then(|| self.entry(n).map(|e| (n, e.text.as_str())))
            .flatten()
    }

    pub fn on_ok(&mut self) -> OkOutcome {
        let front = self.tx.pop_front();
        if self.rejected > 0 {
            self.rejected -= 1;
            return OkOutcome::Other;
        }
        match front {
            None => OkOutcome::Spurious,
            Some(Tx::Raw) => OkOutcome::Other,
            Some(Tx::Line(n)) => match self.accept_through(n) {
                Some(range) => OkOutcome::Accepted(range),
                None => OkOutcome::Other,
            },
        }
    }

    /// A `Resend: m` request. `after_error` says whether the firmware reported a
    /// transmission error just before (Marlin always does); without one, only a
    /// request for the first unaccepted line is obeyed and anything else is taken
    /// for line noise, because obeying a garbled number could skip or repeat lines.
    pub fn on_resend(&mut self, m: u32, after_error: bool) -> (ResendOutcome, Option<RangeInclusive<u32>>) {
        let plain_retry = m == self.acked + 1 && m <= self.next_tx;
        if !after_error && !plain_retry {
            return (ResendOutcome::Ignored { requested: m }, None);
        }
        // The `ok` that follows answers the rejected transmission.
        if self.ok_after_resend {
            self.rejected += 1;
        } else {
            self.tx.pop_front();
        }
        if m > self.next_tx {
            self.next_tx = self.acked + 1;
            return (
                ResendOutcome::Resync {
                    requested: m,
                    to: self.acked,
                },
                None,
            );
        }
        if m < self.first_n {
            return (
                ResendOutcome::Forgotten {
                    requested: m,
                    oldest: self.first_n,
                },
                None,
            );
        }
        let newly = self.accept_through(m - 1);
        if m <= self.acked {
            // The firmware's counter says it never took these: trust it over our `ok` count.
            self.acked = m - 1;
        }
        let old = self.next_tx;
        self.next_tx = m;
        let outcome = if m == old {
            ResendOutcome::NextLine { line: m }
        } else {
            ResendOutcome::Rewound {
                from: m,
                count: old - m,
            }
        };
        (outcome, newly)
    }

    /// The outstanding transmissions will not be answered (timeout, `wait`):
    /// forget them and send again from the first unaccepted line. Returns how
    /// many lines go out again.
    pub fn on_lost(&mut self) -> u32 {
        self.tx.clear();
        self.rejected = 0;
        let again = self.next_tx.saturating_sub(self.acked + 1);
        self.next_tx = self.acked + 1;
        again
    }

    /// Drops lines queued but never transmitted (cancel); returns their metadata.
    pub fn discard_queued(&mut self) -> Vec<M> {
        let keep = (self.next_tx - self.first_n) as usize;
        let dropped: Vec<M> = self
            .entries
            .drain(keep.min(self.entries.len())..)
            .map(|e| e.meta)
            .collect();
        self.next_n = self.next_tx;
        dropped
    }

    fn accept_through(&mut self, n: u32) -> Option<RangeInclusive<u32>> {
        if n <= self.acked {
            return None;
        }
        let n = n.min(self.next_tx.saturating_sub(1));
        if n <= self.acked {
            return None;
        }
        let range = self.acked + 1..=n;
        self.acked = n;
        while self.first_n + (self.history as u32) <= self.acked && !self.entries.is_empty() {
            self.entries.pop_front();
            self.first_n += 1;
        }
        Some(range)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn window(lines: &[&str]) -> Window<usize> {
        let mut w = Window::new(8, 1, true);
        w.restart(0);
        for (i, l) in lines.iter().enumerate() {
            w.push(l.to_string(), i);
        }
        w
    }

    #[test]
    fn ping_pong() {
        let mut w = window(&["G28", "G1 X1"]);
        assert_eq!(w.transmit(), Some((1, "N1 G28*18".to_string())));
        assert_eq!(w.transmit(), None, "one line in flight");
        assert_eq!(w.on_ok(), OkOutcome::Accepted(1..=1));
        assert_eq!(w.transmit().map(|t| t.0), Some(2));
        assert_eq!(w.on_ok(), OkOutcome::Accepted(2..=2));
        assert!(w.is_idle());
        assert_eq!(w.on_ok(), OkOutcome::Spurious);
    }

    #[test]
    fn checksum_error_resends_the_same_line_once() {
        let mut w = window(&["G1 X1", "G1 X2"]);
        w.transmit();
        // Error:checksum mismatch / Resend: 1 / ok
        assert_eq!(
            w.on_resend(1, true),
            (ResendOutcome::Rewound { from: 1, count: 1 }, None)
        );
        assert_eq!(w.on_ok(), OkOutcome::Other);
        assert_eq!(w.transmit().map(|t| t.0), Some(1));
        assert_eq!(w.on_ok(), OkOutcome::Accepted(1..=1));
        assert_eq!(w.transmit().map(|t| t.0), Some(2));
    }

    #[test]
    fn lost_ok_then_duplicate_is_rejected_not_run_twice() {
        let mut w = window(&["G1 X1", "G1 X2"]);
        w.transmit();
        assert_eq!(w.on_lost(), 1);
        assert_eq!(w.transmit().map(|t| t.0), Some(1), "sent again");
        // The original ok was only late: it accepts line 1.
        assert_eq!(w.on_ok(), OkOutcome::Accepted(1..=1));
        // The duplicate is refused: "Resend: 2" + ok, and nothing is rewound.
        assert_eq!(w.on_resend(2, true), (ResendOutcome::NextLine { line: 2 }, None));
        assert_eq!(w.on_ok(), OkOutcome::Other);
        assert_eq!(w.transmit().map(|t| t.0), Some(2));
    }

    #[test]
    fn resend_of_next_line_accepts_a_line_whose_ok_was_lost() {
        // VirtualPrinter's `resend_with_timeout`: it takes the line, never says ok.
        let mut w = window(&["G1 X1", "G1 X2"]);
        w.transmit();
        w.on_lost();
        w.transmit();
        assert_eq!(w.on_resend(2, true), (ResendOutcome::NextLine { line: 2 }, Some(1..=1)));
        assert_eq!(w.on_ok(), OkOutcome::Other);
        assert_eq!(w.transmit().map(|t| t.0), Some(2));
    }

    #[test]
    fn window_of_three_rewinds_and_counts_every_rejection() {
        let mut w: Window<usize> = Window::new(8, 3, true);
        w.restart(0);
        for i in 0..5 {
            w.push(format!("G1 X{i}"), i);
        }
        let sent: Vec<u32> = std::iter::from_fn(|| w.transmit().map(|t| t.0)).collect();
        assert_eq!(sent, vec![1, 2, 3]);
        assert_eq!(w.on_ok(), OkOutcome::Accepted(1..=1));
        // Line 2 corrupted; line 3 then fails the sequence check too.
        assert_eq!(w.on_resend(2, true).0, ResendOutcome::Rewound { from: 2, count: 2 });
        assert_eq!(w.on_ok(), OkOutcome::Other);
        assert_eq!(w.on_resend(2, true).0, ResendOutcome::NextLine { line: 2 });
        assert_eq!(w.on_ok(), OkOutcome::Other);
        let again: Vec<u32> = std::iter::from_fn(|| w.transmit().map(|t| t.0)).collect();
        assert_eq!(again, vec![2, 3, 4]);
        assert_eq!(w.on_ok(), OkOutcome::Accepted(2..=2));
        assert_eq!(w.on_ok(), OkOutcome::Accepted(3..=3));
        assert_eq!(w.on_ok(), OkOutcome::Accepted(4..=4));
    }

    #[test]
    fn resends_without_a_preceding_error_are_noise_unless_a_plain_retry() {
        let mut w = window(&["A", "B", "C"]);
        w.transmit();
        w.on_ok();
        w.transmit();
        // A garbled number: neither skip ahead nor go back.
        for m in [1, 3, 99] {
            assert_eq!(w.on_resend(m, false).0, ResendOutcome::Ignored { requested: m });
        }
        assert_eq!((w.acked(), w.next_tx()), (1, 3));
        // Asking for the line in flight is always safe to obey.
        assert_eq!(w.on_resend(2, false).0, ResendOutcome::Rewound { from: 2, count: 1 });
    }

    #[test]
    fn resend_for_a_line_never_sent_resyncs_the_counter() {
        let mut w = window(&["A", "B"]);
        w.transmit();
        w.on_ok();
        w.transmit();
        assert_eq!(w.on_resend(7, true).0, ResendOutcome::Resync { requested: 7, to: 1 });
        w.transmit_raw(); // the caller's M110 N1
        assert_eq!(w.transmit(), None, "one in flight: wait for the answers first");
        assert_eq!(w.on_ok(), OkOutcome::Other, "answer to the rejected line 2");
        assert_eq!(w.on_ok(), OkOutcome::Other, "answer to M110");
        assert_eq!(
            w.transmit().map(|t| t.0),
            Some(2),
            "line 2 goes out again after the resync"
        );
        assert_eq!(w.on_ok(), OkOutcome::Accepted(2..=2));
    }

    #[test]
    fn forgotten_lines_cannot_be_sent_again() {
        let mut small: Window<usize> = Window::new(2, 1, true);
        small.restart(0);
        for i in 0..6 {
            small.push(format!("G1 X{i}"), i);
            small.transmit();
            small.on_ok();
        }
        assert_eq!(
            small.on_resend(1, true).0,
            ResendOutcome::Forgotten {
                requested: 1,
                oldest: 5
            }
        );
        assert!(small.get(5).is_some() && small.get(4).is_none());
    }

    #[test]
    fn resend_below_the_acknowledged_line_trusts_the_firmware() {
        let mut w = window(&["A", "B", "C"]);
        for _ in 0..2 {
            w.transmit();
            w.on_ok();
        }
        assert_eq!(w.acked(), 2);
        assert_eq!(w.on_resend(2, true).0, ResendOutcome::Rewound { from: 2, count: 1 });
        assert_eq!(w.acked(), 1);
    }

    #[test]
    fn without_ok_after_resend_the_resend_answers_the_line() {
        let mut w: Window<usize> = Window::new(8, 1, false);
        w.restart(0);
        w.push("G1 X1".into(), 0);
        w.transmit();
        w.on_resend(1, true);
        assert_eq!(w.outstanding(), 0);
        assert_eq!(w.transmit().map(|t| t.0), Some(1));
    }

    #[test]
    fn raw_commands_and_discard() {
        let mut w = window(&["A", "B", "C"]);
        w.transmit();
        w.transmit_raw();
        assert_eq!(w.on_ok(), OkOutcome::Accepted(1..=1));
        assert_eq!(w.on_ok(), OkOutcome::Other);
        assert_eq!(w.discard_queued(), vec![1, 2]);
        assert!(w.is_idle());
        assert_eq!(
            w.push("D".into(), 9),
            2,
            "numbering continues after the discarded lines"
        );
        assert_eq!(w.oldest_unacked(), None);
        w.transmit();
        assert_eq!(w.oldest_unacked(), Some((2, "D")));
    }
}
