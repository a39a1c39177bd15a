//! The little OpenCV glue capture needs: a decoded OpenCV image (`Mat`, BGR,
//! BGRA or grey) to a packed `RgbImage`, and decoding image files (PNG, BMP,
//! WebP, TIFF) after their header passed `images::check_header`, so no
//! decoder ever allocates for an image over the pixel limit. Blocking: call
//! from a blocking thread.

use opencv::core::{CV_8UC1, CV_8UC3, CV_8UC4, Mat};
use opencv::prelude::*;
use opencv::{imgcodecs, imgproc};

use crate::domain::RgbImage;

/// Converts an 8-bit BGR, BGRA or grey `Mat` to packed RGB.
pub fn mat_to_rgb(mat: &Mat) -> Result<RgbImage, String> {
    let code = match mat.typ() {
        t if t == CV_8UC3 => imgproc::COLOR_BGR2RGB,
        t if t == CV_8UC4 => imgproc::COLOR_BGRA2RGB,
        t if t == CV_8UC1 => imgproc::COLOR_GRAY2RGB,
        t => return Err(format!("unsupported pixel type {t} (want 8-bit grey, BGR or BGRA)")),
    };
    let (w, h) = (mat.cols(), mat.rows());
    if w <= 0 || h <= 0 {
        return Err("empty image".into());
    }
    let mut rgb = Mat::default();
    imgproc::cvt_color(mat, &mut rgb, code, 0).map_err(|e| format!("colour conversion failed: {e}"))?;
    let data = rgb.data_bytes().map_err(|e| format!("cannot read pixels: {e}"))?.to_vec();
    RgbImage::new(w as u32, h as u32, data).ok_or_else(|| format!("unexpected pixel buffer size for {w}x{h}"))
}

/// Decodes an encoded image (PNG, BMP, WebP, TIFF, JPEG) to RGB, refusing from
/// its header alone an unknown format or more than `max_pixels` pixels.
pub fn decode_to_rgb(encoded: &[u8], max_pixels: u64) -> Result<RgbImage, String> {
    crate::images::check_header(encoded, max_pixels).map_err(|e| e.to_string())?;
    let mat = imgcodecs::imdecode(&encoded, imgcodecs::IMREAD_COLOR).map_err(|e| format!("cannot decode: {e}"))?;
    if mat.empty() {
        return Err("cannot decode image".into());
    }
    mat_to_rgb(&mat)
}

#[cfg(test)]
mod tests {
    use opencv::core::{Scalar, Vector};

    use super::*;

    #[test]
    fn bgr_becomes_rgb() {
        let mat = Mat::new_rows_cols_with_default(2, 3, CV_8UC3, Scalar::new(10.0, 20.0, 30.0, 0.0)).unwrap();
        let rgb = mat_to_rgb(&mat).unwrap();
        assert_eq!((rgb.width, rgb.height), (3, 2));
        assert_eq!(&rgb.data[..3], &[30, 20, 10]);
    }

    #[test]
    fn png_round_trip_and_garbage() {
        let mat = Mat::new_rows_cols_with_default(4, 5, CV_8UC3, Scalar::new(1.0, 2.0, 3.0, 0.0)).unwrap();
        let mut png = Vector::<u8>::new();
        assert!(imgcodecs::imencode(".png", &mat, &mut png, &Vector::new()).unwrap());
        let rgb = decode_to_rgb(png.as_slice(), 20).unwrap();
        assert_eq!((rgb.width, rgb.height, &rgb.data[..3]), (5, 4, &[3u8, 2, 1][..]));
        let e = decode_to_rgb(png.as_slice(), 19).unwrap_err();
        assert!(e.contains("5x4 = 20 pixels, over the limit of 19"), "{e}");
        assert!(decode_to_rgb(b"\x89PNG\r\n\x1a\nbroken", 20).is_err());
        assert!(decode_to_rgb(b"", 20).is_err());
    }
}
