//! Bad frames through the real classifier: every truncation of a real JPEG, seeded
//! byte corruption, empty and non-JPEG bytes, malformed RGB buffers, 1×1 and
//! 10000×10 pictures. Each is a `Decode` error or a valid score — never a panic,
//! never a grey-filled guess — and the classifier scores good frames identically
//! before and after.

mod vision_support;

use std::sync::Arc;

use layerwatch::domain::{FrameImage, RgbImage};
use layerwatch::vision::{Classifier, ClassifierOptions, DecodeKind, Model, OnnxClassifier, VisionError};
use vision_support::*;

fn classifier() -> OnnxClassifier {
    let opts = ClassifierOptions {
        ort_library: Some(require_ort()),
        ..ClassifierOptions::default()
    };
    OnnxClassifier::new(Model::built_in().unwrap(), &opts).unwrap()
}

fn kind(r: &Result<layerwatch::domain::FrameScore, VisionError>) -> Option<DecodeKind> {
    match r {
        Err(VisionError::Decode { kind, .. }) => Some(*kind),
        _ => None,
    }
}

#[test]
fn every_truncation_of_a_real_jpeg_is_refused() {
    let mut c = classifier();
    let path = &samples()[0].0;
    let good = std::fs::read(path).unwrap();
    let reference = c.classify(&jpeg_frame(0, good.clone())).unwrap();
    // 60 cut points spread over the file, plus the last few bytes (EOI cut in half, missing).
    let mut cuts: Vec<usize> = (0..60).map(|i| i * good.len() / 60).collect();
    cuts.extend([good.len() - 3, good.len() - 2, good.len() - 1]);
    for n in cuts {
        let r = c.classify(&jpeg_frame(n as u64, good[..n].to_vec()));
        let k = kind(&r);
        assert!(
            matches!(k, Some(DecodeKind::Empty | DecodeKind::Truncated | DecodeKind::Corrupt)),
            "a cut at {n} of {} bytes gave {r:?}",
            good.len()
        );
    }
    let again = c.classify(&jpeg_frame(1, good)).unwrap();
    assert_eq!(
        again.scores, reference.scores,
        "bad frames changed how good frames are scored"
    );
}

#[test]
fn corrupted_bytes_are_an_error_or_a_score_never_a_panic() {
    let mut c = classifier();
    let good = std::fs::read(&samples()[1].0).unwrap();
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let (mut refused, mut scored) = (0, 0);
    for seq in 0..40 {
        let mut bytes = good.clone();
        for _ in 0..(1 + next() % 8) {
            let i = (next() as usize) % bytes.len();
            bytes[i] = (next() & 0xFF) as u8;
        }
        match c.classify(&jpeg_frame(seq, bytes)) {
            Ok(s) => {
                let sum: f32 = s.scores.classes.iter().map(|x| x.p).sum();
                assert!((sum - 1.0).abs() < 1e-4);
                scored += 1;
            }
            Err(VisionError::Decode { .. }) => refused += 1,
            Err(e) => panic!("frame {seq}: unexpected error {e}"),
        }
    }
    eprintln!("corrupted frames: {refused} refused, {scored} decoded and scored");
    assert_eq!(refused + scored, 40);
    assert!(refused > 0, "no corruption was detected in 40 corrupted frames");
}

