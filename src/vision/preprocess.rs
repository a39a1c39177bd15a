//! Frame pixels to the model's input tensor, the same way the training side does it.
//!
//! Owns: JPEG validation (the marker walk, `jpeg`) and decoding to RGB with
//! libjpeg-turbo (`turbo`: scaled decoding when the frame is much bigger than
//! the model needs; corrupt data is an error), the optional
//! region-of-interest crop, the stretch resize (`INTER_AREA` when shrinking,
//! `INTER_LINEAR` otherwise, as `training/common.py::stretch_resize`), and the
//! RGB/255 NCHW float tensor; plus the region's mean brightness and a
//! fingerprint of a tiny downscale for camera-health checks. Pure: no I/O, no
//! clock except the stage timings it reports, no model.

use std::sync::Arc;
use std::time::{Duration, Instant};

use opencv::core::{Mat, MatTraitConst, MatTraitConstManual, Rect, Size, Vec3b};
use opencv::imgproc;

use super::config::Roi;
use super::jpeg::{self, JpegError};
use super::turbo;
use crate::domain::{FrameImage, RgbImage};

/// Side of the tiny downscale the fingerprint hashes.
const FINGERPRINT_SIDE: i32 = 16;

/// Why a frame could not be turned into a tensor.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PreprocessError {
    #[error(transparent)]
    Jpeg(#[from] JpegError),
    #[error("decoder failed: {0}")]
    Decoder(String),
    #[error("rgb frame of {width}x{height} holds {len} bytes, expected {expected}")]
    BadRgb {
        width: u32,
        height: u32,
        len: usize,
        expected: usize,
    },
    #[error("unsupported image format ({0})")]
    Unsupported(String),
}

/// A closed classification of decode failures, for counting and reporting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DecodeKind {
    Empty,
    NotJpeg,
    Truncated,
    Corrupt,
    BadSize,
    Decoder,
    Unsupported,
    Unreadable,
}

impl DecodeKind {
    /// Stable lower-case name (`truncated`, `empty`…) for logs, JSON and summaries.
    pub fn as_str(self) -> &'static str {
        match self {
            DecodeKind::Empty => "empty",
            DecodeKind::NotJpeg => "not_jpeg",
            DecodeKind::Truncated => "truncated",
            DecodeKind::Corrupt => "corrupt",
            DecodeKind::BadSize => "bad_size",
            DecodeKind::Decoder => "decoder",
            DecodeKind::Unsupported => "unsupported",
            DecodeKind::Unreadable => "unreadable",
        }
    }
}

impl PreprocessError {
    pub fn kind(&self) -> DecodeKind {
        match self {
            PreprocessError::Jpeg(JpegError::Empty) => DecodeKind::Empty,
            PreprocessError::Jpeg(JpegError::NotJpeg(_)) => DecodeKind::NotJpeg,
            PreprocessError::Jpeg(JpegError::Truncated(_)) => DecodeKind::Truncated,
            PreprocessError::Jpeg(JpegError::Corrupt { .. }) => DecodeKind::Corrupt,
            PreprocessError::Jpeg(JpegError::BadSize { .. }) => DecodeKind::BadSize,
            PreprocessError::Jpeg(JpegError::Decode(_)) => DecodeKind::Corrupt,
            PreprocessError::BadRgb { .. } => DecodeKind::BadSize,
            PreprocessError::Decoder(_) => DecodeKind::Decoder,
            PreprocessError::Unsupported(_) => DecodeKind::Unsupported,
        }
    }
}

fn cv_err(what: &str) -> impl Fn(opencv::Error) -> PreprocessError + '_ {
    move |e| PreprocessError::Decoder(format!("{what}: {e}"))
}

/// Decoded pixels, still at (about) the source resolution.
pub struct Decoded {
    pixels: Pixels,
    /// Size the frame had before scaled decoding.
    pub source_size: (u32, u32),
    /// 1, 2, 4 or 8: libjpeg's scale-down factor used when decoding.
    pub reduction: u32,
}

enum Pixels {
    /// libjpeg-turbo's output, RGB, owned.
    Decoded(turbo::Pixels),
    /// The frame's RGB buffer, shared, not copied.
    Rgb(Arc<RgbImage>),
}

impl Decoded {
    /// Width and height of the decoded pixels.
    pub fn size(&self) -> (u32, u32) {
        match &self.pixels {
            Pixels::Decoded(p) => (p.width, p.height),
            Pixels::Rgb(img) => (img.width, img.height),
        }
    }

