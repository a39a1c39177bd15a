//! Camera effects applied to still images to make them look like a printer
//! camera's frames over time: resize to the camera's size, brightness (slow
//! drift + per-frame flicker), a dark frame, a hand in view (skin-coloured
//! ellipses from an edge), a small camera shake (translation), and JPEG
//! re-compression (with a byte budget). OpenCV on BGR `Mat`s; blocking.

use opencv::core::{self as cv, Mat, MatTraitConst, Point, Scalar, Size, Vector};
use opencv::{imgcodecs, imgproc};

use super::rng::Rng;

fn cv_err(what: &str) -> impl Fn(opencv::Error) -> String + '_ {
    move |e| format!("{what}: {e}")
}

/// Reads an image file as BGR.
pub fn read(path: &std::path::Path) -> Result<Mat, String> {
    let m = imgcodecs::imread(path, imgcodecs::IMREAD_COLOR).map_err(cv_err("cannot read image"))?;
    if m.empty() {
        return Err(format!("{} is not a readable image", path.display()));
    }
    Ok(m)
}

/// Stretches to `w`×`h` (area interpolation when shrinking).
pub fn resize(m: &Mat, w: i32, h: i32) -> Result<Mat, String> {
    let mut out = Mat::default();
    let shrink = m.cols() >= w && m.rows() >= h;
    let interp = if shrink { imgproc::INTER_AREA } else { imgproc::INTER_LINEAR };
    imgproc::resize(m, &mut out, Size::new(w, h), 0.0, 0.0, interp).map_err(cv_err("resize"))?;
    Ok(out)
}

/// Multiplies every pixel by `gain` (saturating).
pub fn brightness(m: &Mat, gain: f64) -> Result<Mat, String> {
    let mut out = Mat::default();
    m.convert_to(&mut out, -1, gain, 0.0).map_err(cv_err("brightness"))?;
    Ok(out)
}

/// Shifts the picture by (dx, dy) pixels, repeating the border.
pub fn shake(m: &Mat, dx: f64, dy: f64) -> Result<Mat, String> {
    let t = Mat::from_slice_2d(&[[1.0f64, 0.0, dx], [0.0, 1.0, dy]]).map_err(cv_err("shake matrix"))?;
    let mut out = Mat::default();
    imgproc::warp_affine(
        m,
        &mut out,
        &t,
        m.size().map_err(cv_err("size"))?,
        imgproc::INTER_LINEAR,
        cv::BORDER_REPLICATE,
        Scalar::default(),
    )
    .map_err(cv_err("shake"))?;
    Ok(out)
}

/// A hand/arm entering from one edge: a large skin-coloured ellipse (the arm)
/// and a smaller one (the hand), with a darker edge, covering about `cover`
/// of the frame's width or height.
pub fn hand(m: &Mat, rng: &mut Rng, cover: f64) -> Result<Mat, String> {
    let mut out = m.clone();
    let (w, h) = (m.cols(), m.rows());
    let skin = [
        Scalar::new(110.0, 140.0, 190.0, 0.0),
        Scalar::new(95.0, 125.0, 175.0, 0.0),
        Scalar::new(140.0, 165.0, 210.0, 0.0),
    ][rng.int(0, 2) as usize];
    let shade = Scalar::new(skin[0] * 0.7, skin[1] * 0.7, skin[2] * 0.7, 0.0);
    let edge = rng.int(0, 3);
    let reach = cover.clamp(0.1, 0.7);
    let (arm_c, hand_c, angle) = match edge {
        0 => (Point::new((w as f64 * rng.range(0.2, 0.8)) as i32, 0), (0.0, h as f64 * reach), 90.0),
        1 => (Point::new(w, (h as f64 * rng.range(0.2, 0.8)) as i32), (-(w as f64) * reach, 0.0), 0.0),
        2 => (Point::new((w as f64 * rng.range(0.2, 0.8)) as i32, h), (0.0, -(h as f64) * reach), 90.0),
        _ => (Point::new(0, (h as f64 * rng.range(0.2, 0.8)) as i32), (w as f64 * reach, 0.0), 0.0),
    };
    let len = (w.max(h) as f64 * reach) as i32;
    let thick = (w.min(h) as f64 * rng.range(0.12, 0.2)) as i32;
    let hand_at = Point::new(arm_c.x + hand_c.0 as i32, arm_c.y + hand_c.1 as i32);
    let draw = |img: &mut Mat, c: Point, axes: Size, color: Scalar| {
        imgproc::ellipse(img, c, axes, angle, 0.0, 360.0, color, -1, imgproc::LINE_AA, 0).map_err(cv_err("hand"))
    };
    draw(&mut out, arm_c, Size::new(len, thick + 3), shade)?;
    draw(&mut out, arm_c, Size::new(len, thick), skin)?;
    draw(&mut out, hand_at, Size::new(thick + 6, (thick as f64 * 1.3) as i32 + 3), shade)?;
    draw(&mut out, hand_at, Size::new(thick + 3, (thick as f64 * 1.3) as i32), skin)?;
    let mut blurred = Mat::default();
    imgproc::gaussian_blur(&out, &mut blurred, Size::new(5, 5), 0.0, 0.0, cv::BORDER_DEFAULT)
        .map_err(cv_err("blur"))?;
    Ok(blurred)
}

