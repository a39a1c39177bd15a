//! One open connection to the firmware: reading classified lines, writing
//! lines, and the connect handshake (boot noise, `M110`, `M115`).
//!
//! `Conn::recv` is cancel-safe (bytes are buffered in the `LineReader`), so the
//! link task can `select!` on it beside its timers and requests.

use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::time::{Instant, timeout, timeout_at};
use tracing::{debug, trace, warn};

use super::counters::Counters;
use super::protocol::{self, FirmwareInfo, LineReader, Response};
use super::quirks::{Capabilities, Quirks};
use super::transport::Port;

/// Why a connection failed or ended.
#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    #[error("cannot open {target}: {source}")]
    Open { target: String, source: std::io::Error },
    #[error("{target}: read failed: {source}")]
    Read { target: String, source: std::io::Error },
    #[error("{target}: port closed")]
    Closed { target: String },
    #[error("{target}: write failed: {source}")]
    Write { target: String, source: std::io::Error },
    #[error("{target}: write did not complete within {ms} ms")]
    WriteTimeout { target: String, ms: u64 },
    #[error("{target}: no answer to M110/M115 after {attempts} attempts")]
    Handshake { target: String, attempts: u32 },
    #[error("{target}: firmware halted: {message}")]
    Halted { target: String, message: String },
}

/// What the handshake learned.
#[derive(Debug, Clone)]
pub struct Handshake {
    pub quirks: Quirks,
    pub firmware: Option<FirmwareInfo>,
    /// The line number the firmware counter is at (host mode), or `None` (monitor mode, unnumbered).
    pub last_line: Option<u32>,
    /// The firmware printed its boot banner (`start`) during the handshake.
    pub saw_boot: bool,
}

/// Timing of the handshake.
#[derive(Debug, Clone, Copy)]
pub struct HandshakeTiming {
    /// Quiet time that ends boot noise before we speak.
    pub settle_quiet: Duration,
    /// Longest we wait for boot noise to end.
    pub settle_max: Duration,
    /// Wait for the answers to the first attempt; later attempts wait longer.
    pub answer: Duration,
    pub attempts: u32,
}

impl Default for HandshakeTiming {
    fn default() -> Self {
        HandshakeTiming {
            settle_quiet: Duration::from_millis(300),
            settle_max: Duration::from_millis(2500),
            answer: Duration::from_millis(2000),
            attempts: 5,
        }
    }
}

pub struct Conn {
    port: Port,
    reader: LineReader,
    target: Arc<str>,
    counters: Arc<Counters>,
    write_timeout: Duration,
    /// When the last byte arrived.
    pub last_rx: Instant,
}

impl Conn {
    pub fn new(port: Port, target: Arc<str>, counters: Arc<Counters>) -> Self {
        Conn {
            port,
            reader: LineReader::new(),
            target,
            counters,
            write_timeout: Duration::from_secs(5),
            last_rx: Instant::now(),
        }
    }

    pub fn target(&self) -> &str {
        &self.target
    }

    /// The next line, classified. Cancel-safe.
    pub async fn recv(&mut self) -> Result<Response, LinkError> {
        loop {
            if let Some(line) = self.reader.next_line() {
                Counters::inc(&self.counters.lines_in);
                let response = if line.truncated {
                    Response::Garbage { len: line.bytes.len() }
                } else {
                    protocol::parse(&line.bytes)
                };
                if let Response::Garbage { len } = response {
                    Counters::inc(&self.counters.garbage);
                    debug!(printer = %self.target, len, bytes = %hex_preview(&line.bytes), "garbage from printer");
                } else {
                    trace!(printer = %self.target, line = %String::from_utf8_lossy(&line.bytes), "<<");
                }
                return Ok(response);
            }
            let n = self
                .port
                .read_buf(self.reader.buffer())
                .await
                .map_err(|e| LinkError::Read {
                    target: self.target.to_string(),
                    source: e,
                })?;
            if n == 0 {
                return Err(LinkError::Closed {
                    target: self.target.to_string(),
                });
            }
            self.last_rx = Instant::now();
        }
    }

