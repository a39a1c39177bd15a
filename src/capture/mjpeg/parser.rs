//! A pure, incremental parser for `multipart/x-mixed-replace` MJPEG streams.
//!
//! Feed it byte chunks as they arrive ([`MultipartParser::push`]) and take
//! events out ([`MultipartParser::poll`]); the events are the same whatever the
//! chunk boundaries are (tested byte by byte). No I/O, no clock, no allocation
//! per frame beyond the frame itself (parts are split off the input buffer).
//!
//! What real servers send, and what this accepts:
//! - mjpg-streamer / ustreamer / crowsnest: `--boundary` line, part headers
//!   (`Content-Type`, `Content-Length`, `X-Timestamp`), blank line, JPEG, CRLF,
//!   next `--boundary`. Flask-style servers put the boundary before each part
//!   instead; both work.
//! - A boundary declared with leading dashes (`boundary=--frame`) matches both
//!   `--frame` lines (common on IP cameras) and RFC-style `----frame` lines.
//! - No boundary parameter at all: the first `--token` line is taken as the boundary.
//! - `Content-Length` is trusted when the bytes it spans are a complete JPEG
//!   (low latency: the part is emitted without waiting for the next boundary);
//!   otherwise the part is re-framed on the next boundary ("resync").
//! - Truncated and non-JPEG parts are skipped with a reason; garbage between
//!   parts is skipped and counted; a part larger than the cap is skipped without
//!   buffering it (memory stays bounded).

use std::fmt;

use super::syntax::{Check, Delimiter, PartHeaders, body_end, delimiter_at, parse_header_line, trim_ascii};
use crate::capture::jpeg::{self, JpegFault};
use bytes::{Buf, Bytes, BytesMut};

/// Default cap on one part's size.
pub const DEFAULT_MAX_PART: usize = 16 * 1024 * 1024;
/// Cap on one part's header block.
const MAX_HEADER_BYTES: usize = 16 * 1024;
/// Cap on the rest of a boundary line (`--boundary` + this).
const MAX_DELIMITER_LINE: usize = 1024;
/// Longest line considered when guessing an undeclared boundary (RFC 2046: 70 + `--`).
const MAX_SNIFF_LINE: usize = 200;

/// What the parser found.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// A complete JPEG part.
    Frame(Part),
    /// A part that is not a usable frame, and why.
    Skipped(SkipReason),
    /// Bytes of garbage (not whitespace) skipped before the next boundary.
    Junk(usize),
}

/// One JPEG from the stream.
#[derive(Debug, Clone, PartialEq)]
pub struct Part {
    /// The JPEG, from `FF D8` to `FF D9` (trailing padding removed).
    pub jpeg: Bytes,
    /// `X-Timestamp` header in seconds, if the server sent one.
    pub x_timestamp: Option<f64>,
    /// The declared `Content-Length` was wrong; the part was framed by the next boundary.
    pub resynced: bool,
}

/// Why a part was skipped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SkipReason {
    /// The part's `Content-Type` is not a JPEG.
    NotJpeg { content_type: String },
    /// The body is not a complete JPEG.
    BadJpeg { fault: JpegFault, resynced: bool },
    /// The part is larger than the cap; it was not buffered.
    TooLarge { limit: usize },
    /// The header block is too long or garbled.
    BadHeaders,
    /// The stream ended in the middle of this part, after `bytes` bytes of body.
    Truncated { bytes: usize },
}

impl fmt::Display for SkipReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SkipReason::NotJpeg { content_type } => write!(f, "not a JPEG part (Content-Type: {content_type})"),
            SkipReason::BadJpeg { fault, resynced: false } => write!(f, "{fault}"),
            SkipReason::BadJpeg { fault, resynced: true } => write!(f, "{fault}; wrong Content-Length"),
            SkipReason::TooLarge { limit } => write!(f, "part larger than {limit} bytes"),
            SkipReason::BadHeaders => f.write_str("malformed part headers"),
            SkipReason::Truncated { bytes } => write!(f, "stream ended inside a part after {bytes} bytes"),
        }
    }
}

#[derive(Debug)]
enum State {
    /// No boundary declared: looking for a `--token` line.
    Sniff {
        at_line_start: bool,
    },
    /// Seeking the next boundary; `count` says whether skipped bytes are junk.
    Seek {
        count: bool,
    },
    /// Just past `--boundary`: the rest of that line.
    DelimLine,
    Headers,
    Body {
        headers: PartHeaders,
        use_length: bool,
        searched: usize,
        resynced: bool,
    },
    /// After a part framed by `Content-Length`: whitespace, then a boundary.
    AfterBody,
}