#[test]
fn odd_sizes_and_bad_buffers() {
    let mut c = classifier();
    let cases: Vec<(&str, FrameImage)> = vec![
        (
            "empty file",
            FrameImage::Jpeg(std::fs::read(fixture("empty.jpg")).unwrap().into()),
        ),
        (
            "truncated fixture",
            FrameImage::Jpeg(std::fs::read(fixture("truncated.jpg")).unwrap().into()),
        ),
        (
            "png bytes as jpeg",
            FrameImage::Jpeg(b"\x89PNG\r\n\x1a\n0000".to_vec().into()),
        ),
        (
            "rgb buffer too short",
            FrameImage::Rgb(Arc::new(RgbImage {
                width: 64,
                height: 64,
                data: vec![0; 100],
            })),
        ),
        (
            "rgb 0x0",
            FrameImage::Rgb(Arc::new(RgbImage {
                width: 0,
                height: 0,
                data: vec![],
            })),
        ),
        (
            "jpeg 1x1",
            FrameImage::Jpeg(encode_jpeg(&rgb(1, 1, |_, _| [9, 99, 199]), 90).into()),
        ),
        (
            "jpeg 10000x10",
            FrameImage::Jpeg(encode_jpeg(&rgb(10000, 10, |x, _| [(x % 256) as u8, 0, 0]), 85).into()),
        ),
        (
            "jpeg 10x3000",
            FrameImage::Jpeg(encode_jpeg(&rgb(10, 3000, |_, y| [0, (y % 256) as u8, 0]), 85).into()),
        ),
        ("rgb 1x1", FrameImage::Rgb(Arc::new(rgb(1, 1, |_, _| [255, 255, 255])))),
    ];
    let out: Vec<String> = cases
        .into_iter()
        .enumerate()
        .map(|(i, (name, image))| {
            let frame = layerwatch::domain::Frame {
                image,
                ..jpeg_frame(i as u64, Vec::new())
            };
            match c.classify(&frame) {
                Ok(s) => format!("{name}: scored, brightness {:.0}", s.brightness),
                Err(VisionError::Decode { kind, .. }) => format!("{name}: refused ({})", kind.as_str()),
                Err(e) => format!("{name}: other error {e}"),
            }
        })
        .collect();
    expect_test::expect![[r#"
        empty file: refused (empty)
        truncated fixture: refused (truncated)
        png bytes as jpeg: refused (not_jpeg)
        rgb buffer too short: refused (bad_size)
        rgb 0x0: refused (bad_size)
        jpeg 1x1: scored, brightness 83
        jpeg 10000x10: scored, brightness 38
        jpeg 10x3000: scored, brightness 73
        rgb 1x1: scored, brightness 255"#]]
    .assert_eq(&out.join("\n"));
}

/// ffmpeg's MJPEG encoder (another encoder than libjpeg, with the 4:2:2 and 4:4:4 sampling USB
/// cameras send) produces frames that pass the checks and score.
#[test]
fn ffmpeg_mjpeg_frames_in_every_subsampling_are_accepted() {
    let ffmpeg = std::path::Path::new("/usr/bin/ffmpeg");
    assert!(
        ffmpeg.is_file(),
        "ffmpeg is missing: run `scripts/setup.sh test` (installs Debian's ffmpeg)"
    );
    let tmp = tempfile::tempdir().unwrap();
    let mut c = classifier();
    let mut seq = 0;
    for (pix, size) in [
        ("yuvj420p", "1280x720"),
        ("yuvj422p", "1280x720"),
        ("yuvj444p", "641x481"),
        ("gray", "320x240"),
    ] {
        let pattern = tmp.path().join(format!("{pix}_%d.jpg"));
        let status = std::process::Command::new(ffmpeg)
            .args([
                "-loglevel",
                "error",
                "-f",
                "lavfi",
                "-i",
                &format!("testsrc2=size={size}:rate=5"),
            ])
            .args(["-frames:v", "2", "-pix_fmt", pix, "-q:v", "4", "-f", "image2"])
            .arg(&pattern)
            .status()
            .expect("run ffmpeg");
        assert!(status.success(), "ffmpeg failed for {pix}");
        for n in 1..=2 {
            let bytes = std::fs::read(tmp.path().join(format!("{pix}_{n}.jpg"))).unwrap();
            let info = layerwatch::vision::jpeg::inspect(&bytes).unwrap_or_else(|e| panic!("{pix} frame {n}: {e}"));
            layerwatch::vision::turbo::check(&bytes, (info.width, info.height))
                .unwrap_or_else(|e| panic!("{pix} frame {n}: libjpeg refused it: {e}"));
            let s = c
                .classify(&jpeg_frame(seq, bytes.clone()))
                .unwrap_or_else(|e| panic!("{pix} frame {n}: {e}"));
            assert!(s.brightness > 1.0, "{pix}");
            seq += 1;
            // The same frame with one chunk lost in the middle (a dropped USB packet) is refused.
            let mut hole = bytes[..bytes.len() / 2].to_vec();
            hole.extend(&bytes[bytes.len() / 2 + 512..]);
            assert!(
                kind(&c.classify(&jpeg_frame(seq, hole))).is_some(),
                "{pix}: a frame with a hole was scored"
            );
        }
    }
}