/// Encodes as JPEG at `quality`, lowering it in steps of 5 (down to 20) until
/// the bytes fit `max_bytes` (0 = no limit). Returns the bytes and the quality used.
pub fn jpeg(m: &Mat, quality: i32, max_bytes: usize) -> Result<(Vec<u8>, i32), String> {
    let mut q = quality.clamp(5, 100);
    loop {
        let mut buf = Vector::<u8>::new();
        let params =
            Vector::<i32>::from_slice(&[imgcodecs::IMWRITE_JPEG_QUALITY, q, imgcodecs::IMWRITE_JPEG_OPTIMIZE, 1]);
        imgcodecs::imencode(".jpg", m, &mut buf, &params).map_err(cv_err("jpeg encode"))?;
        if max_bytes == 0 || buf.len() <= max_bytes || q <= 20 {
            return Ok((buf.as_slice().to_vec(), q));
        }
        q -= 5;
    }
}

/// Decodes JPEG bytes back (JPEG re-compression of an already compressed frame).
pub fn decode(bytes: &[u8]) -> Result<Mat, String> {
    let buf = Vector::<u8>::from_slice(bytes);
    let m = imgcodecs::imdecode(&buf, imgcodecs::IMREAD_COLOR).map_err(cv_err("jpeg decode"))?;
    if m.empty() { Err("cannot decode".into()) } else { Ok(m) }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mean(m: &Mat) -> f64 {
        let s = cv::mean(m, &cv::no_array()).unwrap();
        (s[0] + s[1] + s[2]) / 3.0
    }

    #[test]
    fn effects_change_what_they_should() {
        let m = Mat::new_rows_cols_with_default(120, 160, cv::CV_8UC3, Scalar::new(100.0, 100.0, 100.0, 0.0)).unwrap();
        assert!((mean(&brightness(&m, 0.5).unwrap()) - 50.0).abs() < 1.0);
        let r = resize(&m, 64, 48).unwrap();
        assert_eq!((r.cols(), r.rows()), (64, 48));
        let mut rng = Rng::new(1);
        let h = hand(&m, &mut rng, 0.4).unwrap();
        assert!(mean(&h) > 105.0, "skin is brighter than the grey test card: {}", mean(&h));
        let (big, q) = jpeg(&m, 90, 0).unwrap();
        assert_eq!(q, 90);
        let (_, q2) = jpeg(&h, 95, 600).unwrap();
        assert!(q2 < 95);
        assert_eq!(decode(&big).unwrap().cols(), 160);
        assert_eq!(shake(&m, 3.0, -2.0).unwrap().rows(), 120);
    }
}