enum Step {
    Emit(Event),
    Continue,
    NeedMore,
}

/// Incremental `multipart/x-mixed-replace` parser. See the module docs.
#[derive(Debug)]
pub struct MultipartParser {
    buf: BytesMut,
    delim: Option<Delimiter>,
    state: State,
    max_part: usize,
    pending_junk: usize,
}

impl MultipartParser {
    /// A parser for parts separated by `boundary` (as found in the response's
    /// `Content-Type`); `None` guesses it from the first `--token` line.
    pub fn new(boundary: Option<&str>, max_part: usize) -> Self {
        let delim = boundary.filter(|b| !b.is_empty()).map(Delimiter::new);
        let state = if delim.is_some() { State::Seek { count: true } } else { State::Sniff { at_line_start: true } };
        MultipartParser {
            buf: BytesMut::with_capacity(64 * 1024),
            delim,
            state,
            max_part: max_part.max(1),
            pending_junk: 0,
        }
    }

    /// The boundary in use (declared or guessed), without leading dashes.
    pub fn boundary(&self) -> Option<&[u8]> {
        self.delim.as_ref().map(|d| &d.needle[2..])
    }

    /// Bytes buffered and not yet consumed.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// Appends a chunk of the response body.
    pub fn push(&mut self, chunk: &[u8]) {
        self.buf.extend_from_slice(chunk);
    }

    /// The next event, or `None` when more input is needed.
    pub fn poll(&mut self) -> Option<Event> {
        loop {
            match self.step() {
                Step::Emit(e) => return Some(e),
                Step::Continue => {}
                Step::NeedMore => return None,
            }
        }
    }

    /// The stream ended: reports pending junk and a part cut off mid-way, and
    /// resets the parser. Call `poll` until `None` first.
    pub fn finish(&mut self) -> Vec<Event> {
        let mut out = vec![];
        let state = std::mem::replace(&mut self.state, State::Seek { count: false });
        if matches!(state, State::Seek { count: true } | State::Sniff { .. }) {
            let n = self.buf.len();
            self.discard(n, true);
        }
        if let Some(j) = self.take_junk() {
            out.push(j);
        }
        match state {
            // A part nothing closed: keep it if it is a complete JPEG (the stream ended right after it).
            State::Body { headers, .. } => match jpeg::check(&self.buf) {
                Ok(n) if headers.non_jpeg_type().is_none() => {
                    let jpeg = self.buf.split().freeze().slice(..n);
                    let resynced = headers.content_length.is_some_and(|l| l != n && l != self.buf.len());
                    out.push(Event::Frame(Part { jpeg, x_timestamp: headers.x_timestamp, resynced }));
                }
                _ => out.push(Event::Skipped(SkipReason::Truncated { bytes: self.buf.len() })),
            },
            State::Headers if !self.buf.is_empty() => out.push(Event::Skipped(SkipReason::Truncated { bytes: 0 })),
            _ => {}
        }
        self.buf.clear();
        self.state =
            if self.delim.is_some() { State::Seek { count: true } } else { State::Sniff { at_line_start: true } };
        out
    }

    fn take_junk(&mut self) -> Option<Event> {
        (self.pending_junk > 0).then(|| Event::Junk(std::mem::take(&mut self.pending_junk)))
    }

    /// Drops `n` bytes from the front, counting the non-whitespace ones as junk if asked.
    fn discard(&mut self, n: usize, count: bool) {
        let n = n.min(self.buf.len());
        if count {
            self.pending_junk += self.buf[..n].iter().filter(|b| !b.is_ascii_whitespace()).count();
        }
        self.buf.advance(n);
    }

    fn step(&mut self) -> Step {
        match std::mem::replace(&mut self.state, State::Seek { count: false }) {
            State::Sniff { at_line_start } => self.sniff(at_line_start),
            State::Seek { count } => self.seek(count),
            State::DelimLine => self.delim_line(),
            State::Headers => self.headers(),
            State::Body { headers, use_length, searched, resynced } => {
                self.body(headers, use_length, searched, resynced)
            }
            State::AfterBody => self.after_body(),
        }
    }

