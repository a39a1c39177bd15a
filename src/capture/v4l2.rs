//! V4L2/UVC cameras through nokhwa: a device by index (`"0"`) or path
//! (`/dev/video0`, or a stable `/dev/v4l/by-id/…` link), the configured
//! resolution and frame rate (closest the camera offers), MJPEG preferred and
//! passed on encoded, YUYV (and NV12/grey/RGB) converted to RGB.
//!
//! nokhwa's camera is not `Send` on every backend, so each opened camera lives
//! on its own thread, which hands frames over a small channel and never waits
//! for the consumer (frames it cannot hand over are counted as dropped). A
//! camera that stops delivering (unplugged) is reopened with backoff; a device
//! that does not exist when the source starts is a `Fatal` error.

use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use nokhwa::Camera;
use nokhwa::utils::{
    ApiBackend, CameraFormat, CameraIndex, FrameFormat, RequestedFormat, RequestedFormatType, Resolution,
};
use serde::Serialize;
use tokio::sync::mpsc;

use super::common::SourceCore;
use super::reconnect::Reconnector;
use super::stats::CaptureStats;
use super::{CameraConfig, CaptureError, FrameSource, V4l2Format, jpeg, pixels};
use crate::domain::{Frame, FrameImage, Timestamp};

/// `camera.device` parsing lives with the config it checks (pure, so the config fuzz target compiles without nokhwa).
pub use super::config::{DeviceRef, parse_device};

/// A camera as `layerwatch cameras` lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DeviceInfo {
    pub index: u32,
    pub path: PathBuf,
    pub name: String,
    /// Driver and bus, as the backend reports them.
    pub description: String,
    pub formats: Vec<DeviceFormat>,
    /// Why the formats could not be read (device busy, not a capture node…).
    pub formats_error: Option<String>,
}

/// One mode a camera offers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DeviceFormat {
    /// `MJPEG`, `YUYV`, `NV12`, `GRAY`, `RAWRGB`, `RAWBGR`.
    pub fourcc: String,
    pub width: u32,
    pub height: u32,
    pub fps: u32,
}

/// The V4L2 index of a device: `N` of the `/dev/videoN` node it is or links to.
pub fn resolve_index(dev: &DeviceRef) -> Result<u32, String> {
    let path = match dev {
        DeviceRef::Index(i) => PathBuf::from(format!("/dev/video{i}")),
        DeviceRef::Path(p) => p.clone(),
    };
    let real = std::fs::canonicalize(&path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => format!("no such device {}", path.display()),
        _ => format!("cannot open {}: {e}", path.display()),
    })?;
    video_node_index(&real).ok_or_else(|| format!("{} is not a V4L2 video device (/dev/videoN)", real.display()))
}

fn video_node_index(p: &Path) -> Option<u32> {
    if p.parent() != Some(Path::new("/dev")) {
        return None;
    }
    p.file_name()?.to_str()?.strip_prefix("video")?.parse().ok()
}

/// Every V4L2 device with the formats it offers; empty (not an error) without cameras.
/// Reading formats opens each device briefly; a busy device lists its error instead.
pub fn list_devices() -> Vec<DeviceInfo> {
    let infos = match std::panic::catch_unwind(|| nokhwa::query(ApiBackend::Video4Linux)) {
        Ok(Ok(v)) => v,
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "cannot list V4L2 devices");
            return vec![];
        }
        Err(_) => {
            tracing::warn!("listing V4L2 devices panicked inside nokhwa");
            return vec![];
        }
    };
    let mut out: Vec<DeviceInfo> = infos
        .into_iter()
        .filter_map(|ci| {
            let index = ci.index().as_index().ok()?;
            let (formats, formats_error) = match query_formats(index) {
                Ok(f) => (f, None),
                Err(e) => (vec![], Some(e)),
            };
            Some(DeviceInfo {
                index,
                path: PathBuf::from(format!("/dev/video{index}")),
                name: ci.human_name(),
                description: ci.description().to_string(),
                formats,
                formats_error,
            })
        })
        .collect();
    out.sort_by_key(|d| d.index);
    out
}

const ALL_FORMATS: &[FrameFormat] = &[
    FrameFormat::MJPEG,
    FrameFormat::YUYV,
    FrameFormat::NV12,
    FrameFormat::GRAY,
    FrameFormat::RAWRGB,
    FrameFormat::RAWBGR,
];

/// The modes device `index` offers.
pub fn query_formats(index: u32) -> Result<Vec<DeviceFormat>, String> {
    let run = || {
        let req = RequestedFormat::with_formats(RequestedFormatType::None, ALL_FORMATS);
        let mut cam =
            Camera::with_backend(CameraIndex::Index(index), req, ApiBackend::Video4Linux).map_err(|e| e.to_string())?;
        let mut formats: Vec<DeviceFormat> = cam
            .compatible_camera_formats()
            .map_err(|e| e.to_string())?
            .into_iter()
            .map(|f| DeviceFormat {
                fourcc: f.format().to_string(),
                width: f.width(),
                height: f.height(),
                fps: f.frame_rate(),
            })
            .collect();
        formats.sort_by(|a, b| (&a.fourcc, b.width * b.height, b.fps).cmp(&(&b.fourcc, a.width * a.height, a.fps)));
        formats.dedup();
        Ok(formats)
    };
    std::panic::catch_unwind(run).unwrap_or_else(|_| Err("nokhwa panicked while reading formats".into()))
}

