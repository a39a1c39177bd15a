//! The header check every image goes through before a decoder sees it (JPEG, PNG, BMP, WebP, TIFF).
//!
//! Properties: no input panics; an accepted header has a non-zero width and height and at most the pixel limit;
//! `check_header` accepts exactly what `read_header` reads within the limit, and refuses the rest as too large with
//! the right pixel count.

use crate::images::{HeaderError, check_header, read_header};

/// The first byte picks the pixel limit (from 1 pixel to the default 40 megapixels and beyond).
pub fn check(data: &[u8]) {
    let Some((&sel, image)) = data.split_first() else { return };
    let limit = match sel % 4 {
        0 => crate::images::DEFAULT_MAX_PIXELS,
        1 => 1,
        2 => 64 * 64,
        _ => u64::MAX,
    };
    let read = read_header(image);
    let checked = check_header(image, limit);
    match (&read, &checked) {
        (Ok(h), Ok(c)) => {
            assert_eq!(h, c, "read and check disagree");
            assert!(h.width > 0 && h.height > 0, "{h:?}");
            assert!(h.pixels() <= limit, "{h:?} passed a limit of {limit}");
        }
        (Ok(h), Err(HeaderError::TooLarge { width, height, pixels, limit: l, .. })) => {
            assert_eq!((*width, *height, *pixels, *l), (h.width, h.height, h.pixels(), limit));
            assert!(h.pixels() > limit, "{h:?} refused under a limit of {limit}");
        }
        (Err(a), Err(b)) => assert_eq!(a, b, "check_header and read_header refuse differently"),
        _ => panic!("read {read:?} but check {checked:?}"),
    }
    if let Err(e) = &read {
        let _ = e.to_string();
    }
}
