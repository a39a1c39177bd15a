//! Splits the byte stream from the printer into lines, surviving junk.
//!
//! Owns only framing of incoming bytes: `\n`, `\r\n` and lone `\r` end a line;
//! a line longer than `MAX_LINE` (a baud-rate mismatch or binary noise) is cut
//! and reported as garbage; NUL and other control bytes are dropped and
//! counted. Decoding the text is `response.rs`'s job.

use bytes::{Buf, BytesMut};

/// Longest line we keep; Marlin's longest replies (M115 `area:`, M503) are well under this.
pub const MAX_LINE: usize = 1024;

/// One line from the printer, without its terminator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawLine {
    pub bytes: Vec<u8>,
    /// The line was longer than `MAX_LINE` and was cut.
    pub truncated: bool,
}

/// Accumulates bytes and yields complete lines.
#[derive(Debug, Default)]
pub struct LineReader {
    buf: BytesMut,
    /// Bytes of an over-long line still being skipped until its end.
    skipping: bool,
}

impl LineReader {
    pub fn new() -> Self {
        LineReader {
            buf: BytesMut::with_capacity(4096),
            skipping: false,
        }
    }

    /// The buffer to read into (`AsyncReadExt::read_buf`).
    pub fn buffer(&mut self) -> &mut BytesMut {
        &mut self.buf
    }

    pub fn push(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// Bytes received that do not form a complete line yet.
    pub fn pending(&self) -> usize {
        self.buf.len()
    }

    /// Drops whatever partial line is buffered (after a reconnect).
    pub fn clear(&mut self) {
        self.buf.clear();
        self.skipping = false;
    }

    /// The next complete line, if one is buffered. Empty lines are skipped.
    pub fn next_line(&mut self) -> Option<RawLine> {
        loop {
            let end = memchr::memchr2(b'\n', b'\r', &self.buf);
            match end {
                Some(i) => {
                    let line = self.buf.split_to(i);
                    self.buf.advance(1);
                    if self.skipping {
                        self.skipping = false;
                        continue;
                    }
                    if line.is_empty() {
                        continue;
                    }
                    return Some(RawLine {
                        bytes: line.to_vec(),
                        truncated: false,
                    });
                }
                None if self.buf.len() > MAX_LINE => {
                    let line = self.buf.split_to(MAX_LINE);
                    let was_skipping = std::mem::replace(&mut self.skipping, true);
                    if was_skipping {
                        continue;
                    }
                    return Some(RawLine {
                        bytes: line.to_vec(),
                        truncated: true,
                    });
                }
                None => return None,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(chunks: &[&[u8]]) -> Vec<(String, bool)> {
        let mut r = LineReader::new();
        let mut out = Vec::new();
        for c in chunks {
            r.push(c);
            while let Some(l) = r.next_line() {
                out.push((String::from_utf8_lossy(&l.bytes).into_owned(), l.truncated));
            }
        }
        out
    }

    #[test]
    fn splits_on_any_line_ending_across_chunks() {
        let got = lines(&[b"o", b"k\nstart\r\n\r\nT:20", b"\rwait", b"\n"]);
        let want: Vec<(String, bool)> = ["ok", "start", "T:20", "wait"]
            .iter()
            .map(|s| (s.to_string(), false))
            .collect();
        assert_eq!(got, want);
    }

    #[test]
    fn cuts_and_skips_overlong_lines() {
        let long = vec![b'x'; MAX_LINE * 3 + 10];
        let got = lines(&[&long, b"\nok\n"]);
        assert_eq!(got.len(), 2);
        assert!(got[0].1, "first piece is reported as truncated");
        assert_eq!(got[0].0.len(), MAX_LINE);
        assert_eq!(got[1], ("ok".to_string(), false));
    }

    #[test]
    fn partial_line_stays_pending() {
        let mut r = LineReader::new();
        r.push(b"ok\nT:2");
        assert!(r.next_line().is_some());
        assert!(r.next_line().is_none());
        assert_eq!(r.pending(), 3);
        r.clear();
        assert_eq!(r.pending(), 0);
    }
}
