//! Splits a byte stream into lines, chunk by chunk, without copying.
//!
//! Owns line boundaries, line numbers (1-based) and byte offsets. A line ends
//! at `\n`, `\r\n` or a lone `\r` (Marlin ends a command at either byte); the
//! last line may have no terminator. Lines longer than the cap are cut: the
//! caller sees the first `max_len` bytes and `overlong = true`, while offsets
//! and line numbers stay exact. Only a line that straddles two chunks is
//! copied (into a buffer of at most `max_len` bytes), so memory is bounded
//! whatever the input.

use memchr::{memchr2, memrchr2};

/// Default cap on the bytes of one line that are looked at. Marlin's own buffer
/// is 96 bytes; slicer comments (PrusaSlicer's config block, Cura's settings)
/// reach a few KiB, so anything longer is treated as junk.
pub const DEFAULT_MAX_LINE: usize = 16 * 1024;

/// One line of input, as the splitter saw it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RawLine<'a> {
    /// 1-based line number.
    pub number: u64,
    /// Byte offset of the line's first byte in the stream.
    pub offset: u64,
    /// Byte offset just after the line's terminator (the next line's offset).
    pub end: u64,
    /// The line's content without its terminator, at most `max_len` bytes.
    pub bytes: &'a [u8],
    /// The line was longer than `max_len`; `bytes` holds only its start.
    pub overlong: bool,
}