    /// The RGB bytes, rows packed.
    fn rgb(&self) -> &[u8] {
        match &self.pixels {
            Pixels::Decoded(p) => &p.data,
            Pixels::Rgb(img) => &img.data,
        }
    }
}

/// The region of interest stretched to the model's input size, still 8-bit RGB.
pub struct Resized {
    mat: Mat,
}

/// Side products of preparing one frame.
#[derive(Debug, Clone, PartialEq)]
pub struct Prepared {
    /// Mean Rec. 601 luma of the resized region, 0..=255.
    pub brightness: f32,
    /// FNV-1a hash of a 16×16 RGB downscale of the region: equal for identical pictures.
    pub fingerprint: u64,
    pub source_size: (u32, u32),
    pub reduction: u32,
    pub decode_time: Duration,
    pub resize_time: Duration,
    pub tensor_time: Duration,
}

/// Turns frames into the model's `[3, H, W]` RGB/255 input. Cheap to build; reusable.
#[derive(Debug, Clone)]
pub struct Preprocessor {
    width: u32,
    height: u32,
    roi: Option<Roi>,
    scaled_decoding: bool,
    lut: [f32; 256],
}

impl Preprocessor {
    /// `width`×`height` is the model input; `roi` is in fractions of the frame.
    pub fn new(width: u32, height: u32, roi: Option<Roi>) -> Self {
        let mut lut = [0f32; 256];
        for (i, v) in lut.iter_mut().enumerate() {
            *v = i as f32 / 255.0;
        }
        Preprocessor {
            width: width.max(1),
            height: height.max(1),
            roi,
            scaled_decoding: true,
            lut,
        }
    }

    /// Turns libjpeg's scaled decoding off (full-size decode, as the Python training code does).
    pub fn with_scaled_decoding(mut self, on: bool) -> Self {
        self.scaled_decoding = on;
        self
    }

    pub fn input_size(&self) -> (u32, u32) {
        (self.width, self.height)
    }

    /// Number of floats one frame occupies in the input tensor.
    pub fn tensor_len(&self) -> usize {
        3 * self.width as usize * self.height as usize
    }

    /// Decode, crop, resize and write the tensor into `out` (`tensor_len()` floats).
    pub fn prepare(&self, image: &FrameImage, out: &mut [f32]) -> Result<Prepared, PreprocessError> {
        let t0 = Instant::now();
        let decoded = self.decode(image)?;
        let t1 = Instant::now();
        let resized = self.resize(&decoded)?;
        let t2 = Instant::now();
        let (brightness, fingerprint) = self.write_tensor(&resized, out)?;
        let t3 = Instant::now();
        Ok(Prepared {
            brightness,
            fingerprint,
            source_size: decoded.source_size,
            reduction: decoded.reduction,
            decode_time: t1 - t0,
            resize_time: t2 - t1,
            tensor_time: t3 - t2,
        })
    }

    /// Validates and decodes a JPEG (scaled when possible); RGB frames pass through.
    pub fn decode(&self, image: &FrameImage) -> Result<Decoded, PreprocessError> {
        match image {
            FrameImage::Rgb(img) => {
                let expected = img.width as usize * img.height as usize * 3;
                if img.data.len() != expected || img.width == 0 || img.height == 0 {
                    return Err(PreprocessError::BadRgb {
                        width: img.width,
                        height: img.height,
                        len: img.data.len(),
                        expected,
                    });
                }
                Ok(Decoded {
                    pixels: Pixels::Rgb(img.clone()),
                    source_size: (img.width, img.height),
                    reduction: 1,
                })
            }
            FrameImage::Jpeg(bytes) => {
                let info = jpeg::inspect(bytes)?;
                let reduction = if self.scaled_decoding {
                    scaled_decode_factor((info.width, info.height), self.roi, (self.width, self.height))
                } else {
                    1
                };
                let px = turbo::decode(bytes, (info.width, info.height), reduction, turbo::Layout::Rgb)?;
                Ok(Decoded {
                    pixels: Pixels::Decoded(px),
                    source_size: (info.width, info.height),
                    reduction,
                })
            }
        }
    }

