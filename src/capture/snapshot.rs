//! Snapshot URLs: one JPEG per HTTP request (mjpg-streamer `/?action=snapshot`,
//! ustreamer `/snapshot`, most IP cameras), polled every `interval_ms`.
//!
//! Owns polling, size capping, JPEG validation and reconnect backoff for them.
//! A bad image is counted and the next poll comes at the normal interval; a
//! failed request backs off like a lost stream.

use std::time::Duration;

use async_trait::async_trait;
use bytes::{Bytes, BytesMut};
use futures_util::StreamExt;
use reqwest::Url;
use reqwest::header::{ACCEPT, CONTENT_TYPE};
use tokio::time::Instant;

use super::common::SourceCore;
use super::http;
use super::jpeg;
use super::mjpeg::content_type::{self, ResponseKind};
use super::reconnect::Reconnector;
use super::{CameraConfig, CaptureError, FrameSource};
use crate::domain::{Frame, FrameImage, Timestamp};

/// Why one poll gave no frame.
#[derive(Debug, thiserror::Error)]
enum PollError {
    /// The request failed: back off and retry.
    #[error("{0}")]
    Fault(String),
    /// The server answered, but not with a usable JPEG: count it, poll again later.
    #[error("{0}")]
    BadImage(String),
    #[error(transparent)]
    Fatal(CaptureError),
}

/// A polled snapshot URL. See the module docs.
pub struct SnapshotSource {
    core: SourceCore,
    client: reqwest::Client,
    url: Url,
    shown_url: String,
    interval: Duration,
    timeout: Duration,
    max_bytes: usize,
    next_poll: Option<Instant>,
    reconnect: Reconnector,
}

impl std::fmt::Debug for SnapshotSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SnapshotSource").field("name", &self.core.name()).field("url", &self.shown_url).finish()
    }
}

impl SnapshotSource {
    pub fn new(
        name: &str,
        url: &str,
        interval: Duration,
        timeout: Duration,
        reconnect_max: Duration,
        max_bytes: usize,
    ) -> Result<Self, CaptureError> {
        let fatal = |message: String| CaptureError::Fatal { source_name: name.to_string(), message };
        let url = http::parse_url(url).map_err(fatal)?;
        let client = http::camera_client(timeout).map_err(|e| fatal(format!("cannot set up HTTP: {e}")))?;
        let core = SourceCore::new(name);
        let reconnect = Reconnector::new(core.name_arc(), core.stats(), reconnect_max);
        Ok(SnapshotSource {
            shown_url: http::redact(&url),
            core,
            client,
            url,
            interval,
            timeout,
            max_bytes,
            next_poll: None,
            reconnect,
        })
    }

    pub fn from_config(cfg: &CameraConfig) -> Result<Self, CaptureError> {
        let mut s = SnapshotSource::new(
            &cfg.name,
            &cfg.url,
            Duration::from_millis(cfg.interval_ms),
            Duration::from_millis(cfg.timeout_ms),
            Duration::from_millis(cfg.reconnect_max_ms),
            cfg.max_frame_bytes,
        )?;
        s.core.set_max_pixels(cfg.max_pixels);
        Ok(s)
    }

    /// Images with more pixels (from the JPEG header) are skipped and counted.
    pub fn with_max_pixels(mut self, max_pixels: u64) -> Self {
        self.core.set_max_pixels(max_pixels);
        self
    }

    async fn fetch(&self) -> Result<Bytes, PollError> {
        let req = self.client.get(self.url.clone()).header(ACCEPT, "image/jpeg, */*;q=0.1").timeout(self.timeout);
        let resp = req.send().await.map_err(|e| PollError::Fault(http::describe(&e)))?;
        let status = resp.status();
        if !status.is_success() {
            return Err(PollError::Fault(format!("HTTP {} from {}", status.as_u16(), self.shown_url)));
        }
        let ct = resp.headers().get(CONTENT_TYPE).and_then(|v| v.to_str().ok()).map(str::to_string);
        if let ResponseKind::Multipart { .. } = content_type::classify(ct.as_deref()) {
            return Err(PollError::Fatal(CaptureError::Fatal {
                source_name: self.core.name().to_string(),
                message: format!("{} is an MJPEG stream, not a snapshot; use source = \"mjpeg\"", self.shown_url),
            }));
        }
        if let Some(len) = resp.content_length().filter(|l| *l > self.max_bytes as u64) {
            return Err(PollError::BadImage(format!("image of {len} bytes is larger than {} bytes", self.max_bytes)));
        }
        let mut body = BytesMut::new();
        let mut stream = resp.bytes_stream();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| PollError::BadImage(format!("image cut off: {}", http::describe(&e))))?;
            if body.len() + chunk.len() > self.max_bytes {
                return Err(PollError::BadImage(format!("image larger than {} bytes", self.max_bytes)));
            }
            body.extend_from_slice(&chunk);
        }
        let body = body.freeze();
        match jpeg::check(&body) {
            Ok(n) => Ok(body.slice(..n)),
            Err(fault) => Err(PollError::BadImage(match ct {
                Some(ct) if !ct.to_ascii_lowercase().starts_with("image/") => format!("{fault} (Content-Type: {ct})"),
                _ => fault.to_string(),
            })),
        }
    }
}

#[async_trait]
impl FrameSource for SnapshotSource {
    fn core(&self) -> &SourceCore {
        &self.core
    }

    async fn next_frame(&mut self) -> Result<Frame, CaptureError> {
        loop {
            if self.reconnect.is_down() {
                self.reconnect.wait().await;
            } else if let Some(at) = self.next_poll {
                tokio::time::sleep_until(at).await;
            }
            let started = Instant::now();
            // The next poll is due one interval after this one started, or now if we are late.
            self.next_poll = Some((started + self.interval).max(Instant::now()));
            match self.fetch().await {
                Ok(jpeg) => {
                    self.reconnect.succeeded();
                    if let Some(frame) = self.core.checked_frame(FrameImage::Jpeg(jpeg), Timestamp::now(), &self.shown_url) {
                        return Ok(frame);
                    }
                }
                Err(PollError::BadImage(reason)) => {
                    // The server is up: not a connection fault.
                    self.reconnect.succeeded();
                    self.core.bad_frame(&reason, &self.shown_url);
                }
                Err(PollError::Fault(fault)) => self.reconnect.failed(&fault),
                Err(PollError::Fatal(e)) => return Err(e),
            }
        }
    }
}
