//! Unit tests of `preprocess`: exact tensors for synthetic frames, ROI, scaled decoding, fingerprints.

use std::sync::Arc;

use bytes::Bytes;
use opencv::core::{Mat, Vector};
use opencv::imgcodecs;
use opencv::prelude::VectorToVec;

use super::*;

/// An RGB image where pixel (x, y) = f(x, y).
fn rgb(w: u32, h: u32, f: impl Fn(u32, u32) -> [u8; 3]) -> RgbImage {
    let mut data = Vec::with_capacity((w * h * 3) as usize);
    for y in 0..h {
        for x in 0..w {
            data.extend(f(x, y));
        }
    }
    RgbImage::new(w, h, data).unwrap()
}

fn jpeg_of(img: &RgbImage, quality: i32) -> Bytes {
    let m = Mat::new_rows_cols_with_bytes::<Vec3b>(img.height as i32, img.width as i32, &img.data).unwrap();
    let mut bgr = Mat::default();
    imgproc::cvt_color_def(&m, &mut bgr, imgproc::COLOR_RGB2BGR).unwrap();
    let mut buf = Vector::<u8>::new();
    let params = Vector::from_slice(&[imgcodecs::IMWRITE_JPEG_QUALITY, quality]);
    assert!(imgcodecs::imencode(".jpg", &bgr, &mut buf, &params).unwrap());
    Bytes::from(buf.to_vec())
}

fn run(p: &Preprocessor, image: FrameImage) -> Result<(Vec<f32>, Prepared), PreprocessError> {
    let mut out = vec![f32::NAN; p.tensor_len()];
    let prep = p.prepare(&image, &mut out)?;
    Ok((out, prep))
}

#[test]
fn solid_rgb_frame_gives_exact_planes_and_brightness() {
    let p = Preprocessor::new(8, 6, None);
    let img = rgb(32, 24, |_, _| [10, 20, 30]);
    let (t, prep) = run(&p, FrameImage::Rgb(Arc::new(img))).unwrap();
    assert_eq!(t.len(), 3 * 8 * 6);
    assert!(t[..48].iter().all(|v| *v == 10.0 / 255.0));
    assert!(t[48..96].iter().all(|v| *v == 20.0 / 255.0));
    assert!(t[96..].iter().all(|v| *v == 30.0 / 255.0));
    let luma = (299.0 * 10.0 + 587.0 * 20.0 + 114.0 * 30.0) / 1000.0;
    assert!((prep.brightness - luma).abs() < 1e-4, "{}", prep.brightness);
    assert_eq!(prep.source_size, (32, 24));
}

#[test]
fn roi_selects_the_region_and_rgb_and_jpeg_agree_on_channel_order() {
    // Left half red, right half blue: the ROI on the right half must see only blue.
    let img = rgb(64, 32, |x, _| if x < 32 { [250, 0, 0] } else { [0, 0, 250] });
    let roi = Roi {
        x: 0.5,
        y: 0.0,
        w: 0.5,
        h: 1.0,
    };
    let p = Preprocessor::new(4, 4, Some(roi));
    let (t, _) = run(&p, FrameImage::Rgb(Arc::new(img.clone()))).unwrap();
    assert!(t[..16].iter().all(|v| *v == 0.0), "red plane {:?}", &t[..16]);
    assert!(t[32..].iter().all(|v| *v > 0.97), "blue plane {:?}", &t[32..]);
    let (tj, _) = run(&p, FrameImage::Jpeg(jpeg_of(&img, 95))).unwrap();
    let max = t.iter().zip(&tj).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
    assert!(max < 12.0 / 255.0, "jpeg vs rgb differ by {max}");
}

