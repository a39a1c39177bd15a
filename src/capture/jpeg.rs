//! Cheap structural check of a JPEG without decoding it: start-of-image marker
//! (`FF D8`) at the front, end-of-image marker (`FF D9`) at the back.
//!
//! Catches the faults a stream actually produces (cut-off parts, HTML error
//! pages, empty bodies) in O(1). Decoding is the vision stage's job.

use std::fmt;

/// Why bytes are not a complete JPEG.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JpegFault {
    Empty,
    /// Does not start with `FF D8`.
    NoStartMarker,
    /// Does not end with `FF D9` (after trailing padding): cut off.
    NoEndMarker,
}

impl fmt::Display for JpegFault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            JpegFault::Empty => "empty image",
            JpegFault::NoStartMarker => "not a JPEG (no start-of-image marker)",
            JpegFault::NoEndMarker => "truncated JPEG (no end-of-image marker)",
        })
    }
}

/// Checks `data` and returns the length of the JPEG proper: trailing padding that
/// some cameras append after the end marker (CR, LF, spaces, NULs) is not counted.
pub fn check(data: &[u8]) -> Result<usize, JpegFault> {
    if data.is_empty() {
        return Err(JpegFault::Empty);
    }
    if !data.starts_with(&[0xFF, 0xD8]) {
        return Err(JpegFault::NoStartMarker);
    }
    let mut end = data.len();
    while end > 2 && matches!(data[end - 1], b'\r' | b'\n' | b' ' | b'\t' | 0) {
        end -= 1;
    }
    if end >= 4 && data[end - 2] == 0xFF && data[end - 1] == 0xD9 { Ok(end) } else { Err(JpegFault::NoEndMarker) }
}

/// True if `data` is a complete JPEG per [`check`].
pub fn is_complete(data: &[u8]) -> bool {
    check(data).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checks_markers_and_trims_padding() {
        assert_eq!(check(b"\xFF\xD8\xFF\xE0xx\xFF\xD9"), Ok(8));
        assert_eq!(check(b"\xFF\xD8\xFF\xE0xx\xFF\xD9\r\n\0\0"), Ok(8));
        assert_eq!(check(b""), Err(JpegFault::Empty));
        assert_eq!(check(b"<html>"), Err(JpegFault::NoStartMarker));
        assert_eq!(check(b"\xFF\xD8\xFF\xE0xx"), Err(JpegFault::NoEndMarker));
        assert_eq!(check(b"\xFF\xD8"), Err(JpegFault::NoEndMarker));
        assert_eq!(check(b"\xFF\xD8\xD9"), Err(JpegFault::NoEndMarker));
        assert_eq!(check(b"\xFF\xD8\xFF\xD9"), Ok(4));
    }
}