    fn sniff(&mut self, mut at_line_start: bool) -> Step {
        loop {
            if !at_line_start {
                match memchr::memchr(b'\n', &self.buf) {
                    Some(nl) => {
                        self.discard(nl + 1, true);
                        at_line_start = true;
                    }
                    None => {
                        let n = self.buf.len();
                        self.discard(n, true);
                        self.state = State::Sniff { at_line_start: false };
                        return Step::NeedMore;
                    }
                }
            }
            let window = &self.buf[..self.buf.len().min(MAX_SNIFF_LINE)];
            let Some(nl) = memchr::memchr(b'\n', window) else {
                if self.buf.len() >= MAX_SNIFF_LINE {
                    at_line_start = false;
                    continue;
                }
                self.state = State::Sniff { at_line_start: true };
                return Step::NeedMore;
            };
            let line = trim_ascii(&self.buf[..nl]);
            let token = line
                .strip_prefix(b"--")
                .filter(|t| !t.is_empty() && t.iter().all(|b| b.is_ascii_graphic() || *b == b' '));
            if let Some(token) = token {
                let boundary = String::from_utf8_lossy(token).into_owned();
                self.delim = Some(Delimiter::new(&boundary));
                self.discard(nl + 1, false);
                self.state = State::Headers;
                return match self.take_junk() {
                    Some(j) => Step::Emit(j),
                    None => Step::Continue,
                };
            }
            self.discard(nl + 1, true);
        }
    }

    fn seek(&mut self, count: bool) -> Step {
        let Some(d) = &self.delim else {
            self.state = State::Sniff { at_line_start: true };
            return Step::Continue;
        };
        let needle_len = d.needle.len();
        let mut from = 0;
        loop {
            let Some(p) = d.finder.find(&self.buf[from..]).map(|r| from + r) else {
                let keep = d.keep();
                if self.buf.len() > keep {
                    let n = self.buf.len() - keep;
                    self.discard(n, count);
                }
                self.state = State::Seek { count };
                return Step::NeedMore;
            };
            let mut q = p;
            if d.dashed && q >= 2 && &self.buf[q - 2..q] == b"--" {
                q -= 2;
            }
            match delimiter_at(&self.buf, p, needle_len) {
                Check::No => from = p + 1,
                Check::NeedMore => {
                    self.discard(q, count);
                    self.state = State::Seek { count };
                    return Step::NeedMore;
                }
                Check::Yes => {
                    self.discard(q, count);
                    self.discard(p - q + needle_len, false);
                    self.state = State::DelimLine;
                    return match self.take_junk() {
                        Some(j) => Step::Emit(j),
                        None => Step::Continue,
                    };
                }
            }
        }
    }

    fn delim_line(&mut self) -> Step {
        let Some(nl) = memchr::memchr(b'\n', &self.buf) else {
            self.state =
                if self.buf.len() > MAX_DELIMITER_LINE { State::Seek { count: true } } else { State::DelimLine };
            return if self.buf.len() > MAX_DELIMITER_LINE { Step::Continue } else { Step::NeedMore };
        };
        let rest = trim_ascii(&self.buf[..nl]);
        if rest.is_empty() {
            self.discard(nl + 1, false);
            self.state = State::Headers;
        } else if rest == b"--" {
            // Close delimiter: what follows is epilogue (or, on lenient servers, more parts).
            self.discard(nl + 1, false);
            self.state = State::Seek { count: true };
        } else {
            // `--boundaryX`: not our delimiter after all.
            self.state = State::Seek { count: true };
        }
        Step::Continue
    }

    fn headers(&mut self) -> Step {
        // A part with no header block at all: the JPEG follows the boundary line directly.
        if self.buf.len() < 2 {
            self.state = State::Headers;
            return Step::NeedMore;
        }
        if self.buf.starts_with(&[0xFF, 0xD8]) {
            self.state =
                State::Body { headers: PartHeaders::default(), use_length: false, searched: 0, resynced: false };
            return Step::Continue;
        }
        let mut headers = PartHeaders::default();
        let mut pos = 0;
        let end = loop {
            let limit = self.buf.len().min(MAX_HEADER_BYTES);
            let Some(rel) = memchr::memchr(b'\n', &self.buf[pos..limit]) else {
                if self.buf.len() >= MAX_HEADER_BYTES {
                    self.state = State::Seek { count: false };
                    return Step::Emit(Event::Skipped(SkipReason::BadHeaders));
                }
                self.state = State::Headers;
                return Step::NeedMore;
            };
            let nl = pos + rel;
            let line = trim_ascii(&self.buf[pos..nl]);
            if line.is_empty() {
                break nl + 1;
            }
            parse_header_line(line, &mut headers);
            pos = nl + 1;
        };
        self.discard(end, false);
        self.state = State::Body { headers, use_length: true, searched: 0, resynced: false };
        Step::Continue
    }