#[test]
fn scaled_decoding_is_chosen_by_size_and_stays_close_to_full_decoding() {
    let cases = [
        ((1280, 720), None, (224, 224)),
        ((1920, 1080), None, (224, 224)),
        ((3840, 2160), None, (224, 224)),
        ((448, 448), None, (224, 224)),
        ((640, 480), None, (224, 224)),
        ((320, 240), None, (224, 224)),
        ((10000, 10), None, (224, 224)),
        (
            (1920, 1080),
            Some(Roi {
                x: 0.25,
                y: 0.25,
                w: 0.5,
                h: 0.5,
            }),
            (224, 224),
        ),
        ((1280, 720), None, (96, 96)),
    ];
    let got: Vec<String> = cases
        .iter()
        .map(|(s, r, t)| format!("{s:?} roi={} -> {}", r.is_some(), scaled_decode_factor(*s, *r, *t)))
        .collect();
    expect_test::expect![[r#"
        (1280, 720) roi=false -> 2
        (1920, 1080) roi=false -> 4
        (3840, 2160) roi=false -> 8
        (448, 448) roi=false -> 2
        (640, 480) roi=false -> 2
        (320, 240) roi=false -> 1
        (10000, 10) roi=false -> 1
        (1920, 1080) roi=true -> 2
        (1280, 720) roi=false -> 4"#]]
    .assert_eq(&got.join("\n"));

    // A smooth 1280x720 picture: scaled and full decoding end within a few grey levels.
    let img = rgb(1280, 720, |x, y| [(x / 5) as u8, (y / 3) as u8, ((x + y) / 8) as u8]);
    let jpg = FrameImage::Jpeg(jpeg_of(&img, 90));
    let fast = Preprocessor::new(224, 224, None);
    let full = fast.clone().with_scaled_decoding(false);
    let (a, pa) = run(&fast, jpg.clone()).unwrap();
    let (b, pb) = run(&full, jpg).unwrap();
    assert_eq!((pa.reduction, pb.reduction), (2, 1));
    let max = a.iter().zip(&b).map(|(x, y)| (x - y).abs()).fold(0f32, f32::max);
    assert!(max < 6.0 / 255.0, "scaled vs full decoding differ by {max}");
}

#[test]
fn roi_rect_rounds_and_stays_inside() {
    let r = |x, y, w, h| Some(Roi { x, y, w, h });
    let cases = [
        ((100, 50), None),
        ((100, 50), r(0.1, 0.2, 0.5, 0.5)),
        ((100, 50), r(0.995, 0.0, 0.005, 1.0)),
        ((3, 3), r(0.0, 0.0, 0.1, 0.1)),
        ((1, 1), r(0.5, 0.5, 0.5, 0.5)),
    ];
    let got: Vec<String> = cases
        .iter()
        .map(|(s, roi)| {
            let q = roi_rect(*s, *roi);
            format!("{s:?} -> x{} y{} w{} h{}", q.x, q.y, q.width, q.height)
        })
        .collect();
    expect_test::expect![[r#"
        (100, 50) -> x0 y0 w100 h50
        (100, 50) -> x10 y10 w50 h25
        (100, 50) -> x99 y0 w1 h50
        (3, 3) -> x0 y0 w1 h1
        (1, 1) -> x0 y0 w1 h1"#]]
    .assert_eq(&got.join("\n"));
}

#[test]
fn fingerprint_is_equal_for_identical_frames_and_differs_for_noise() {
    let p = Preprocessor::new(64, 64, None);
    let base = |x: u32, y: u32| [(x * 2) as u8, (y * 2) as u8, 100];
    let a = rgb(128, 128, base);
    let noisy = rgb(128, 128, |x, y| {
        let [r, g, b] = base(x, y);
        // Deterministic "sensor noise" of +-2 levels.
        let n = ((x * 7 + y * 13) % 5) as u8;
        [r.saturating_add(n), g, b.saturating_sub(n)]
    });
    let (_, pa) = run(&p, FrameImage::Rgb(Arc::new(a.clone()))).unwrap();
    let (_, pa2) = run(&p, FrameImage::Rgb(Arc::new(a))).unwrap();
    let (_, pn) = run(&p, FrameImage::Rgb(Arc::new(noisy))).unwrap();
    assert_eq!(pa.fingerprint, pa2.fingerprint);
    assert_ne!(pa.fingerprint, pn.fingerprint);
}

#[test]
fn bad_frames_are_errors_with_a_kind() {
    let p = Preprocessor::new(32, 32, None);
    let good = jpeg_of(&rgb(64, 64, |x, y| [x as u8, y as u8, 7]), 85);
    let truncated = good.slice(..good.len() - 50);
    let bad_rgb = RgbImage {
        width: 10,
        height: 10,
        data: vec![0; 7],
    };
    let cases: Vec<(&str, FrameImage)> = vec![
        ("empty", FrameImage::Jpeg(Bytes::new())),
        ("truncated", FrameImage::Jpeg(truncated)),
        ("text", FrameImage::Jpeg(Bytes::from_static(b"hello world"))),
        ("bad rgb", FrameImage::Rgb(Arc::new(bad_rgb))),
    ];
    let got: Vec<String> = cases
        .into_iter()
        .map(|(name, img)| match run(&p, img) {
            Ok(_) => format!("{name}: accepted"),
            Err(e) => format!("{name}: {} ({e})", e.kind().as_str()),
        })
        .collect();
    expect_test::expect![[r#"
        empty: empty (empty input (0 bytes))
        truncated: truncated (truncated jpeg: image data runs to the end of the file (796 bytes) without an end-of-image marker)
        text: not_jpeg (not a jpeg: starts with bytes 68 65 6c 6c, expected ff d8)
        bad rgb: bad_size (rgb frame of 10x10 holds 7 bytes, expected 300)"#]]
    .assert_eq(&got.join("\n"));
}

#[test]
fn tiny_and_extreme_aspect_frames_are_scored_not_rejected() {
    let p = Preprocessor::new(224, 224, None);
    for (w, h) in [(1, 1), (10000, 10), (10, 3000)] {
        let img = rgb(w, h, |x, y| [(x % 256) as u8, (y % 256) as u8, 128]);
        let (t, prep) = run(&p, FrameImage::Jpeg(jpeg_of(&img, 85))).unwrap();
        assert!(t.iter().all(|v| (0.0..=1.0).contains(v)), "{w}x{h}");
        assert_eq!(prep.source_size, (w, h));
    }
}
