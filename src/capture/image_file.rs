//! One image file into a frame image, the single rule the folder camera,
//! `classify` and `eval` share: refuse a file over `images::MAX_FILE_BYTES`,
//! read the format and size from the header (an unknown format or more than
//! the pixel limit is refused before any decoder runs), then keep a JPEG
//! encoded (markers checked, padding cut: vision decodes it) and decode any
//! other format to RGB. Blocking: call from a blocking thread.

use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;

use super::{cv, jpeg};
use crate::domain::FrameImage;
use crate::images::{self, HeaderError, ImageFormat};

/// Why a file gave no frame image.
#[derive(Debug, thiserror::Error)]
pub enum ImageFileError {
    #[error("no such file")]
    Missing,
    #[error("cannot read: {0}")]
    Unreadable(std::io::Error),
    #[error("file is {bytes} bytes, over the limit of {limit} bytes for an image")]
    TooBig { bytes: u64, limit: u64 },
    #[error("{0}")]
    Refused(#[from] HeaderError),
    #[error("{0}")]
    Undecodable(String),
}

/// Reads and checks `path` (see the module docs).
pub fn load(path: &Path, max_pixels: u64) -> Result<FrameImage, ImageFileError> {
    let io = |e: std::io::Error| {
        if e.kind() == std::io::ErrorKind::NotFound { ImageFileError::Missing } else { ImageFileError::Unreadable(e) }
    };
    let len = std::fs::metadata(path).map_err(io)?.len();
    if len > images::MAX_FILE_BYTES {
        return Err(ImageFileError::TooBig { bytes: len, limit: images::MAX_FILE_BYTES });
    }
    from_bytes(std::fs::read(path).map_err(io)?, max_pixels)
}

/// The same checks on bytes already read.
pub fn from_bytes(data: Vec<u8>, max_pixels: u64) -> Result<FrameImage, ImageFileError> {
    let header = images::check_header(&data, max_pixels)?;
    if header.format == ImageFormat::Jpeg {
        let n = jpeg::check(&data).map_err(|f| ImageFileError::Undecodable(f.to_string()))?;
        let mut b = Bytes::from(data);
        b.truncate(n);
        return Ok(FrameImage::Jpeg(b));
    }
    let rgb = cv::decode_to_rgb(&data, max_pixels).map_err(ImageFileError::Undecodable)?;
    Ok(FrameImage::Rgb(Arc::new(rgb)))
}

#[cfg(test)]
mod tests {
    use opencv::core::{CV_8UC3, Mat, Scalar, Vector};
    use opencv::imgcodecs;
    use opencv::prelude::*;

    use super::*;

    fn encoded(ext: &str, w: i32, h: i32) -> Vec<u8> {
        let mat = Mat::new_rows_cols_with_default(h, w, CV_8UC3, Scalar::new(1.0, 2.0, 3.0, 0.0)).unwrap();
        let mut out = Vector::<u8>::new();
        assert!(imgcodecs::imencode(ext, &mat, &mut out, &Vector::new()).unwrap());
        out.to_vec()
    }

    /// Issue 13 item 4: every format is checked from its header, against the limit, before decoding.
    #[test]
    fn every_format_decodes_within_the_limit_and_is_refused_over_it() {
        for ext in [".png", ".bmp", ".webp", ".tiff", ".jpg"] {
            let data = encoded(ext, 40, 30);
            let img = from_bytes(data.clone(), 1200).unwrap_or_else(|e| panic!("{ext}: {e}"));
            match img {
                FrameImage::Jpeg(b) => assert_eq!(ext, ".jpg", "{}", b.len()),
                FrameImage::Rgb(rgb) => assert_eq!((rgb.width, rgb.height), (40, 30), "{ext}"),
            }
            let e = from_bytes(data, 1199).unwrap_err();
            assert!(matches!(e, ImageFileError::Refused(HeaderError::TooLarge { .. })), "{ext}: {e}");
        }
    }

    #[test]
    fn missing_and_unknown_files_say_so() {
        let d = tempfile::tempdir().unwrap();
        assert!(matches!(load(&d.path().join("no.png"), 100), Err(ImageFileError::Missing)));
        std::fs::write(d.path().join("a.gif"), b"GIF89a\x01\0\x01\0").unwrap();
        let e = load(&d.path().join("a.gif"), 100).unwrap_err().to_string();
        assert!(e.starts_with("not an image this program reads"), "{e}");
    }
}
