//! The geometry checks' grey frames from camera pictures: a JPEG (checked
//! whole first, as for the classifier) or an RGB frame, turned to grey (BT.601
//! luma) and box-filtered down to the checks' mask (`geometry::Grey`). The
//! daemon (frames from the camera) and `eval` (frames from files) read frames
//! for the checks only through [`grey_for_checks`], so both judge the same
//! pixels. Also [`crop`]: the expected print's region as an RGB frame, for the
//! classifier's second pass. JPEGs are decoded by `turbo` (libjpeg-turbo, corrupt
//! data refused). CPU work: callers run both off the async runtime.

use super::jpeg::{self, JpegError};
use super::turbo::{self, Layout};
use crate::domain::FrameImage;
use crate::geometry::Grey;

/// Why a frame cannot be read for the checks.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum GreyError {
    #[error(transparent)]
    Jpeg(#[from] JpegError),
    #[error("cannot decode the frame: {0}")]
    Decoder(String),
    #[error("frame is {width}x{height} but the camera file is calibrated for {}x{}", calibrated.0, calibrated.1)]
    WrongSize { width: u32, height: u32, calibrated: (u32, u32) },
    #[error("frame smaller than the check's mask")]
    TooSmall,
}

/// `image` as the checks read it: grey, `mask` pixels; it must be the calibrated frame size.
pub fn grey_for_checks(image: &FrameImage, calibrated: (u32, u32), mask: (u32, u32)) -> Result<Grey, GreyError> {
    let check = |width: u32, height: u32| {
        if (width, height) == calibrated { Ok(()) } else { Err(GreyError::WrongSize { width, height, calibrated }) }
    };
    match image {
        FrameImage::Jpeg(bytes) => {
            let info = jpeg::inspect(bytes)?;
            check(info.width, info.height)?;
            let px = turbo::decode(bytes, (info.width, info.height), 1, Layout::Grey)?;
            Grey::downscale(px.width, px.height, 1, &px.data, mask.0, mask.1).ok_or(GreyError::TooSmall)
        }
        FrameImage::Rgb(img) => {
            check(img.width, img.height)?;
            if img.data.len() != img.width as usize * img.height as usize * 3 {
                return Err(GreyError::Decoder("rgb frame of the wrong length".into()));
            }
            // The same BT.601 weights `Grey::downscale` applies to BGR.
            let luma: Vec<u8> = img
                .data
                .chunks_exact(3)
                .map(|p| ((u32::from(p[0]) * 77 + u32::from(p[1]) * 150 + u32::from(p[2]) * 29) >> 8) as u8)
                .collect();
            Grey::downscale(img.width, img.height, 1, &luma, mask.0, mask.1).ok_or(GreyError::TooSmall)
        }
    }
}

/// The part `roi` (pixels of a `frame`-sized picture, clipped to it) of `image`,
/// as an RGB frame the classifier takes as is: the print's crop for the second
/// pass. A picture of another size is refused (the region would be elsewhere).
pub fn crop(
    image: &FrameImage,
    roi: crate::domain::Roi,
    frame: (u32, u32),
) -> Result<crate::domain::RgbImage, GreyError> {
    let decoded;
    let (w, h, rgb): (u32, u32, &[u8]) = match image {
        FrameImage::Jpeg(bytes) => {
            let info = jpeg::inspect(bytes)?;
            decoded = turbo::decode(bytes, (info.width, info.height), 1, Layout::Rgb)?;
            (decoded.width, decoded.height, &decoded.data)
        }
        FrameImage::Rgb(img) => {
            if img.data.len() != img.width as usize * img.height as usize * 3 {
                return Err(GreyError::Decoder("rgb frame of the wrong length".into()));
            }
            (img.width, img.height, &img.data)
        }
    };
    if (w, h) != frame {
        return Err(GreyError::WrongSize { width: w, height: h, calibrated: frame });
    }
    let x0 = roi.x.min(w.saturating_sub(1));
    let y0 = roi.y.min(h.saturating_sub(1));
    let cw = roi.width.min(w - x0).max(1);
    let ch = roi.height.min(h - y0).max(1);
    let row = 3 * w as usize;
    let mut data = Vec::with_capacity(3 * cw as usize * ch as usize);
    for y in y0..y0 + ch {
        let start = y as usize * row + 3 * x0 as usize;
        data.extend_from_slice(&rgb[start..start + 3 * cw as usize]);
    }
    crate::domain::RgbImage::new(cw, ch, data).ok_or_else(|| GreyError::Decoder("crop of the wrong length".into()))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use opencv::core::Mat;
    use opencv::imgcodecs;
    use opencv::prelude::VectorToVec;

    use super::*;
    use crate::domain::RgbImage;

    #[test]
    fn rgb_and_jpeg_frames_read_alike_and_the_size_is_checked() {
        // Left half bright, right half dark, 64×48.
        let mut data = vec![];
        for _y in 0..48 {
            for x in 0..64 {
                let v = if x < 32 { 220 } else { 30 };
                data.extend([v, v, v]);
            }
        }
        let rgb = FrameImage::Rgb(Arc::new(RgbImage::new(64, 48, data.clone()).unwrap()));
        let g = grey_for_checks(&rgb, (64, 48), (16, 12)).unwrap();
        assert_eq!((g.width, g.height), (16, 12));
        assert!(g.get(2, 5) > 200 && g.get(13, 5) < 50, "{:?}", g.data);
        let mut m =
            Mat::new_rows_cols_with_default(48, 64, opencv::core::CV_8UC3, opencv::core::Scalar::all(30.0)).unwrap();
        let white = opencv::core::Scalar::all(220.0);
        opencv::imgproc::rectangle(&mut m, opencv::core::Rect::new(0, 0, 32, 48), white, -1, 8, 0).unwrap();
        let mut jpeg = opencv::core::Vector::<u8>::new();
        imgcodecs::imencode(".jpg", &m, &mut jpeg, &opencv::core::Vector::new()).unwrap();
        let j = FrameImage::Jpeg(jpeg.to_vec().into());
        let gj = grey_for_checks(&j, (64, 48), (16, 12)).unwrap();
        assert!(g.data.iter().zip(&gj.data).all(|(a, b)| a.abs_diff(*b) <= 6), "{:?} vs {:?}", g.data, gj.data);
        let e = grey_for_checks(&rgb, (640, 480), (160, 120)).unwrap_err();
        assert_eq!(e.to_string(), "frame is 64x48 but the camera file is calibrated for 640x480");
        assert!(matches!(
            grey_for_checks(&FrameImage::Jpeg(b"nope".to_vec().into()), (64, 48), (16, 12)),
            Err(GreyError::Jpeg(_))
        ));
        // The crop for the classifier's second pass: the bright half only, clipped to the frame.
        let c = crop(&j, crate::domain::Roi { x: 4, y: 8, width: 20, height: 100 }, (64, 48)).unwrap();
        assert!(crop(&j, crate::domain::Roi { x: 4, y: 8, width: 20, height: 10 }, (640, 480)).is_err());
        assert_eq!((c.width, c.height), (20, 40));
        assert!(c.data.iter().all(|v| *v > 190), "only the bright half");
    }
}
