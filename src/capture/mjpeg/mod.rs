//! MJPEG over HTTP (`multipart/x-mixed-replace`), as served by mjpg-streamer
//! (`/?action=stream`), ustreamer (`/stream`), crowsnest and most IP cameras.
//!
//! Owns the connection (reqwest, streaming body), silence detection, reconnects
//! and turning parser events into frames and counters. The framing itself is
//! the pure [`parser`]. JPEGs are passed on as received, never decoded.

pub mod content_type;
pub mod parser;
mod syntax;

use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use reqwest::Url;
use reqwest::header::{ACCEPT, CONTENT_TYPE};

use self::content_type::ResponseKind;
use self::parser::{Event, MultipartParser};
use super::common::SourceCore;
use super::http;
use super::reconnect::Reconnector;
use super::{CameraConfig, CaptureError, FrameSource};
use crate::domain::{Frame, FrameImage, Timestamp};

type Body = Pin<Box<dyn Stream<Item = reqwest::Result<Bytes>> + Send>>;

/// A transient fault: logged, counted, followed by a reconnect.
#[derive(Debug, thiserror::Error)]
enum Fault {
    #[error("{0}")]
    Request(String),
    #[error("no response within {ms} ms from {url}")]
    NoResponse { ms: u64, url: String },
    #[error("HTTP {status} from {url}{hint}")]
    Status { status: u16, url: String, hint: &'static str },
    #[error("{url} answered with Content-Type {content_type:?}, not an MJPEG stream")]
    NotAStream { url: String, content_type: String },
    #[error("stream silent for {ms} ms")]
    Silent { ms: u64 },
    #[error("no frame in {ms} ms of data (not an MJPEG stream, or the camera stopped)")]
    NoParts { ms: u64 },
    #[error("server closed the stream")]
    Closed,
}

struct Conn {
    body: Body,
    parser: MultipartParser,
    /// When the last part (good or bad) was parsed: bytes that never make a part
    /// (an endless junk stream) count as silence too.
    last_part: tokio::time::Instant,
}

/// Where and how to connect (kept apart from the connection, which is not `Sync`).
struct Endpoint {
    name: Arc<str>,
    client: reqwest::Client,
    url: Url,
    shown_url: String,
    timeout: Duration,
    max_part: usize,
}

/// An MJPEG-over-HTTP camera. See the module docs.
pub struct MjpegSource {
    core: SourceCore,
    ep: Endpoint,
    conn: Option<Conn>,
    reconnect: Reconnector,
}

impl std::fmt::Debug for MjpegSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MjpegSource").field("name", &self.core.name()).field("url", &self.ep.shown_url).finish()
    }
}

impl MjpegSource {
    /// A source named `name` reading `url` (credentials in the URL become HTTP Basic
    /// auth). `timeout`: connect timeout and longest silence before reconnecting.
    pub fn new(
        name: &str,
        url: &str,
        timeout: Duration,
        reconnect_max: Duration,
        max_part: usize,
    ) -> Result<Self, CaptureError> {
        let fatal = |message: String| CaptureError::Fatal { source_name: name.to_string(), message };
        let url = http::parse_url(url).map_err(fatal)?;
        let client = http::camera_client(timeout).map_err(|e| fatal(format!("cannot set up HTTP: {e}")))?;
        let core = SourceCore::new(name);
        let reconnect = Reconnector::new(core.name_arc(), core.stats(), reconnect_max);
        let ep = Endpoint { name: core.name_arc(), shown_url: http::redact(&url), client, url, timeout, max_part };
        Ok(MjpegSource { core, ep, conn: None, reconnect })
    }

    pub fn from_config(cfg: &CameraConfig) -> Result<Self, CaptureError> {
        let mut s = MjpegSource::new(
            &cfg.name,
            &cfg.url,
            Duration::from_millis(cfg.timeout_ms),
            Duration::from_millis(cfg.reconnect_max_ms),
            cfg.max_frame_bytes,
        )?;
        s.core.set_max_pixels(cfg.max_pixels);
        Ok(s)
    }

    /// Frames with more pixels (from the JPEG header) are skipped and counted.
    pub fn with_max_pixels(mut self, max_pixels: u64) -> Self {
        self.core.set_max_pixels(max_pixels);
        self
    }
}

impl Endpoint {
    async fn connect(&self) -> Result<Result<Conn, Fault>, CaptureError> {
        let req =
            self.client.get(self.url.clone()).header(ACCEPT, "multipart/x-mixed-replace, image/jpeg;q=0.5, */*;q=0.1");
        let resp = match tokio::time::timeout(self.timeout, req.send()).await {
            Err(_) => {
                let ms = self.timeout.as_millis() as u64;
                return Ok(Err(Fault::NoResponse { ms, url: self.shown_url.clone() }));
            }
            Ok(Err(e)) => return Ok(Err(Fault::Request(http::describe(&e)))),
            Ok(Ok(r)) => r,
        };
        let status = resp.status();
        if !status.is_success() {
            let hint = match status.as_u16() {
                401 | 403 => " (check the user and password in camera.url)",
                404 => " (check the path in camera.url)",
                _ => "",
            };
            return Ok(Err(Fault::Status { status: status.as_u16(), url: self.shown_url.clone(), hint }));
        }
        let content_type = resp.headers().get(CONTENT_TYPE).and_then(|v| v.to_str().ok()).map(str::to_string);
        match content_type::classify(content_type.as_deref()) {
            ResponseKind::Multipart { boundary } => {
                tracing::debug!(
                    camera = &*self.name,
                    url = %self.shown_url,
                    boundary = boundary.as_deref().unwrap_or("(guessed)"),
                    "MJPEG stream connected"
                );
                let parser = MultipartParser::new(boundary.as_deref(), self.max_part);
                let last_part = tokio::time::Instant::now();
                Ok(Ok(Conn { body: Box::pin(resp.bytes_stream()), parser, last_part }))
            }
            ResponseKind::Image { content_type } => Err(CaptureError::Fatal {
                source_name: self.name.to_string(),
                message: format!(
                    "{} returns a single image ({content_type}), not a stream; use source = \"snapshot\"",
                    self.shown_url
                ),
            }),
            ResponseKind::Other { content_type } => {
                Ok(Err(Fault::NotAStream { url: self.shown_url.clone(), content_type }))
            }
        }
    }
}

