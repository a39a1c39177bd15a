//! Helpers shared by the `tests/vision_*.rs` suites: paths, required tools, sample images, frames.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use layerwatch::domain::{Frame, FrameImage, RgbImage, Timestamp};
use opencv::core::{Mat, Vector};
use opencv::imgcodecs;
use opencv::imgproc;
use opencv::prelude::*;

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn fixture(name: &str) -> PathBuf {
    repo().join("tests/data/vision").join(name)
}

/// The ONNX Runtime library of the set-up; fails the test with the fix when it is missing.
pub fn require_ort() -> PathBuf {
    let p = repo().join(".tools/ort/libonnxruntime.so");
    assert!(
        p.is_file(),
        "ONNX Runtime is missing at {}: run `scripts/setup.sh test` first",
        p.display()
    );
    p
}

/// The Python of the reference venv; fails the test with the fix when it is missing.
pub fn require_ref_python() -> PathBuf {
    let p = repo().join(".tools/venv-ref/bin/python");
    assert!(
        p.is_file(),
        "the Python reference venv is missing at {}: run `scripts/setup.sh test` first",
        p.display()
    );
    p
}

/// `(path, label)` of every sample image, from `datasets/samples/labels.csv`.
pub fn samples() -> Vec<(PathBuf, String)> {
    let dir = repo().join("datasets/samples");
    let mut rdr = csv::Reader::from_path(dir.join("labels.csv")).expect("datasets/samples/labels.csv");
    let out: Vec<(PathBuf, String)> = rdr
        .records()
        .map(|r| {
            let r = r.expect("csv row");
            (dir.join(&r[0]), r[1].to_string())
        })
        .collect();
    assert!(out.len() >= 10, "expected at least 10 samples, found {}", out.len());
    out
}

pub fn jpeg_frame(seq: u64, bytes: impl Into<Bytes>) -> Frame {
    Frame {
        seq,
        captured_at: Timestamp::from_millis(1_700_000_000_000 + seq as i64),
        source: Arc::from("test"),
        image: FrameImage::Jpeg(bytes.into()),
    }
}

pub fn file_frame(seq: u64, path: &Path) -> Frame {
    jpeg_frame(
        seq,
        std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display())),
    )
}

pub fn rgb_frame(seq: u64, img: RgbImage) -> Frame {
    Frame {
        image: FrameImage::Rgb(Arc::new(img)),
        ..jpeg_frame(seq, Bytes::new())
    }
}

/// An RGB image where pixel (x, y) = f(x, y).
pub fn rgb(w: u32, h: u32, f: impl Fn(u32, u32) -> [u8; 3]) -> RgbImage {
    let mut data = Vec::with_capacity((w * h * 3) as usize);
    for y in 0..h {
        for x in 0..w {
            data.extend(f(x, y));
        }
    }
    RgbImage::new(w, h, data).expect("size")
}

/// Encodes an RGB image as JPEG with OpenCV (libjpeg-turbo).
pub fn encode_jpeg(img: &RgbImage, quality: i32) -> Vec<u8> {
    let m = Mat::new_rows_cols_with_bytes::<opencv::core::Vec3b>(img.height as i32, img.width as i32, &img.data)
        .expect("wrap");
    let mut bgr = Mat::default();
    imgproc::cvt_color_def(&m, &mut bgr, imgproc::COLOR_RGB2BGR).expect("cvt");
    let mut buf = Vector::<u8>::new();
    let params = Vector::from_slice(&[imgcodecs::IMWRITE_JPEG_QUALITY, quality]);
    assert!(imgcodecs::imencode(".jpg", &bgr, &mut buf, &params).expect("imencode"));
    buf.to_vec()
}

/// A sample image letterboxed (aspect kept, black bars) onto a `w`×`h` canvas, as a camera frame.
pub fn letterboxed_jpeg(path: &Path, w: i32, h: i32, quality: i32) -> Vec<u8> {
    let src = imgcodecs::imread(path.as_os_str(), imgcodecs::IMREAD_COLOR).expect("imread");
    assert!(!src.empty(), "cannot read {}", path.display());
    let s = (w as f64 / src.cols() as f64).min(h as f64 / src.rows() as f64);
    let (nw, nh) = (
        (src.cols() as f64 * s).round() as i32,
        (src.rows() as f64 * s).round() as i32,
    );
    let mut scaled = Mat::default();
    imgproc::resize(
        &src,
        &mut scaled,
        opencv::core::Size::new(nw, nh),
        0.0,
        0.0,
        imgproc::INTER_LINEAR,
    )
    .expect("resize");
    let mut canvas =
        Mat::new_rows_cols_with_default(h, w, opencv::core::CV_8UC3, opencv::core::Scalar::all(0.0)).expect("canvas");
    let rect = opencv::core::Rect::new((w - nw) / 2, (h - nh) / 2, nw, nh);
    let mut roi = canvas.roi_mut(rect).expect("roi");
    scaled.copy_to(&mut roi).expect("copy");
    let mut buf = Vector::<u8>::new();
    let params = Vector::from_slice(&[imgcodecs::IMWRITE_JPEG_QUALITY, quality]);
    assert!(imgcodecs::imencode(".jpg", &canvas, &mut buf, &params).expect("imencode"));
    buf.to_vec()
}
