//! Helpers shared by the capture integration tests: real JPEGs made with
//! OpenCV (a frame number drawn in), loopback listeners, camera configs with
//! short timeouts, and waiting with a deadline.
#![allow(dead_code)]

use std::collections::HashMap;
use std::future::Future;
use std::path::PathBuf;
use std::time::Duration;

use bytes::Bytes;
use layerwatch::capture::{CameraConfig, SourceKind};
use opencv::core::{CV_8UC3, Mat, Point, Scalar, Vector};
use opencv::prelude::*;
use opencv::{imgcodecs, imgproc};

/// `n` distinct JPEGs of `w`×`h`, each with "frame i" drawn in and a colour that
/// depends on `i` (blue-green gradient, red = 40 + 2·i mod 200).
pub fn numbered_jpegs(n: usize, w: i32, h: i32) -> Vec<Bytes> {
    (0..n).map(|i| Bytes::from(encode(&numbered_image(i, w, h), ".jpg"))).collect()
}

/// The image behind [`numbered_jpegs`].
pub fn numbered_image(i: usize, w: i32, h: i32) -> Mat {
    let red = 40.0 + (2 * i % 200) as f64;
    let mut m = Mat::new_rows_cols_with_default(h, w, CV_8UC3, Scalar::new(30.0, 60.0, red, 0.0)).unwrap();
    let scale = f64::from(h) / 160.0;
    imgproc::put_text(
        &mut m,
        &format!("frame {i}"),
        Point::new(w / 10, h / 2),
        imgproc::FONT_HERSHEY_SIMPLEX,
        scale,
        Scalar::new(255.0, 255.0, 255.0, 0.0),
        (2.0 * scale).max(1.0) as i32,
        imgproc::LINE_AA,
        false,
    )
    .unwrap();
    m
}

pub fn encode(m: &Mat, ext: &str) -> Vec<u8> {
    let mut buf = Vector::<u8>::new();
    let params = Vector::from_slice(&[imgcodecs::IMWRITE_JPEG_QUALITY, 85]);
    assert!(imgcodecs::imencode(ext, m, &mut buf, &params).unwrap());
    buf.to_vec()
}

/// JPEG bytes → frame number.
pub fn index_of(frames: &[Bytes]) -> HashMap<Bytes, usize> {
    frames.iter().cloned().enumerate().map(|(i, b)| (b, i)).collect()
}

pub async fn loopback() -> tokio::net::TcpListener {
    tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap()
}

/// A camera config for `url` with test-sized timeouts.
pub fn camera(source: SourceKind, url: &str) -> CameraConfig {
    CameraConfig {
        name: "testcam".into(),
        source,
        url: url.into(),
        timeout_ms: 2_000,
        reconnect_max_ms: 500,
        interval_ms: 100,
        ..Default::default()
    }
}

/// Runs `fut`, failing the test with `what` if it takes longer than `secs`.
pub async fn within<T>(secs: u64, what: &str, fut: impl Future<Output = T>) -> T {
    match tokio::time::timeout(Duration::from_secs(secs), fut).await {
        Ok(v) => v,
        Err(_) => panic!("timed out after {secs} s waiting for {what}"),
    }
}

/// Polls `cond` every 10 ms until it holds, failing after `secs`.
pub async fn wait_until(secs: u64, what: &str, mut cond: impl FnMut() -> bool) {
    within(secs, what, async {
        while !cond() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
}

/// A program the tests need from the system (Debian packages installed by
/// `scripts/setup.sh test`); fails with a clear message when it is missing.
pub fn system_tool(name: &str) -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
        .unwrap_or_else(|| panic!("`{name}` is not installed: run `scripts/setup.sh test` (it installs ffmpeg)"))
}