/// Opens device `index` asking for `width`×`height` at `fps` in the preferred
/// formats, closest match first. Blocking.
pub fn open_camera(index: u32, width: u32, height: u32, fps: u32, format: V4l2Format) -> Result<Camera, String> {
    let wanted: &[FrameFormat] = match format {
        V4l2Format::Auto => &[FrameFormat::MJPEG, FrameFormat::YUYV],
        V4l2Format::Mjpeg => &[FrameFormat::MJPEG],
        V4l2Format::Yuyv => &[FrameFormat::YUYV],
    };
    let mut errors = vec![];
    for ff in wanted {
        let closest = CameraFormat::new(Resolution::new(width, height), *ff, fps);
        let req = RequestedFormat::with_formats(RequestedFormatType::Closest(closest), std::slice::from_ref(ff));
        let opened = std::panic::catch_unwind(AssertUnwindSafe(|| {
            let mut cam = Camera::with_backend(CameraIndex::Index(index), req, ApiBackend::Video4Linux)?;
            cam.open_stream()?;
            Ok::<_, nokhwa::NokhwaError>(cam)
        }));
        match opened {
            Ok(Ok(cam)) => return Ok(cam),
            Ok(Err(e)) => errors.push(format!("{ff}: {e}")),
            Err(_) => errors.push(format!("{ff}: nokhwa panicked")),
        }
    }
    Err(format!("cannot open /dev/video{index}: {}", errors.join("; ")))
}

#[derive(Debug)]
enum Msg {
    Opened(String),
    Frame(FrameImage, Timestamp),
    Bad(String),
    OpenFailed(String),
    Lost(String),
}

#[derive(Debug, Clone, Copy)]
struct Spec {
    index: u32,
    width: u32,
    height: u32,
    fps: u32,
    format: V4l2Format,
}

/// A V4L2 camera. See the module docs.
#[derive(Debug)]
pub struct V4l2Source {
    core: SourceCore,
    device: DeviceRef,
    /// `/dev/videoN` of the last open, for messages.
    node: Option<u32>,
    want: (u32, u32, u32, V4l2Format),
    rx: Option<mpsc::Receiver<Msg>>,
    reconnect: Reconnector,
    opened_once: bool,
}

impl V4l2Source {
    pub fn new(
        name: &str,
        device: &str,
        width: u32,
        height: u32,
        fps: u32,
        format: V4l2Format,
    ) -> Result<Self, CaptureError> {
        let device = parse_device(device).map_err(|m| CaptureError::Fatal { source_name: name.into(), message: m })?;
        let core = SourceCore::new(name);
        let reconnect = Reconnector::new(core.name_arc(), core.stats(), Duration::from_secs(30));
        Ok(V4l2Source {
            core,
            device,
            node: None,
            want: (width, height, fps, format),
            rx: None,
            reconnect,
            opened_once: false,
        })
    }

    pub fn from_config(cfg: &CameraConfig) -> Result<Self, CaptureError> {
        let mut s = V4l2Source::new(&cfg.name, &cfg.device, cfg.width, cfg.height, cfg.fps, cfg.v4l2_format)?;
        s.reconnect = Reconnector::new(s.core.name_arc(), s.core.stats(), Duration::from_millis(cfg.reconnect_max_ms));
        Ok(s)
    }

    fn fatal(&self, message: String) -> CaptureError {
        CaptureError::Fatal { source_name: self.core.name().to_string(), message }
    }

    /// Opens the camera on a new thread. The device path is resolved on every open:
    /// a replugged camera can come back as another `/dev/videoN` behind the same
    /// `/dev/v4l/by-id/…` link. Returns `Ok(false)` after a transient failure.
    fn start_thread(&mut self) -> Result<bool, CaptureError> {
        let index = match resolve_index(&self.device) {
            Ok(i) => i,
            // Never opened: a device that does not exist is a configuration error.
            Err(m) if !self.opened_once => return Err(self.fatal(m)),
            Err(m) => {
                self.reconnect.failed(&m);
                return Ok(false);
            }
        };
        self.node = Some(index);
        let (width, height, fps, format) = self.want;
        let spec = Spec { index, width, height, fps, format };
        let (tx, rx) = mpsc::channel(2);
        let stats = self.core.stats();
        std::thread::Builder::new()
            .name(format!("capture-{}", self.core.name()))
            .spawn(move || {
                let r = std::panic::catch_unwind(AssertUnwindSafe(|| camera_thread(&spec, &tx, &stats)));
                if r.is_err() {
                    let _ = tx.blocking_send(Msg::Lost("camera thread panicked".into()));
                }
            })
            .map_err(|e| self.fatal(format!("cannot start the camera thread: {e}")))?;
        self.rx = Some(rx);
        Ok(true)
    }
}