    fn body(&mut self, headers: PartHeaders, use_length: bool, searched: usize, resynced: bool) -> Step {
        let Some(d) = &self.delim else {
            self.state = State::Sniff { at_line_start: true };
            return Step::Continue;
        };
        if use_length && let Some(len) = headers.content_length.filter(|l| *l <= self.max_part) {
            if self.buf.len() < len {
                self.state = State::Body { headers, use_length, searched, resynced };
                return Step::NeedMore;
            }
            if let Some(ct) = headers.non_jpeg_type() {
                let content_type = ct.to_string();
                self.discard(len, false);
                self.state = State::AfterBody;
                return Step::Emit(Event::Skipped(SkipReason::NotJpeg { content_type }));
            }
            if let Ok(jpeg_len) = jpeg::check(&self.buf[..len]) {
                let jpeg = self.buf.split_to(len).freeze().slice(..jpeg_len);
                self.state = State::AfterBody;
                return Step::Emit(Event::Frame(Part { jpeg, x_timestamp: headers.x_timestamp, resynced: false }));
            }
            // The declared length does not frame a JPEG: find the part's end by its boundary.
            self.state = State::Body { headers, use_length: false, searched: 0, resynced: true };
            return Step::Continue;
        }
        let needle_len = d.needle.len();
        let mut from = searched.saturating_sub(needle_len + 1);
        let found = loop {
            match d.finder.find(&self.buf[from..]).map(|r| from + r) {
                Some(p) if p > self.max_part => break Some(p),
                Some(p) => match delimiter_at(&self.buf, p, needle_len) {
                    Check::Yes => break Some(p),
                    Check::No => from = p + 1,
                    Check::NeedMore => {
                        self.state = State::Body { headers, use_length, searched: p, resynced };
                        return Step::NeedMore;
                    }
                },
                None => break None,
            }
        };
        match found {
            Some(p) if p > self.max_part => {
                self.state = State::Seek { count: false };
                Step::Emit(Event::Skipped(SkipReason::TooLarge { limit: self.max_part }))
            }
            Some(p) => {
                let end = body_end(&self.buf, p, d.dashed);
                // Re-framed to exactly the declared length: the length was right, the body is not.
                let resynced = resynced && headers.content_length != Some(end);
                let body = self.buf.split_to(end).freeze();
                self.discard(p - end + needle_len, false);
                self.state = State::DelimLine;
                let ev = if let Some(ct) = headers.non_jpeg_type() {
                    Event::Skipped(SkipReason::NotJpeg { content_type: ct.to_string() })
                } else {
                    match jpeg::check(&body) {
                        Ok(n) => {
                            Event::Frame(Part { jpeg: body.slice(..n), x_timestamp: headers.x_timestamp, resynced })
                        }
                        Err(fault) => Event::Skipped(SkipReason::BadJpeg { fault, resynced }),
                    }
                };
                Step::Emit(ev)
            }
            None if self.buf.len() > self.max_part + needle_len + 2 => {
                self.state = State::Seek { count: false };
                Step::Emit(Event::Skipped(SkipReason::TooLarge { limit: self.max_part }))
            }
            None => {
                let searched = self.buf.len();
                self.state = State::Body { headers, use_length, searched, resynced };
                Step::NeedMore
            }
        }
    }

    fn after_body(&mut self) -> Step {
        let ws = self.buf.iter().take_while(|b| b.is_ascii_whitespace()).count();
        self.discard(ws, false);
        let Some(d) = &self.delim else {
            self.state = State::Sniff { at_line_start: true };
            return Step::Continue;
        };
        if self.buf.is_empty() {
            self.state = State::AfterBody;
            return Step::NeedMore;
        }
        let needle_len = d.needle.len();
        let prefix_of = |cand: &[u8], buf: &[u8]| buf.len() < cand.len() && cand.starts_with(buf);
        let dashed_needle: Option<Vec<u8>> = d.dashed.then(|| [b"--".as_slice(), &d.needle].concat());
        let at = if self.buf.starts_with(&d.needle) {
            Some(0)
        } else if dashed_needle.as_deref().is_some_and(|dn| self.buf.starts_with(dn)) {
            Some(2)
        } else if prefix_of(&d.needle, &self.buf) || dashed_needle.as_deref().is_some_and(|dn| prefix_of(dn, &self.buf))
        {
            self.state = State::AfterBody;
            return Step::NeedMore;
        } else {
            None
        };
        match at.map(|p| (p, delimiter_at(&self.buf, p, needle_len))) {
            Some((p, Check::Yes)) => {
                self.discard(p + needle_len, false);
                self.state = State::DelimLine;
            }
            Some((_, Check::NeedMore)) => {
                self.state = State::AfterBody;
                return Step::NeedMore;
            }
            Some((_, Check::No)) | None => self.state = State::Seek { count: true },
        }
        Step::Continue
    }
}

#[cfg(test)]
#[path = "parser_tests.rs"]
mod tests;