impl MjpegSource {
    /// Turns one parser event into a frame or a counter.
    fn on_event(core: &mut SourceCore, shown_url: &str, ev: Event) -> Option<Frame> {
        match ev {
            Event::Frame(part) => {
                let now = Timestamp::now();
                if part.resynced {
                    core.stats().record_resync();
                    tracing::debug!(camera = core.name(), "part re-framed on its boundary: wrong Content-Length");
                }
                let at = part.x_timestamp.and_then(|t| plausible_wall_clock(t, now)).unwrap_or(now);
                core.checked_frame(FrameImage::Jpeg(part.jpeg), at, &shown_url)
            }
            Event::Skipped(reason) => {
                core.bad_frame(&reason, &shown_url);
                None
            }
            Event::Junk(n) => {
                core.stats().record_junk(n as u64);
                tracing::debug!(camera = core.name(), bytes = n, "garbage between parts skipped");
                None
            }
        }
    }

    fn lose_connection(&mut self, fault: Fault) {
        if let Some(mut conn) = self.conn.take() {
            for ev in conn.parser.finish() {
                let _ = Self::on_event(&mut self.core, &self.ep.shown_url, ev);
            }
        }
        self.reconnect.failed(&fault);
    }
}

/// `X-Timestamp` is used as the capture time only when it is wall-clock time close
/// to the arrival time (mjpg-streamer and ustreamer often send a monotonic clock).
fn plausible_wall_clock(secs: f64, now: Timestamp) -> Option<Timestamp> {
    let ms = (secs * 1000.0).round();
    if !ms.is_finite() || ms.abs() > i64::MAX as f64 {
        return None;
    }
    let t = Timestamp(ms as i64);
    let age = now.millis() - t.millis();
    (-1_000..=10_000).contains(&age).then_some(t)
}

#[async_trait]
impl FrameSource for MjpegSource {
    fn core(&self) -> &SourceCore {
        &self.core
    }

    async fn next_frame(&mut self) -> Result<Frame, CaptureError> {
        loop {
            let Some(conn) = self.conn.as_mut() else {
                if self.reconnect.is_down() {
                    self.reconnect.wait().await;
                }
                match self.ep.connect().await? {
                    Ok(c) => self.conn = Some(c),
                    Err(fault) => self.reconnect.failed(&fault),
                }
                continue;
            };
            if let Some(ev) = conn.parser.poll() {
                if !matches!(ev, Event::Junk(_)) {
                    conn.last_part = tokio::time::Instant::now();
                }
                if let Some(frame) = Self::on_event(&mut self.core, &self.ep.shown_url, ev) {
                    self.reconnect.succeeded();
                    return Ok(frame);
                }
                continue;
            }
            if conn.last_part.elapsed() > self.ep.timeout {
                self.lose_connection(Fault::NoParts { ms: self.ep.timeout.as_millis() as u64 });
                continue;
            }
            match tokio::time::timeout(self.ep.timeout, conn.body.next()).await {
                Ok(Some(Ok(chunk))) => conn.parser.push(&chunk),
                Ok(Some(Err(e))) => self.lose_connection(Fault::Request(http::describe(&e))),
                Ok(None) => self.lose_connection(Fault::Closed),
                Err(_) => self.lose_connection(Fault::Silent { ms: self.ep.timeout.as_millis() as u64 }),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn x_timestamp_is_used_only_when_it_is_wall_clock_time() {
        let now = Timestamp(1_700_000_000_000);
        assert_eq!(plausible_wall_clock(1_699_999_999.5, now), Some(Timestamp(1_699_999_999_500)));
        assert_eq!(plausible_wall_clock(12345.678, now), None, "monotonic clock");
        assert_eq!(plausible_wall_clock(1_700_000_005.0, now), None, "in the future");
        assert_eq!(plausible_wall_clock(f64::NAN, now), None);
        assert_eq!(plausible_wall_clock(1e300, now), None);
    }

    #[test]
    fn bad_urls_are_fatal_and_hide_the_password() {
        let e = MjpegSource::new("cam", "http://u:pw@[::1", Duration::from_secs(1), Duration::from_secs(1), 1 << 20)
            .unwrap_err();
        let msg = e.to_string();
        assert!(msg.starts_with("cam: invalid URL"), "{msg}");
        assert!(!msg.contains("pw"), "{msg}");
    }
}
