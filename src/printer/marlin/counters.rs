//! Counters of what the serial link survived: garbage, resends, timeouts,
//! reconnects. Cheap atomics shared between the link task and its handle.

use std::sync::atomic::{AtomicU64, Ordering};

use serde::Serialize;

macro_rules! counters {
    ($($(#[$doc:meta])* $name:ident),* $(,)?) => {
        /// Live counters (relaxed atomics; exact enough for metrics and tests).
        #[derive(Debug, Default)]
        pub struct Counters { $($(#[$doc])* pub $name: AtomicU64,)* }

        /// A copy of the counters at one moment.
        #[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
        pub struct CounterSnapshot { $($(#[$doc])* pub $name: u64,)* }

        impl Counters {
            pub fn snapshot(&self) -> CounterSnapshot {
                CounterSnapshot { $($name: self.$name.load(Ordering::Relaxed),)* }
            }
        }
    };
}

counters! {
    /// Lines received from the printer.
    lines_in,
    /// Lines written to the printer.
    lines_out,
    /// Lines that were noise (undecodable, cut off).
    garbage,
    /// `Resend:` requests obeyed.
    resends,
    /// Lines transmitted more than once (after a resend request or a lost `ok`).
    retransmitted,
    /// `Resend:` for a line never sent, or forgotten.
    unexpected_resends,
    /// `ok`s nobody was waiting for.
    spurious_oks,
    /// Acknowledgement timeouts (a probe was sent).
    timeouts,
    /// Transmission errors reported by the firmware (checksum, line number).
    transmission_errors,
    /// Fatal firmware errors (halt, kill).
    fatal_errors,
    /// Connections established (the first one included).
    connects,
    /// Connections lost.
    disconnects,
    /// Handshakes that failed.
    handshake_failures,
    /// G-code file lines acknowledged by the printer (host mode).
    file_lines_acked,
}

impl Counters {
    pub fn inc(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }
}
