//! Byte-level syntax of multipart MJPEG streams, shared by the parser's states:
//! the boundary delimiter and how to recognise a real delimiter line, where a
//! body ends before it, and part header lines.

use memchr::memmem;

#[derive(Debug, Clone, Default, PartialEq)]
pub(super) struct PartHeaders {
    pub(super) content_type: Option<String>,
    pub(super) content_length: Option<usize>,
    pub(super) x_timestamp: Option<f64>,
}

impl PartHeaders {
    /// The declared content type when it is not a JPEG.
    pub(super) fn non_jpeg_type(&self) -> Option<&str> {
        let ct = self.content_type.as_deref()?;
        let mime = ct.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
        match mime.as_str() {
            "image/jpeg" | "image/jpg" | "image/pjpeg" | "" => None,
            _ => Some(ct),
        }
    }
}

#[derive(Debug)]
pub(super) struct Delimiter {
    /// `--` + boundary (without any leading dashes it was declared with).
    pub(super) needle: Vec<u8>,
    pub(super) finder: memmem::Finder<'static>,
    /// Declared with leading dashes: lines may carry two extra dashes in front.
    pub(super) dashed: bool,
}

impl Delimiter {
    pub(super) fn new(boundary: &str) -> Self {
        let (core, dashed) = match boundary.strip_prefix("--") {
            Some(rest) if !rest.is_empty() => (rest, true),
            _ => (boundary, false),
        };
        let mut needle = b"--".to_vec();
        needle.extend_from_slice(core.as_bytes());
        let finder = memmem::Finder::new(&needle).into_owned();
        Delimiter { needle, finder, dashed }
    }

    /// Bytes to keep when discarding while seeking, so no delimiter is split.
    pub(super) fn keep(&self) -> usize {
        self.needle.len() + 1
    }
}

pub(super) enum Check {
    Yes,
    No,
    NeedMore,
}

/// Whether the `--boundary` found at `p` really is a delimiter line: followed by
/// `--` (close delimiter) or by optional spaces and a line end (RFC 2046).
pub(super) fn delimiter_at(buf: &[u8], p: usize, needle_len: usize) -> Check {
    let mut i = p + needle_len;
    match buf.get(i) {
        None => return Check::NeedMore,
        Some(b'-') => {
            return match buf.get(i + 1) {
                None => Check::NeedMore,
                Some(b'-') => Check::Yes,
                Some(_) => Check::No,
            };
        }
        Some(_) => {}
    }
    while matches!(buf.get(i), Some(b' ' | b'\t')) {
        i += 1;
    }
    match buf.get(i) {
        None => Check::NeedMore,
        Some(b'\r' | b'\n') => Check::Yes,
        Some(_) => Check::No,
    }
}

/// Where a body ends, given the delimiter found at `p`: before the optional dashes
/// of an RFC-style line for a dash-declared boundary, and before its CRLF.
pub(super) fn body_end(buf: &[u8], p: usize, dashed: bool) -> usize {
    let mut q = p;
    if dashed && q >= 2 && &buf[q - 2..q] == b"--" {
        q -= 2;
    }
    if q >= 1 && buf[q - 1] == b'\n' {
        q -= 1;
        if q >= 1 && buf[q - 1] == b'\r' {
            q -= 1;
        }
    }
    q
}

pub(super) fn parse_header_line(line: &[u8], h: &mut PartHeaders) {
    let Some(colon) = memchr::memchr(b':', line) else { return };
    let name = trim_ascii(&line[..colon]);
    let value = String::from_utf8_lossy(trim_ascii(&line[colon + 1..])).into_owned();
    if name.eq_ignore_ascii_case(b"content-type") {
        h.content_type = Some(value);
    } else if name.eq_ignore_ascii_case(b"content-length") {
        h.content_length = value.parse().ok();
    } else if name.eq_ignore_ascii_case(b"x-timestamp") {
        h.x_timestamp = value.parse::<f64>().ok().filter(|t| t.is_finite());
    }
}

pub(super) fn trim_ascii(s: &[u8]) -> &[u8] {
    s.trim_ascii()
}