/// What [`LineSplitter::feed_regions`] hands over.
#[derive(Debug, Clone, Copy)]
pub enum Piece<'a, 'c> {
    /// One line that straddled a chunk boundary (borrowed from the splitter).
    Line(RawLine<'a>),
    /// Complete lines inside the chunk: the bytes (ending with a terminator),
    /// their offset in the stream and the number of their first line.
    Region(&'c [u8], u64, u64),
}

/// Streaming line splitter.
#[derive(Debug)]
pub struct LineSplitter {
    max_len: usize,
    /// Start of a line that began in an earlier chunk (at most `max_len` bytes).
    carry: Vec<u8>,
    /// A line began in an earlier chunk and has not ended yet (its start is in `carry`).
    in_line: bool,
    /// Full length of the carried line so far (may exceed `carry.len()`).
    carry_len: u64,
    /// The carried line ended with `\r` at the end of the previous chunk: a `\n` may follow.
    pending_cr: bool,
    /// Offset of the next byte to be fed.
    offset: u64,
    /// Offset where the current (carried) line starts.
    line_start: u64,
    /// Number of lines emitted so far.
    lines: u64,
    /// Whether the last line of the stream had no terminator (known after `finish`).
    unterminated_last: bool,
}

impl Default for LineSplitter {
    fn default() -> Self {
        Self::new(DEFAULT_MAX_LINE)
    }
}

impl LineSplitter {
    /// A splitter that looks at most at `max_len` bytes of each line (at least 1).
    pub fn new(max_len: usize) -> Self {
        LineSplitter {
            max_len: max_len.max(1),
            carry: Vec::new(),
            in_line: false,
            carry_len: 0,
            pending_cr: false,
            offset: 0,
            line_start: 0,
            lines: 0,
            unterminated_last: false,
        }
    }

    /// Bytes fed so far.
    pub fn bytes_seen(&self) -> u64 {
        self.offset
    }

    /// Lines emitted so far.
    pub fn lines_seen(&self) -> u64 {
        self.lines
    }

    /// After `finish`: the stream's last line had no terminator.
    pub fn unterminated_last_line(&self) -> bool {
        self.unterminated_last
    }

    /// Feeds the next chunk; calls `emit` for every line completed by it.
    pub fn feed(&mut self, chunk: &[u8], emit: &mut impl FnMut(RawLine<'_>)) {
        let mut pos = 0usize;
        if self.pending_cr {
            self.pending_cr = false;
            let lf = chunk.first() == Some(&b'\n');
            let end = self.offset + u64::from(lf);
            self.emit_carry(end, emit);
            if lf {
                pos = 1;
            }
        }
        while pos < chunk.len() {
            let rest = &chunk[pos..];
            let Some(i) = memchr2(b'\n', b'\r', rest) else {
                self.carry_bytes(rest);
                break;
            };
            let term = rest[i];
            let mut term_len = 1usize;
            if term == b'\r' {
                match rest.get(i + 1) {
                    Some(b'\n') => term_len = 2,
                    Some(_) => {}
                    None => {
                        // `\r` is the chunk's last byte: a `\n` may start the next chunk.
                        self.carry_bytes(&rest[..i]);
                        self.in_line = true;
                        self.pending_cr = true;
                        self.offset += 1;
                        return;
                    }
                }
            }
            if self.in_line {
                self.carry_bytes(&rest[..i]);
                let end = self.offset + term_len as u64;
                self.emit_carry(end, emit);
                self.offset = end;
            } else {
                let (bytes, overlong) =
                    if i > self.max_len { (&rest[..self.max_len], true) } else { (&rest[..i], false) };
                self.lines += 1;
                let end = self.offset + (i + term_len) as u64;
                emit(RawLine { number: self.lines, offset: self.offset, end, bytes, overlong });
                self.offset = end;
            }
            pos += i + term_len;
        }
    }

    /// Like [`feed`](Self::feed), but hands the run of complete lines inside
    /// the chunk to `f` as one [`Piece::Region`] borrowed from `chunk` (walk it
    /// with [`SliceLines::at`]; return how many lines it held), so the caller
    /// can parse it without any copy. Lines that straddle chunk boundaries come
    /// as [`Piece::Line`].
    pub fn feed_regions<'c>(&mut self, chunk: &'c [u8], f: &mut impl for<'a> FnMut(Piece<'a, 'c>) -> u64) {
        let mut pos = 0usize;
        if self.pending_cr {
            self.pending_cr = false;
            let lf = chunk.first() == Some(&b'\n');
            let end = self.offset + u64::from(lf);
            self.emit_carry(end, &mut |l| {
                f(Piece::Line(l));
            });
            pos = usize::from(lf);
        }
        if self.in_line {
            let rest = &chunk[pos..];
            let Some(i) = memchr2(b'\n', b'\r', rest) else {
                self.carry_bytes(rest);
                return;
            };
            if rest[i] == b'\r' && i + 1 == rest.len() {
                self.carry_bytes(&rest[..i]);
                self.pending_cr = true;
                self.offset += 1;
                return;
            }
            let term_len = if rest[i] == b'\r' && rest[i + 1] == b'\n' { 2 } else { 1 };
            self.carry_bytes(&rest[..i]);
            let end = self.offset + term_len as u64;
            self.emit_carry(end, &mut |l| {
                f(Piece::Line(l));
            });
            pos += i + term_len;
        }
        let rest = &chunk[pos..];
        let Some(last) = memrchr2(b'\n', b'\r', rest) else {
            if !rest.is_empty() {
                self.carry_bytes(rest);
            }
            return;
        };
        // A `\r` as the chunk's very last byte may be half of a `\r\n`: carry its line.
        let pending = rest[last] == b'\r' && last + 1 == rest.len();
        let region_end = if pending { memrchr2(b'\n', b'\r', &rest[..last]).map_or(0, |j| j + 1) } else { last + 1 };
        if region_end > 0 {
            let lines = f(Piece::Region(&rest[..region_end], self.offset, self.lines + 1));
            self.lines += lines;
            self.offset += region_end as u64;
        }
        let tail = &rest[region_end..];
        if pending {
            self.carry_bytes(&tail[..tail.len() - 1]);
            self.pending_cr = true;
            self.offset += 1;
        } else if !tail.is_empty() {
            self.carry_bytes(tail);
        }
    }

    /// Ends the stream: emits the last line if it had no terminator.
    pub fn finish(&mut self, emit: &mut impl FnMut(RawLine<'_>)) {
        if self.pending_cr {
            self.pending_cr = false;
            let end = self.offset;
            self.emit_carry(end, emit);
        } else if self.in_line {
            self.unterminated_last = true;
            let end = self.offset;
            self.emit_carry(end, emit);
        }
    }

    /// Appends bytes of an unfinished line to the carry buffer (up to the cap).
    fn carry_bytes(&mut self, bytes: &[u8]) {
        if !self.in_line {
            self.in_line = true;
            self.line_start = self.offset;
            self.carry.clear();
            self.carry_len = 0;
        }
        let room = self.max_len.saturating_sub(self.carry.len());
        self.carry.extend_from_slice(&bytes[..bytes.len().min(room)]);
        self.carry_len += bytes.len() as u64;
        self.offset += bytes.len() as u64;
    }

    fn emit_carry(&mut self, end: u64, emit: &mut impl FnMut(RawLine<'_>)) {
        self.lines += 1;
        let overlong = self.carry_len > self.max_len as u64;
        emit(RawLine { number: self.lines, offset: self.line_start, end, bytes: &self.carry, overlong });
        self.in_line = false;
        self.carry.clear();
        self.carry_len = 0;
        self.offset = self.offset.max(end);
    }
}

/// Lines of a complete in-memory buffer, pulled one by one (same rules as
/// [`LineSplitter`], including the cap, without any copying).
#[derive(Debug, Clone)]
pub struct SliceLines<'a> {
    data: &'a [u8],
    pos: usize,
    number: u64,
    base: u64,
    max_len: usize,
}

impl<'a> SliceLines<'a> {
    pub fn new(data: &'a [u8], max_len: usize) -> Self {
        Self::at(data, max_len, 0, 1)
    }

    /// Lines of `data`, which sits at stream offset `base` and starts with line `first`.
    pub fn at(data: &'a [u8], max_len: usize, base: u64, first: u64) -> Self {
        SliceLines { data, pos: 0, number: first.saturating_sub(1), base, max_len: max_len.max(1) }
    }
}

impl<'a> Iterator for SliceLines<'a> {
    type Item = RawLine<'a>;

    fn next(&mut self) -> Option<RawLine<'a>> {
        let rest = self.data.get(self.pos..).filter(|r| !r.is_empty())?;
        let (len, term_len) = match memchr2(b'\n', b'\r', rest) {
            Some(i) if rest[i] == b'\r' && rest.get(i + 1) == Some(&b'\n') => (i, 2),
            Some(i) => (i, 1),
            None => (rest.len(), 0),
        };
        let (bytes, overlong) = if len > self.max_len { (&rest[..self.max_len], true) } else { (&rest[..len], false) };
        self.number += 1;
        let offset = self.base + self.pos as u64;
        self.pos += len + term_len;
        Some(RawLine { number: self.number, offset, end: self.base + self.pos as u64, bytes, overlong })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use expect_test::{Expect, expect};

    /// Splits `input` fed in chunks of `chunk` bytes and renders every line.
    fn split(input: &[u8], chunk: usize, max_len: usize, regions: bool) -> String {
        let mut s = LineSplitter::new(max_len);
        let mut out = String::new();
        let mut emit = |l: RawLine<'_>| {
            out.push_str(&format!(
                "{}@{}..{} {:?}{}\n",
                l.number,
                l.offset,
                l.end,
                String::from_utf8_lossy(l.bytes),
                if l.overlong { " overlong" } else { "" }
            ));
        };
        for c in input.chunks(chunk.max(1)) {
            if regions {
                s.feed_regions(c, &mut |p| match p {
                    Piece::Line(l) => {
                        emit(l);
                        0
                    }
                    Piece::Region(data, base, first) => {
                        let mut n = 0;
                        for l in SliceLines::at(data, max_len, base, first) {
                            emit(l);
                            n += 1;
                        }
                        n
                    }
                });
            } else {
                s.feed(c, &mut emit);
            }
        }
        s.finish(&mut emit);
        if s.unterminated_last_line() {
            out.push_str("(no final newline)\n");
        }
        out
    }

    fn check(input: &[u8], expect: Expect) {
        let whole = split(input, usize::MAX, 8, false);
        let pulled: Vec<RawLine<'_>> = SliceLines::new(input, 8).collect();
        let mut pushed = Vec::new();
        let mut s = LineSplitter::new(8);
        s.feed(input, &mut |l| pushed.push((l.number, l.offset, l.end, l.bytes.to_vec(), l.overlong)));
        s.finish(&mut |l| pushed.push((l.number, l.offset, l.end, l.bytes.to_vec(), l.overlong)));
        let pulled: Vec<_> = pulled.iter().map(|l| (l.number, l.offset, l.end, l.bytes.to_vec(), l.overlong)).collect();
        assert_eq!(pulled, pushed, "SliceLines and LineSplitter disagree");
        // Every chunking must give the same lines.
        for chunk in 1..=input.len().max(1) {
            assert_eq!(split(input, chunk, 8, false), whole, "chunk size {chunk}");
            assert_eq!(split(input, chunk, 8, true), whole, "regions, chunk size {chunk}");
        }
        expect.assert_eq(&whole);
    }

    #[test]
    fn random_line_ends_split_the_same_in_any_pieces() {
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        for _ in 0..300 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let len = (state % 24) as usize;
            let input: Vec<u8> = (0..len).map(|k| b"ab\r\n\r"[((state >> (k % 60)) % 5) as usize]).collect();
            let whole = split(&input, usize::MAX, 4, false);
            for chunk in 1..=len.max(1) {
                assert_eq!(split(&input, chunk, 4, true), whole, "{input:?} in pieces of {chunk}");
            }
        }
    }

    #[test]
    fn terminators() {
        check(
            b"G1\nG2\r\nG3\rG4\n\nG5",
            expect![[r#"
                1@0..3 "G1"
                2@3..7 "G2"
                3@7..10 "G3"
                4@10..13 "G4"
                5@13..14 ""
                6@14..16 "G5"
                (no final newline)
            "#]],
        );
    }

    #[test]
    fn cr_lf_split_across_chunks_and_trailing_cr() {
        check(
            b"A\r\nB\r\r\nC\r",
            expect![[r#"
                1@0..3 "A"
                2@3..5 "B"
                3@5..7 ""
                4@7..9 "C"
            "#]],
        );
    }

    #[test]
    fn overlong_lines_are_cut_but_offsets_stay_exact() {
        check(
            b"0123456789abc\nshort\n0123456789",
            expect![[r#"
                1@0..14 "01234567" overlong
                2@14..20 "short"
                3@20..30 "01234567" overlong
                (no final newline)
            "#]],
        );
    }

    #[test]
    fn empty_and_terminator_only_inputs() {
        check(b"", expect![""]);
        check(
            b"\n\n",
            expect![[r#"
                1@0..1 ""
                2@1..2 ""
            "#]],
        );
        check(
            b"\r",
            expect![[r#"
                1@0..1 ""
            "#]],
        );
    }
}