    /// Crops the region of interest and stretches it to the model's input size.
    pub fn resize(&self, decoded: &Decoded) -> Result<Resized, PreprocessError> {
        let (w, h) = decoded.size();
        let rect = roi_rect((w, h), self.roi);
        let size = Size::new(self.width as i32, self.height as i32);
        let interp = if rect.width as u32 >= self.width && rect.height as u32 >= self.height {
            imgproc::INTER_AREA
        } else {
            imgproc::INTER_LINEAR
        };
        let mut dst = Mat::default();
        // The decoded (or the frame's) RGB bytes, wrapped without a copy; the crop is a view.
        let full = Mat::new_rows_cols_with_bytes::<Vec3b>(h as i32, w as i32, decoded.rgb())
            .map_err(cv_err("wrap rgb pixels"))?;
        let src = full.roi(rect).map_err(cv_err("crop"))?;
        imgproc::resize(&src, &mut dst, size, 0.0, 0.0, interp).map_err(cv_err("resize"))?;
        Ok(Resized { mat: dst })
    }

    /// Writes RGB/255 planes into `out`; returns (brightness, fingerprint).
    pub fn write_tensor(&self, resized: &Resized, out: &mut [f32]) -> Result<(f32, u64), PreprocessError> {
        let plane = self.width as usize * self.height as usize;
        if out.len() != 3 * plane {
            return Err(PreprocessError::Decoder(format!(
                "tensor buffer of {} floats, need {}",
                out.len(),
                3 * plane
            )));
        }
        let px = resized.mat.data_bytes().map_err(cv_err("resized pixels"))?;
        if px.len() != 3 * plane {
            return Err(PreprocessError::Decoder(format!(
                "resized image has {} bytes, need {}",
                px.len(),
                3 * plane
            )));
        }
        let (rp, rest) = out.split_at_mut(plane);
        let (gp, bp) = rest.split_at_mut(plane);
        let mut luma: u64 = 0;
        for (i, p) in px.chunks_exact(3).enumerate() {
            let (r, g, b) = (p[0], p[1], p[2]);
            rp[i] = self.lut[r as usize];
            gp[i] = self.lut[g as usize];
            bp[i] = self.lut[b as usize];
            luma += 299 * u64::from(r) + 587 * u64::from(g) + 114 * u64::from(b);
        }
        let brightness = (luma as f64 / (1000.0 * plane as f64)) as f32;
        Ok((brightness, fingerprint(&resized.mat)?))
    }
}

/// libjpeg scale-down factor (8, 4, 2 or 1) that still leaves the region of
/// interest at least as large as the model input on its shorter side, so that
/// the final resize only ever shrinks. Either orientation is allowed for (EXIF
/// rotation is applied after decoding).
pub fn scaled_decode_factor(source: (u32, u32), roi: Option<Roi>, target: (u32, u32)) -> u32 {
    let (fw, fh) = roi.map_or((1.0, 1.0), |r| (f64::from(r.w), f64::from(r.h)));
    let short = (f64::from(source.0) * fw).min(f64::from(source.1) * fh);
    let need = f64::from(target.0.max(target.1));
    [8u32, 4, 2]
        .into_iter()
        .find(|f| (short / f64::from(*f)).floor() >= need)
        .unwrap_or(1)
}

/// The region of interest in pixels of a `size` image: edges rounded half up,
/// at least one pixel, inside the image (the Python reference does the same).
pub fn roi_rect(size: (u32, u32), roi: Option<Roi>) -> Rect {
    let (w, h) = (size.0.max(1) as i32, size.1.max(1) as i32);
    let Some(r) = roi else {
        return Rect::new(0, 0, w, h);
    };
    let edge = |frac: f32, n: i32| ((f64::from(frac) * f64::from(n) + 0.5).floor() as i32).clamp(0, n);
    let x0 = edge(r.x, w).min(w - 1);
    let y0 = edge(r.y, h).min(h - 1);
    let x1 = edge(r.x + r.w, w).max(x0 + 1);
    let y1 = edge(r.y + r.h, h).max(y0 + 1);
    Rect::new(x0, y0, x1 - x0, y1 - y0)
}

fn fingerprint(resized: &Mat) -> Result<u64, PreprocessError> {
    let mut tiny = Mat::default();
    let side = Size::new(FINGERPRINT_SIDE, FINGERPRINT_SIDE);
    imgproc::resize(resized, &mut tiny, side, 0.0, 0.0, imgproc::INTER_AREA).map_err(cv_err("fingerprint"))?;
    let px = tiny.data_bytes().map_err(cv_err("fingerprint pixels"))?;
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for p in px.chunks_exact(3) {
        for &b in p {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    }
    Ok(h)
}

#[cfg(test)]
#[path = "preprocess_tests.rs"]
mod tests;
