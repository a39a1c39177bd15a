//! Alert snapshots: the frame with the verdict drawn on it (a coloured border
//! by level, and a banner with the score, the failure kind, the layer and the
//! time; with a calibrated camera, the current layer's expected outline, the
//! print's region of interest and a geometry finding's region), re-encoded as
//! JPEG with OpenCV.
//!
//! CPU work: callers run `annotate` on the blocking pool, never on the runtime.

use opencv::core::{Mat, MatTraitConst, Point, Rect, Scalar, Vec3b, Vector};
use opencv::prelude::VectorToVec;
use opencv::{imgcodecs, imgproc};

use crate::domain::{FrameImage, Level, Overlay, Roi};

/// What to draw.
#[derive(Debug, Clone, PartialEq)]
pub struct Annotation {
    pub level: Level,
    /// The smoothed score (0..=1) shown as `0.91`.
    pub score: f32,
    /// `spaghetti`, `camera frozen`…
    pub label: String,
    pub layer: Option<u32>,
    pub layer_count: Option<u32>,
    /// Free text for the second line (printer name, time).
    pub detail: String,
    /// The expected print (current layer's outline, region of interest), with a calibrated camera.
    pub overlay: Option<std::sync::Arc<Overlay>>,
    /// The region a geometry finding is about (full-frame pixels).
    pub region: Option<Roi>,
}

/// Cyan (BGR): the expected outline.
const OUTLINE: (f64, f64, f64) = (255.0, 230.0, 0.0);
/// Yellow (BGR): the print's region of interest.
const ROI: (f64, f64, f64) = (0.0, 220.0, 255.0);

/// Draws the expected outline, the region of interest and the finding's region, scaled to the frame.
fn draw_overlay(img: &mut Mat, a: &Annotation, thick: i32) -> Result<(), SnapshotError> {
    let (w, h) = (img.cols(), img.rows());
    let scalar = |c: (f64, f64, f64)| Scalar::new(c.0, c.1, c.2, 0.0);
    let scale = |ow: u32, oh: u32| (f64::from(w) / f64::from(ow.max(1)), f64::from(h) / f64::from(oh.max(1)));
    let rect = |r: &Roi, (sx, sy): (f64, f64)| {
        Rect::new(
            (f64::from(r.x) * sx).round() as i32,
            (f64::from(r.y) * sy).round() as i32,
            ((f64::from(r.width) * sx).round() as i32).max(1),
            ((f64::from(r.height) * sy).round() as i32).max(1),
        )
    };
    if let Some(o) = &a.overlay {
        let s = scale(o.width, o.height);
        if let Some(r) = &o.roi {
            imgproc::rectangle(img, rect(r, s), scalar(ROI), thick.max(1), imgproc::LINE_8, 0).map_err(cv("roi"))?;
        }
        for [p, q] in &o.outline {
            let pt = |v: &[f32; 2]| {
                Point::new((f64::from(v[0]) * s.0).round() as i32, (f64::from(v[1]) * s.1).round() as i32)
            };
            imgproc::line(img, pt(p), pt(q), scalar(OUTLINE), thick.max(1), imgproc::LINE_AA, 0)
                .map_err(cv("outline"))?;
        }
    }
    if let Some(r) = &a.region {
        let s = a.overlay.as_ref().map_or((1.0, 1.0), |o| scale(o.width, o.height));
        imgproc::rectangle(img, rect(r, s), colour(a.level), (thick * 2).max(2), imgproc::LINE_8, 0)
            .map_err(cv("region"))?;
    }
    Ok(())
}

/// Why a snapshot could not be made.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    #[error("frame is not a readable image ({0} bytes)")]
    Undecodable(usize),
    #[error("opencv {op}: {source}")]
    Cv { op: &'static str, source: opencv::Error },
}

fn cv(op: &'static str) -> impl Fn(opencv::Error) -> SnapshotError {
    move |source| SnapshotError::Cv { op, source }
}

/// BGR colour of a level.
fn colour(level: Level) -> Scalar {
    match level {
        Level::Failure => Scalar::new(0.0, 0.0, 230.0, 0.0),
        Level::Warning => Scalar::new(0.0, 170.0, 255.0, 0.0),
        Level::Ok => Scalar::new(60.0, 180.0, 75.0, 0.0),
    }
}

