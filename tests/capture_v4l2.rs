//! V4L2 as far as a machine without a camera allows: listing matches the
//! `/dev/video*` nodes that exist (none here), opening a missing device is a
//! clean `Fatal` error through the source, the factory and the pump, and
//! `layerwatch cameras` says what it found.

mod capture_support;

use std::path::PathBuf;

use capture_support::within;
use layerwatch::capture::{self, CaptureError, FrameSource, PumpConfig, PumpExit, SourceKind, V4l2Format, V4l2Source};
use tokio_util::sync::CancellationToken;

fn video_nodes() -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir("/dev")
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with("video")))
        .collect();
    v.sort();
    v
}

/// `/dev/video9` as the task asks, or the first absent `/dev/videoN` from 9 on.
fn absent_device() -> String {
    (9..64)
        .map(|n| format!("/dev/video{n}"))
        .find(|p| !std::path::Path::new(p).exists())
        .expect("some /dev/videoN from 9 to 63 is absent")
}

#[test]
fn list_devices_matches_the_video_nodes_present() {
    let devices = capture::list_devices();
    let nodes = video_nodes();
    if nodes.is_empty() {
        assert_eq!(devices, vec![], "no /dev/video* here, so no cameras");
    } else {
        for d in &devices {
            assert!(d.path.exists(), "{d:?}");
        }
        assert!(!devices.is_empty(), "video nodes {nodes:?} but no devices listed");
    }
}

#[tokio::test]
async fn opening_a_missing_device_is_a_clean_fatal_error() {
    let dev = absent_device();
    let mut src = V4l2Source::new("webcam", &dev, 1280, 720, 15, V4l2Format::Auto).unwrap();
    let e = within(10, "an error", src.next_frame()).await.unwrap_err();
    assert!(matches!(e, CaptureError::Fatal { .. }));
    assert_eq!(e.to_string(), format!("webcam: no such device {dev}"));

    let index = dev.trim_start_matches("/dev/video");
    let mut src = V4l2Source::new("webcam", index, 640, 480, 30, V4l2Format::Yuyv).unwrap();
    let e = within(10, "an error", src.next_frame()).await.unwrap_err();
    assert_eq!(e.to_string(), format!("webcam: no such device {dev}"));

    let e = V4l2Source::new("webcam", "usb camera", 640, 480, 30, V4l2Format::Auto).unwrap_err();
    assert_eq!(e.to_string(), "webcam: \"usb camera\" is neither a device index nor a /dev path");
}

#[tokio::test]
async fn a_missing_device_stops_the_pump_with_the_reason() {
    let dev = absent_device();
    let cfg = capture::CameraConfig { source: SourceKind::V4l2, device: dev.clone(), ..Default::default() };
    let h =
        capture::spawn(capture::build_source(&cfg).unwrap(), PumpConfig::from_camera(&cfg), CancellationToken::new());
    assert!(within(10, "the pump to stop", h.next()).await.is_none());
    let stats = h.stats();
    match within(10, "the pump's exit", h.join()).await {
        PumpExit::Failed(e) => assert_eq!(e.to_string(), format!("camera: no such device {dev}")),
        other => panic!("{other:?}"),
    }
    assert_eq!(stats.state(), capture::CaptureState::Failed);
}

#[test]
fn cameras_subcommand_reports_what_it_found() {
    let exe = env!("CARGO_BIN_EXE_layerwatch");
    let text = std::process::Command::new(exe).arg("cameras").output().unwrap();
    assert!(text.status.success());
    let json = std::process::Command::new(exe).args(["cameras", "--json", "--no-formats"]).output().unwrap();
    assert!(json.status.success());
    let listed: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    let listed = listed.as_array().unwrap();
    if video_nodes().is_empty() {
        assert_eq!(String::from_utf8_lossy(&text.stdout), "no V4L2 cameras found (no /dev/video* devices)\n");
        assert!(listed.is_empty());
    } else {
        assert!(!listed.is_empty());
        assert!(listed.iter().all(|d| d["path"].as_str().is_some_and(|p| p.starts_with("/dev/video"))));
    }
}