fn camera_thread(spec: &Spec, tx: &mpsc::Sender<Msg>, stats: &CaptureStats) {
    let mut cam = match open_camera(spec.index, spec.width, spec.height, spec.fps, spec.format) {
        Ok(c) => c,
        Err(e) => {
            let _ = tx.blocking_send(Msg::OpenFailed(e));
            return;
        }
    };
    let f = cam.camera_format();
    let _ =
        tx.blocking_send(Msg::Opened(format!("{} {}x{} @ {} fps", f.format(), f.width(), f.height(), f.frame_rate())));
    while !tx.is_closed() {
        let buf = match cam.frame() {
            Ok(b) => b,
            Err(e) => {
                let _ = tx.blocking_send(Msg::Lost(format!("camera stopped delivering frames: {e}")));
                let _ = cam.stop_stream();
                return;
            }
        };
        let at = Timestamp::now();
        let res = buf.resolution();
        let (w, h, data) = (res.width(), res.height(), buf.buffer());
        let image = match buf.source_frame_format() {
            FrameFormat::MJPEG => jpeg::check(data)
                .map(|n| FrameImage::Jpeg(Bytes::copy_from_slice(&data[..n])))
                .map_err(|f| f.to_string()),
            other => {
                let rgb = match other {
                    FrameFormat::YUYV => pixels::yuyv_to_rgb(w, h, data),
                    FrameFormat::NV12 => pixels::nv12_to_rgb(w, h, data),
                    FrameFormat::GRAY => pixels::gray_to_rgb(w, h, data),
                    FrameFormat::RAWRGB => pixels::packed_to_rgb(w, h, data, false),
                    FrameFormat::RAWBGR => pixels::packed_to_rgb(w, h, data, true),
                    FrameFormat::MJPEG => None,
                };
                rgb.map(|i| FrameImage::Rgb(Arc::new(i)))
                    .ok_or_else(|| format!("{other} frame of {} bytes is too short for {w}x{h}", data.len()))
            }
        };
        let msg = match image {
            Ok(img) => Msg::Frame(img, at),
            Err(why) => Msg::Bad(why),
        };
        if let Err(mpsc::error::TrySendError::Full(_)) = tx.try_send(msg) {
            stats.record_dropped(1);
        }
    }
    let _ = cam.stop_stream();
}

#[async_trait]
impl FrameSource for V4l2Source {
    fn core(&self) -> &SourceCore {
        &self.core
    }

    async fn next_frame(&mut self) -> Result<Frame, CaptureError> {
        loop {
            let Some(rx) = self.rx.as_mut() else {
                if self.reconnect.is_down() {
                    self.reconnect.wait().await;
                }
                self.start_thread()?;
                continue;
            };
            match rx.recv().await {
                Some(Msg::Opened(mode)) => {
                    self.opened_once = true;
                    tracing::info!(camera = self.core.name(), mode, "camera opened");
                }
                Some(Msg::Frame(image, at)) => {
                    self.reconnect.succeeded();
                    return Ok(self.core.frame(image, at));
                }
                Some(Msg::Bad(why)) => {
                    let dev = self.node.map(|n| format!("/dev/video{n}")).unwrap_or_default();
                    self.core.bad_frame(&why, &dev);
                }
                Some(Msg::OpenFailed(why)) if !self.opened_once => {
                    // Never worked: wrong device, or a camera that cannot do what was asked.
                    self.rx = None;
                    return Err(self.fatal(why));
                }
                Some(Msg::OpenFailed(why) | Msg::Lost(why)) => {
                    self.rx = None;
                    self.reconnect.failed(&why);
                }
                None => {
                    self.rx = None;
                    self.reconnect.failed(&"camera thread stopped");
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_strings() {
        assert_eq!(parse_device("0"), Ok(DeviceRef::Index(0)));
        assert_eq!(parse_device(" 12 "), Ok(DeviceRef::Index(12)));
        assert_eq!(parse_device("/dev/video2"), Ok(DeviceRef::Path("/dev/video2".into())));
        assert!(parse_device("webcam").is_err());
        assert!(parse_device("").is_err());
        assert_eq!(video_node_index(Path::new("/dev/video7")), Some(7));
        assert_eq!(video_node_index(Path::new("/dev/null")), None);
        assert_eq!(video_node_index(Path::new("/tmp/video7")), None);
    }

    #[test]
    fn missing_and_wrong_devices_are_clean_errors() {
        assert_eq!(resolve_index(&DeviceRef::Path("/dev/video93".into())), Err("no such device /dev/video93".into()));
        assert_eq!(
            resolve_index(&DeviceRef::Path("/dev/null".into())),
            Err("/dev/null is not a V4L2 video device (/dev/videoN)".into())
        );
    }

    #[test]
    fn nokhwa_fails_cleanly_on_a_missing_device() {
        // Straight through nokhwa (no existence check first): an error, not a panic.
        let err = open_camera(93, 640, 480, 15, V4l2Format::Auto).err().expect("no /dev/video93 here");
        assert!(err.starts_with("cannot open /dev/video93: MJPEG:"), "{err}");
        assert!(query_formats(93).is_err());
    }
}