/// Hershey fonts draw ASCII only.
fn ascii(s: &str) -> String {
    s.chars().map(|c| if c.is_ascii() && !c.is_ascii_control() { c } else { '?' }).collect()
}

/// Decodes the frame to a BGR matrix.
pub fn decode(image: &FrameImage) -> Result<Mat, SnapshotError> {
    match image {
        FrameImage::Jpeg(bytes) => {
            let buf = Mat::from_slice(bytes.as_ref()).map_err(cv("wrap buffer"))?;
            let m = imgcodecs::imdecode(&buf, imgcodecs::IMREAD_COLOR).map_err(cv("imdecode"))?;
            if m.empty() { Err(SnapshotError::Undecodable(bytes.len())) } else { Ok(m) }
        }
        FrameImage::Rgb(img) => {
            let rgb = Mat::new_rows_cols_with_bytes::<Vec3b>(img.height as i32, img.width as i32, &img.data)
                .map_err(cv("wrap rgb"))?;
            let mut bgr = Mat::default();
            imgproc::cvt_color_def(&rgb, &mut bgr, imgproc::COLOR_RGB2BGR).map_err(cv("rgb to bgr"))?;
            Ok(bgr)
        }
    }
}

/// Draws `a` on the frame and returns a JPEG of `quality` (1–100).
pub fn annotate(image: &FrameImage, a: &Annotation, quality: u8) -> Result<Vec<u8>, SnapshotError> {
    let mut img = decode(image)?;
    let (w, h) = (img.cols(), img.rows());
    let short = w.min(h).max(1);
    let col = colour(a.level);

    let border = (short / 60).max(3);
    imgproc::rectangle(
        &mut img,
        Rect::new(border / 2, border / 2, (w - border).max(1), (h - border).max(1)),
        col,
        border,
        imgproc::LINE_8,
        0,
    )
    .map_err(cv("border"))?;

    let font = imgproc::FONT_HERSHEY_SIMPLEX;
    let scale = (f64::from(w) / 640.0 * 0.6).clamp(0.35, 2.5);
    let thick = ((scale * 2.0).round() as i32).max(1);
    draw_overlay(&mut img, a, (short / 240).max(1))?;
    let level = match a.level {
        Level::Failure => "FAILURE",
        Level::Warning => "WARNING",
        Level::Ok => "OK",
    };
    let mut line1 = format!("{level} {} {:.2}", ascii(&a.label), a.score);
    match (a.layer, a.layer_count) {
        (Some(l), Some(n)) => line1.push_str(&format!("  layer {}/{n}", l + 1)),
        (Some(l), None) => line1.push_str(&format!("  layer {}", l + 1)),
        _ => {}
    }
    let line2 = ascii(&a.detail);
    let mut base = 0;
    let size = imgproc::get_text_size(&line1, font, scale, thick, &mut base).map_err(cv("text size"))?;
    let line_h = size.height + base + thick * 2;
    let lines = if line2.is_empty() { 1 } else { 2 };
    let pad = (line_h / 3).max(2);
    let banner_h = (line_h * lines + pad * 2).min(h - border);
    imgproc::rectangle(
        &mut img,
        Rect::new(border, border, (w - 2 * border).max(1), banner_h.max(1)),
        Scalar::new(20.0, 20.0, 20.0, 0.0),
        imgproc::FILLED,
        imgproc::LINE_8,
        0,
    )
    .map_err(cv("banner"))?;
    let x = border + pad;
    let y1 = border + pad + size.height;
    imgproc::put_text(&mut img, &line1, Point::new(x, y1), font, scale, col, thick, imgproc::LINE_AA, false)
        .map_err(cv("text"))?;
    if !line2.is_empty() {
        let white = Scalar::new(235.0, 235.0, 235.0, 0.0);
        let t2 = (thick - 1).max(1);
        imgproc::put_text(
            &mut img,
            &line2,
            Point::new(x, y1 + line_h),
            font,
            scale * 0.85,
            white,
            t2,
            imgproc::LINE_AA,
            false,
        )
        .map_err(cv("text"))?;
    }
    encode_jpeg(&img, quality)
}