    /// Writes one line (a newline is added).
    pub async fn send(&mut self, line: &str) -> Result<(), LinkError> {
        trace!(printer = %self.target, line, ">>");
        let mut bytes = Vec::with_capacity(line.len() + 1);
        bytes.extend_from_slice(line.as_bytes());
        bytes.push(b'\n');
        let write = async {
            self.port.write_all(&bytes).await?;
            self.port.flush().await
        };
        match timeout(self.write_timeout, write).await {
            Ok(Ok(())) => {
                Counters::inc(&self.counters.lines_out);
                Ok(())
            }
            Ok(Err(e)) => Err(LinkError::Write {
                target: self.target.to_string(),
                source: e,
            }),
            Err(_) => Err(LinkError::WriteTimeout {
                target: self.target.to_string(),
                ms: self.write_timeout.as_millis() as u64,
            }),
        }
    }

    /// Reads until the line has been quiet for `quiet` (or `max` passed); returns
    /// whether the firmware announced a boot (`start`).
    async fn settle(&mut self, quiet: Duration, max: Duration) -> Result<bool, LinkError> {
        let end = Instant::now() + max;
        let mut booted = false;
        loop {
            let until = (Instant::now() + quiet).min(end);
            match timeout_at(until, self.recv()).await {
                Ok(Ok(Response::Start)) => booted = true,
                Ok(Ok(_)) => {}
                Ok(Err(e)) => return Err(e),
                Err(_) => return Ok(booted),
            }
            if Instant::now() >= end {
                return Ok(booted);
            }
        }
    }

    /// Connect handshake: let boot noise pass, reset the line counter (host mode:
    /// `N0 M110 N0`), ask `M115`, and collect the identity, capabilities and volume.
    /// A `start` or `Resend` in the middle means the firmware was not ready: try again.
    pub async fn handshake(&mut self, numbered: bool, timing: HandshakeTiming) -> Result<Handshake, LinkError> {
        let mut saw_boot = false;
        for attempt in 1..=timing.attempts {
            let settle_max = if attempt == 1 {
                timing.settle_max
            } else {
                timing.settle_quiet * 2
            };
            saw_boot |= self.settle(timing.settle_quiet, settle_max).await?;
            let expected_oks = if numbered {
                self.send(&protocol::line_number_reset(0)).await?;
                self.send(&protocol::numbered(1, "M115")).await?;
                2
            } else {
                self.send("M115").await?;
                1
            };
            let deadline = Instant::now() + timing.answer * attempt;
            let mut oks = 0;
            let mut info: Option<FirmwareInfo> = None;
            let mut flags: Vec<(String, bool)> = Vec::new();
            let mut area = None;
            let mut retry = false;
            while oks < expected_oks {
                let r = match timeout_at(deadline, self.recv()).await {
                    Ok(r) => r?,
                    Err(_) => {
                        retry = true;
                        break;
                    }
                };
                match r {
                    Response::Ok(ok) => {
                        oks += 1;
                        if ok.firmware.is_some() {
                            info = ok.firmware;
                        }
                    }
                    Response::Firmware(i) => info = Some(i),
                    Response::Capability { name, enabled } => flags.push((name, enabled)),
                    Response::Area(a) => area = Some(a),
                    Response::Start => {
                        saw_boot = true;
                        retry = true;
                        break;
                    }
                    Response::Resend { line } => {
                        debug!(printer = %self.target, line, attempt, "resend during handshake, starting over");
                        retry = true;
                        break;
                    }
                    Response::Error(e) if e.kind == protocol::ErrorKind::Halted => {
                        return Err(LinkError::Halted {
                            target: self.target.to_string(),
                            message: e.message,
                        });
                    }
                    _ => {}
                }
            }
            if retry {
                debug!(printer = %self.target, attempt, "handshake attempt without complete answer");
                continue;
            }
            let caps = Capabilities::from_flags(flags.iter().map(|(k, v)| (k.as_str(), *v)));
            let quirks = Quirks::detect(info.as_ref(), caps, area);
            if info.is_none() {
                warn!(printer = %self.target, "firmware did not identify itself (M115): using plain Marlin behaviour");
            }
            return Ok(Handshake {
                quirks,
                firmware: info,
                last_line: numbered.then_some(1),
                saw_boot,
            });
        }
        Counters::inc(&self.counters.handshake_failures);
        Err(LinkError::Handshake {
            target: self.target.to_string(),
            attempts: timing.attempts,
        })
    }
}

fn hex_preview(bytes: &[u8]) -> String {
    bytes
        .iter()
        .take(24)
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(" ")
}
