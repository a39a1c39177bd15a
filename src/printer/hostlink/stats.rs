//! Counters every host link keeps: connections, drops, polls, garbled
//! messages, file analyses. Cheap atomics, read as a `LinkStats` snapshot.

use std::sync::atomic::{AtomicU64, Ordering};

/// What a host link has been through since it was created.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LinkStats {
    /// Push socket / websocket sessions established.
    pub socket_connects: u64,
    /// Sessions that ended without being asked to (drops, host restarts, silence).
    pub socket_drops: u64,
    /// Failed attempts to establish a session.
    pub connect_failures: u64,
    /// REST status polls made while the push socket was down.
    pub polls: u64,
    pub poll_failures: u64,
    /// Messages that could not be parsed (skipped).
    pub garbled_messages: u64,
    /// G-code files downloaded and analysed for layers.
    pub files_analysed: u64,
    pub analysis_failures: u64,
    /// Times the printer behind the host went away (Klippy disconnect, serial closed).
    pub printer_disconnects: u64,
}

#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub socket_connects: AtomicU64,
    pub socket_drops: AtomicU64,
    pub connect_failures: AtomicU64,
    pub polls: AtomicU64,
    pub poll_failures: AtomicU64,
    pub garbled_messages: AtomicU64,
    pub files_analysed: AtomicU64,
    pub analysis_failures: AtomicU64,
    pub printer_disconnects: AtomicU64,
}

impl Counters {
    pub(crate) fn bump(c: &AtomicU64) {
        c.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn snapshot(&self) -> LinkStats {
        let g = |c: &AtomicU64| c.load(Ordering::Relaxed);
        LinkStats {
            socket_connects: g(&self.socket_connects),
            socket_drops: g(&self.socket_drops),
            connect_failures: g(&self.connect_failures),
            polls: g(&self.polls),
            poll_failures: g(&self.poll_failures),
            garbled_messages: g(&self.garbled_messages),
            files_analysed: g(&self.files_analysed),
            analysis_failures: g(&self.analysis_failures),
            printer_disconnects: g(&self.printer_disconnects),
        }
    }
}