/// Encodes a BGR matrix as JPEG.
pub fn encode_jpeg(img: &Mat, quality: u8) -> Result<Vec<u8>, SnapshotError> {
    let mut out = Vector::<u8>::new();
    let params = Vector::from_slice(&[imgcodecs::IMWRITE_JPEG_QUALITY, i32::from(quality.clamp(1, 100))]);
    imgcodecs::imencode(".jpg", img, &mut out, &params).map_err(cv("imencode"))?;
    Ok(out.to_vec())
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use opencv::core::Vec3b;

    use super::*;
    use crate::domain::RgbImage;

    fn grey_frame(w: u32, h: u32) -> FrameImage {
        FrameImage::Rgb(Arc::new(RgbImage::new(w, h, vec![128; (w * h * 3) as usize]).unwrap()))
    }

    fn pixel(jpeg: &[u8], x: i32, y: i32) -> [u8; 3] {
        let m = decode(&FrameImage::Jpeg(jpeg.to_vec().into())).unwrap();
        let p: &Vec3b = m.at_2d(y, x).unwrap();
        [p[0], p[1], p[2]]
    }

    #[test]
    fn draws_a_red_border_and_a_banner_on_failures() {
        let a = Annotation {
            level: Level::Failure,
            score: 0.91,
            label: "spaghetti".into(),
            layer: Some(12),
            layer_count: Some(40),
            detail: "Prusa 16:49".into(),
            overlay: None,
            region: None,
        };
        let jpeg = annotate(&grey_frame(640, 480), &a, 90).unwrap();
        assert_eq!(&jpeg[..2], &[0xFF, 0xD8], "a JPEG");
        let [b, g, r] = pixel(&jpeg, 320, 478);
        assert!(r > 180 && g < 60 && b < 60, "bottom border is red: {:?}", [b, g, r]);
        let [b, g, r] = pixel(&jpeg, 620, 14);
        assert!(r < 50 && g < 50 && b < 50, "banner is dark: {:?}", [b, g, r]);
        let [b, g, r] = pixel(&jpeg, 320, 300);
        assert!((110..150).contains(&r) && (110..150).contains(&g) && (110..150).contains(&b), "picture kept");
    }

    #[test]
    fn draws_the_expected_outline_and_the_region_of_interest() {
        let overlay = Overlay {
            layer: 3,
            width: 320,
            height: 240,
            outline: vec![[[100.0, 200.0], [220.0, 200.0]]],
            roi: Some(Roi { x: 80, y: 120, width: 160, height: 100 }),
        };
        let a = Annotation {
            level: Level::Failure,
            score: 0.9,
            label: "missing material".into(),
            layer: Some(3),
            layer_count: Some(27),
            detail: String::new(),
            overlay: Some(Arc::new(overlay)),
            region: None,
        };
        // Drawn at twice the overlay's size: the coordinates scale with the frame.
        let jpeg = annotate(&grey_frame(640, 480), &a, 95).unwrap();
        let [b, g, r] = pixel(&jpeg, 320, 400);
        assert!(b > 200 && g > 180 && r < 80, "outline is cyan: {:?}", [b, g, r]);
        let [b, g, r] = pixel(&jpeg, 160, 330);
        assert!(r > 200 && g > 180 && b < 80, "the region of interest's left side is yellow: {:?}", [b, g, r]);
        let [b, g, r] = pixel(&jpeg, 320, 300);
        assert!((110..150).contains(&r) && (110..150).contains(&g) && (110..150).contains(&b), "inside untouched");
    }

    #[test]
    fn round_trips_a_real_jpeg_and_refuses_garbage() {
        let src = encode_jpeg(&decode(&grey_frame(320, 240)).unwrap(), 80).unwrap();
        let a = Annotation {
            level: Level::Warning,
            score: 0.5,
            label: "stringing".into(),
            layer: None,
            layer_count: None,
            detail: String::new(),
            overlay: None,
            region: None,
        };
        let out = annotate(&FrameImage::Jpeg(src.into()), &a, 80).unwrap();
        let m = decode(&FrameImage::Jpeg(out.into())).unwrap();
        assert_eq!((m.cols(), m.rows()), (320, 240));
        let err = annotate(&FrameImage::Jpeg(b"not a jpeg".to_vec().into()), &a, 80).unwrap_err();
        assert_eq!(err.to_string(), "frame is not a readable image (10 bytes)");
    }
}
