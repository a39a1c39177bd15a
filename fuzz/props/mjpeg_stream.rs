//! `multipart/x-mixed-replace` bodies and their `Content-Type` header.
//!
//! Properties: parsing the same bytes whole or in arbitrary chunks gives the same events; every frame is a complete
//! JPEG no larger than the part cap; the parser's buffer stays bounded by the cap plus its header and line limits
//! plus one chunk, and `finish` empties it; the header classifier never returns an empty boundary.

use crate::capture::jpeg;
use crate::capture::mjpeg::content_type::{ResponseKind, classify};
use crate::capture::mjpeg::parser::{Event, MultipartParser};

/// Small, so that the "part too large" paths are reached by small inputs.
pub const MAX_PART: usize = 4096;
/// The parser's own caps: header block 16 KiB, boundary line 1 KiB, boundary guess 200 bytes (`parser.rs`).
const SLACK: usize = 16 * 1024 + 1024 + 200 + 64;

/// The first byte picks the declared boundary and the chunk sizes; the second line of the input (up to the first
/// `\n`, when it is short) is also run through the `Content-Type` classifier.
pub fn check(data: &[u8]) {
    let Some((&sel, body)) = data.split_first() else { return };
    if let Some(line) = body.split(|b| *b == b'\n').next().filter(|l| l.len() < 256) {
        content_type(&crate::fuzz_props::text(line));
    }
    let boundary = match sel % 5 {
        0 => None,
        1 => Some("frame"),
        2 => Some("--frame"),
        3 => Some("boundarydonotcross"),
        _ => Some("b"),
    };
    let whole = parse(boundary, body, &[body.len()]);
    let sizes = [1 + usize::from(sel >> 3), 1, 7, 3, 64];
    let chunked = parse(boundary, body, &sizes);
    assert_eq!(whole, chunked, "chunking changed the events (boundary {boundary:?}, sizes {sizes:?})");
    for e in &whole {
        if let Event::Frame(p) = e {
            assert!(p.jpeg.len() <= MAX_PART, "a frame of {} bytes passed a cap of {MAX_PART}", p.jpeg.len());
            assert_eq!(jpeg::check(&p.jpeg), Ok(p.jpeg.len()), "a frame that is not exactly one complete JPEG");
        }
    }
}

fn parse(boundary: Option<&str>, data: &[u8], sizes: &[usize]) -> Vec<Event> {
    let mut p = MultipartParser::new(boundary, MAX_PART);
    let mut out = vec![];
    for c in crate::fuzz_props::chunks(data, sizes) {
        p.push(c);
        while let Some(e) = p.poll() {
            out.push(e);
        }
        assert!(
            p.buffered() <= MAX_PART + SLACK + c.len(),
            "{} bytes buffered after a chunk of {} (cap {MAX_PART})",
            p.buffered(),
            c.len()
        );
    }
    out.extend(p.finish());
    assert_eq!(p.buffered(), 0, "finish leaves nothing buffered");
    out
}

fn content_type(value: &str) {
    if let ResponseKind::Multipart { boundary: Some(b) } = classify(Some(value)) {
        assert!(!b.is_empty(), "an empty boundary from {value:?}");
    }
}
