//! One G-code line → command, words, comment: borrowed, allocation-free, total.
//!
//! Owns the syntax of a single line: `N` line numbers and `*` checksums,
//! the command (`G1`, `M73`, `T0`, `G29.1`, or a Klipper extended command such
//! as `EXCLUDE_OBJECT_DEFINE`), parameter words as (letter, value), `;` and
//! `( … )` comments. Tolerates lower case, spaces inside words (`G 1`,
//! `X 10`), words without spaces (`G1X10E.5`) and words without a value
//! (`G28 X Y`). Whatever it cannot read is flagged in [`LineIssues`], never a
//! panic. What the commands mean is the analyzer's business, not this file's.

use memchr::memchr;

use super::lexer::{DEFAULT_MAX_LINE, LineSplitter, RawLine, SliceLines};
use super::number::{NumberError, parse_number};

/// The command a line starts with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command<'a> {
    /// A letter + number command: `G1`, `M73`, `T0`, `G29.1` (`sub = Some(1)`).
    Code { letter: u8, number: u16, sub: Option<u8> },
    /// A Klipper-style extended command or macro name as written
    /// (`EXCLUDE_OBJECT_DEFINE`, `PRINT_START`); its `KEY=VALUE` parameters are in `Line::code`.
    Extended(&'a [u8]),
}

impl Command<'_> {
    /// `true` for exactly `letter` + `number` without a sub-code (`is(b'G', 1)`).
    pub fn is(&self, letter: u8, number: u16) -> bool {
        matches!(*self, Command::Code { letter: l, number: n, sub: None } if l == letter && n == number)
    }
}

/// Parameter words of a line: at most one value per letter (the last one wins).
#[derive(Clone, Copy, PartialEq)]
pub struct Words {
    present: u32,
    valued: u32,
    values: [f64; 26],
}

impl Default for Words {
    fn default() -> Self {
        Words { present: 0, valued: 0, values: [0.0; 26] }
    }
}

impl Words {
    fn slot(letter: u8) -> Option<usize> {
        let up = letter.to_ascii_uppercase();
        up.is_ascii_uppercase().then(|| usize::from(up - b'A'))
    }

    /// The value of `letter` (either case), if the word is there with a number.
    #[inline]
    pub fn get(&self, letter: u8) -> Option<f64> {
        let i = Self::slot(letter)?;
        (self.valued & (1 << i) != 0).then(|| self.values[i])
    }

    /// Whether the word is there, with or without a value (`G28 X`).
    #[inline]
    pub fn has(&self, letter: u8) -> bool {
        Self::slot(letter).is_some_and(|i| self.present & (1 << i) != 0)
    }

    pub fn is_empty(&self) -> bool {
        self.present == 0
    }

    /// Forgets every word (the values stay but are unreachable).
    fn clear(&mut self) {
        self.present = 0;
        self.valued = 0;
    }

    /// Number of distinct letters present.
    pub fn len(&self) -> usize {
        self.present.count_ones() as usize
    }

    /// Words in alphabetical order.
    pub fn iter(&self) -> impl Iterator<Item = (u8, Option<f64>)> + '_ {
        (0..26u8).filter(|i| self.present & (1 << i) != 0).map(|i| {
            let v = (self.valued & (1 << i) != 0).then(|| self.values[usize::from(i)]);
            (b'A' + i, v)
        })
    }

    /// Returns `true` when the letter was already there.
    fn set(&mut self, letter: u8, value: Option<f64>) -> bool {
        let Some(i) = Self::slot(letter) else { return false };
        let bit = 1u32 << i;
        let dup = self.present & bit != 0;
        self.present |= bit;
        match value {
            Some(v) => {
                self.valued |= bit;
                self.values[i] = v;
            }
            None => self.valued &= !bit,
        }
        dup
    }
}

impl std::fmt::Debug for Words {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut first = true;
        for (l, v) in self.iter() {
            if !first {
                f.write_str(" ")?;
            }
            first = false;
            match v {
                Some(v) => write!(f, "{}{}", l as char, v)?,
                None => write!(f, "{}", l as char)?,
            }
        }
        Ok(())
    }
}

/// What was wrong with a line; the parts that could be read are still there.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LineIssues {
    /// Bytes that are not G-code (stray punctuation, text, non-ASCII outside comments).
    pub junk: bool,
    /// Control bytes or NUL: binary data in a text file.
    pub binary: bool,
    /// A number that is not a finite value (`X1e999`).
    pub bad_number: bool,
    /// The same letter twice (`G1 X1 X2`); the last value is kept.
    pub duplicate_word: bool,
    /// `*nn` present and different from the XOR of the bytes before it.
    pub checksum_mismatch: bool,
    /// The line was longer than the cap; only its start was parsed.
    pub overlong: bool,
}

impl LineIssues {
    pub fn any(&self) -> bool {
        self.junk || self.binary || self.bad_number || self.duplicate_word || self.checksum_mismatch || self.overlong
    }
}

/// One parsed line; slices borrow from the input.
#[derive(Debug, Clone, Copy)]
pub struct Line<'a> {
    /// 1-based line number in the file.
    pub number: u64,
    /// Byte offset of the line's first byte.
    pub offset: u64,
    /// Byte offset just after the line's terminator.
    pub end: u64,
    /// The line without its terminator (at most the lexer's cap).
    pub raw: &'a [u8],
    pub command: Option<Command<'a>>,
    pub words: Words,
    /// The command text before any `;` comment or `*` checksum, trimmed
    /// (string arguments such as `M117 Hello` or `NAME=part_1` are read from here).
    pub code: &'a [u8],
    /// Text after the first `;` (not trimmed), or else the first `( … )` comment.
    pub comment: Option<&'a [u8]>,
    /// The `N` line number, if any.
    pub line_number: Option<u64>,
    /// The `*` checksum, if any.
    pub checksum: Option<u8>,
    pub issues: LineIssues,
}

/// Commands whose arguments are free text (file names, messages, object names).
fn takes_text(letter: u8, number: u16) -> bool {
    letter == b'M' && matches!(number, 23 | 28 | 30 | 32 | 33 | 117 | 118 | 550 | 587 | 588 | 928)
}

#[inline]
fn is_control(b: u8) -> bool {
    (b < 0x20 && b != b'\t' && b != 0x0c) || b == 0x7f
}

#[inline]
fn starts_number(b: u8) -> bool {
    b.is_ascii_digit() || matches!(b, b'.' | b'-' | b'+')
}

/// Parses one line. Total: any bytes give a `Line`, problems are in `issues`.
#[inline]
pub fn parse_line(raw: RawLine<'_>) -> Line<'_> {
    let mut line = Line::empty();
    parse_line_into(raw, &mut line);
    line
}

impl Line<'_> {
    /// A line with nothing on it (for [`parse_line_into`]).
    pub fn empty() -> Self {
        Line {
            number: 0,
            offset: 0,
            end: 0,
            raw: &[],
            command: None,
            words: Words::default(),
            code: &[],
            comment: None,
            line_number: None,
            checksum: None,
            issues: LineIssues::default(),
        }
    }
}

/// Parses one line into `line`, overwriting everything in it: the fast path
/// for callers that parse many lines of one buffer (no per-line copy).
///
/// One pass over the bytes: each byte class has its step in [`Scan`]; a step
/// that reaches free text (an extended command, `M117 …`, a checksum) ends
/// the pass.
#[inline]
pub fn parse_line_into<'a>(raw: RawLine<'a>, line: &mut Line<'a>) {
    let s = reset(raw, line);
    let mut scan = Scan { i: 0, code_start: None, code_end: 0, paren_comment: None, lenient: false };
    while scan.i < s.len() {
        let b = s[scan.i];
        let more = match b {
            b' ' | b'\t' | 0x0c | b'%' => {
                scan.i += 1;
                true
            }
            b';' => {
                line.comment = Some(&s[scan.i + 1..]);
                false
            }
            b'(' => scan.paren_comment(s),
            b'"' => scan.quoted(s, line),
            b'{' => scan.placeholder(s, line),
            b'*' => checksum(s, scan.i, line),
            _ if b.is_ascii_alphabetic() => scan.word(s, line),
            _ => scan.stray(s, line),
        };
        if !more {
            break;
        }
    }
    scan.finish(s, line);
}

/// Clears `line` for `raw` and returns the bytes to scan (a UTF-8 byte order
/// mark some editors put at the start of the file is not junk).
#[inline(always)]
fn reset<'a>(raw: RawLine<'a>, line: &mut Line<'a>) -> &'a [u8] {
    let s = if raw.offset == 0 { raw.bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(raw.bytes) } else { raw.bytes };
    line.number = raw.number;
    line.offset = raw.offset;
    line.end = raw.end;
    line.raw = s;
    line.command = None;
    line.words.clear();
    line.code = &[];
    line.comment = None;
    line.line_number = None;
    line.checksum = None;
    line.issues = LineIssues { overlong: raw.overlong, ..LineIssues::default() };
    s
}

/// `*NN`: the checksum over what precedes it. Whatever follows is ignored,
/// except a comment; the scan ends here (returns `false`).
#[inline(always)]
fn checksum<'a>(s: &'a [u8], i: usize, line: &mut Line<'a>) -> bool {
    let digits = s[i + 1..].iter().take_while(|b| b.is_ascii_digit()).count();
    let given = std::str::from_utf8(&s[i + 1..i + 1 + digits]).ok().and_then(|t| t.parse::<u16>().ok());
    let computed = s[..i].iter().fold(0u8, |a, &b| a ^ b);
    match given {
        Some(g) if g <= 255 => {
            line.checksum = Some(g as u8);
            line.issues.checksum_mismatch = g as u8 != computed;
        }
        _ => line.issues.checksum_mismatch = true,
    }
    if let Some(j) = memchr(b';', &s[i..]) {
        line.comment = Some(&s[i + j + 1..]);
    }
    false
}

/// Where the scan of one line is. Every step returns whether the scan goes on.
/// The steps are `#[inline(always)]` so the split costs nothing: with plain
/// `#[inline]`, callgrind counted 3.7 % more instructions to parse the test
/// fixtures than the single function had; with it, 0.7 % fewer.
struct Scan<'a> {
    i: usize,
    /// Where the command text starts and ends (for `Line::code`).
    code_start: Option<usize>,
    code_end: usize,
    /// The first `( … )` comment, used when there is no `;` comment.
    paren_comment: Option<&'a [u8]>,
    /// After `M486`: object names may hold anything, so tolerate what follows.
    lenient: bool,
}

impl<'a> Scan<'a> {
    /// `( … )`: kept if it is the first, skipped either way.
    #[inline(always)]
    fn paren_comment(&mut self, s: &'a [u8]) -> bool {
        let i = self.i;
        let close = memchr(b')', &s[i + 1..]).map(|j| i + 1 + j);
        let text = &s[i + 1..close.unwrap_or(s.len())];
        self.paren_comment.get_or_insert(text);
        self.i = close.map_or(s.len(), |c| c + 1);
        true
    }

    /// A quoted string argument (Prusa `M862.3 P "MK3S"`, RepRapFirmware `M98 P"file"`).
    #[inline(always)]
    fn quoted(&mut self, s: &'a [u8], line: &mut Line<'a>) -> bool {
        let i = self.i;
        self.code_start.get_or_insert(i);
        let close = memchr(b'"', &s[i + 1..]).map_or(s.len(), |j| i + 2 + j);
        scan_binary(&s[i..close], &mut line.issues);
        self.code_end = close;
        self.i = close;
        true
    }

    /// An unexpanded slicer placeholder (`Y{machine_depth}`): junk, but one piece of it.
    #[inline(always)]
    fn placeholder(&mut self, s: &'a [u8], line: &mut Line<'a>) -> bool {
        let i = self.i;
        self.code_start.get_or_insert(i);
        let close = memchr(b'}', &s[i + 1..]).map_or(s.len(), |j| i + 2 + j);
        scan_binary(&s[i..close], &mut line.issues);
        line.issues.junk |= !self.lenient;
        self.code_end = close;
        self.i = close;
        true
    }

    /// Any other byte: binary or junk (tolerated after `M486`).
    #[inline(always)]
    fn stray(&mut self, s: &'a [u8], line: &mut Line<'a>) -> bool {
        let b = s[self.i];
        self.code_start.get_or_insert(self.i);
        if is_control(b) {
            line.issues.binary = true;
        } else if !self.lenient {
            line.issues.junk = true;
        }
        self.code_end = self.i + 1;
        self.i += 1;
        true
    }

    /// A letter: an extended command, the command, `N`, or a parameter word.
    #[inline(always)]
    fn word(&mut self, s: &'a [u8], line: &mut Line<'a>) -> bool {
        let i = self.i;
        let letter = s[i].to_ascii_uppercase();
        let next = s.get(i + 1).copied().unwrap_or(b' ');
        if line.command.is_none() && (next.is_ascii_alphabetic() || next == b'_') {
            return self.extended(s, line);
        }
        self.code_start.get_or_insert(i);
        let mut j = i + 1;
        while matches!(s.get(j), Some(b' ' | b'\t')) {
            j += 1;
        }
        let command = line.command.is_none() && matches!(letter, b'G' | b'M' | b'T');
        if command && let Some(more) = self.small_command(s, j, letter, line) {
            return more;
        }
        let value = self.value(s, j, line);
        self.code_end = self.i;
        if command {
            match value {
                Some(v) if (0.0..65536.0).contains(&v) => {
                    // `as` truncates toward zero (no libm call; v is in 0..65536).
                    let number = v as u16;
                    let frac = v - f64::from(number);
                    let sub = (frac > 1e-9).then(|| ((frac * 10.0).round() as u8).min(9));
                    if !self.command(s, Command::Code { letter, number, sub }, line) {
                        return false;
                    }
                }
                _ => line.issues.junk = true,
            }
        } else if line.command.is_none() && letter == b'N' && value.is_some() {
            line.line_number = value.filter(|v| *v >= 0.0 && *v < 1e18).map(|v| v as u64);
        } else if line.words.set(letter, value) && !self.lenient {
            line.issues.duplicate_word = true;
        }
        if let Some(&c) = s.get(self.i)
            && value.is_some()
            && (c.is_ascii_digit() || c == b'.')
        {
            line.issues.junk |= !self.lenient; // `2.5.5`
        }
        true
    }

    /// Extended command: the name, then free-form KEY=VALUE text up to a comment.
    #[inline(always)]
    fn extended(&mut self, s: &'a [u8], line: &mut Line<'a>) -> bool {
        let i = self.i;
        let len = s[i..].iter().take_while(|b| b.is_ascii_alphanumeric() || **b == b'_').count();
        line.command = Some(Command::Extended(&s[i..i + len]));
        self.code_start.get_or_insert(i);
        self.code_end = text_argument(s, i, line);
        false
    }

    /// Fast path for the command itself (`G1`, `M73`, `T0`): a small integer,
    /// no float parsing. `None` when the number is not that simple.
    #[inline(always)]
    fn small_command(&mut self, s: &'a [u8], j: usize, letter: u8, line: &mut Line<'a>) -> Option<bool> {
        let digits = s[j..].iter().take(6).take_while(|b| b.is_ascii_digit()).count();
        let after = s.get(j + digits).copied().unwrap_or(b' ');
        if !(1..=5).contains(&digits) || matches!(after, b'.' | b'e') || after.is_ascii_digit() {
            return None;
        }
        let n = s[j..j + digits].iter().fold(0u32, |a, &d| a * 10 + u32::from(d - b'0'));
        let number = u16::try_from(n).ok()?;
        self.i = j + digits;
        self.code_end = self.i;
        Some(self.command(s, Command::Code { letter, number, sub: None }, line))
    }

    /// Sets the line's command; a command that takes free text ends the scan.
    #[inline(always)]
    fn command(&mut self, s: &'a [u8], command: Command<'a>, line: &mut Line<'a>) -> bool {
        line.command = Some(command);
        let Command::Code { letter, number, .. } = command else { return true };
        if takes_text(letter, number) {
            self.code_end = text_argument(s, self.i, line);
            return false;
        }
        self.lenient = letter == b'M' && number == 486;
        true
    }

    /// The number after a letter at `j` (spaces skipped), moving past it.
    #[inline(always)]
    fn value(&mut self, s: &'a [u8], j: usize, line: &mut Line<'a>) -> Option<f64> {
        match s.get(j) {
            Some(&c) if starts_number(c) => match parse_number(&s[j..]) {
                Ok((v, used)) => {
                    self.i = j + used;
                    Some(v)
                }
                Err(NumberError::Missing) => {
                    self.i = j;
                    None
                }
                Err(NumberError::NotFinite) => {
                    line.issues.bad_number = true;
                    let skip = s[j..]
                        .iter()
                        .take_while(|c| c.is_ascii_digit() || matches!(c, b'.' | b'e' | b'-' | b'+'))
                        .count();
                    self.i = j + skip.max(1);
                    None
                }
            },
            _ => {
                self.i += 1;
                None
            }
        }
    }

    /// The command text and the comment, once the bytes are scanned.
    #[inline(always)]
    fn finish(self, s: &'a [u8], line: &mut Line<'a>) {
        if let Some(start) = self.code_start {
            let end = self.code_end.clamp(start, s.len());
            line.code = trim_end(&s[start..end]);
        }
        if line.comment.is_none() {
            line.comment = self.paren_comment;
        }
        if let Some(c) = line.comment {
            scan_binary(c, &mut line.issues);
        }
    }
}

/// After a command that takes free text (`M117 Hello`): where its text ends
/// (at a `;` comment or the end), with the comment and binary check applied.
fn text_argument<'a>(s: &'a [u8], i: usize, line: &mut Line<'a>) -> usize {
    let stop = memchr(b';', &s[i..]).map_or(s.len(), |k| i + k);
    if stop < s.len() {
        line.comment = Some(&s[stop + 1..]);
    }
    scan_binary(&s[i..stop], &mut line.issues);
    stop
}

fn scan_binary(bytes: &[u8], issues: &mut LineIssues) {
    if bytes.iter().any(|&b| is_control(b)) {
        issues.binary = true;
    }
}

fn trim_end(s: &[u8]) -> &[u8] {
    let n = s.iter().rposition(|b| !b.is_ascii_whitespace()).map_or(0, |p| p + 1);
    &s[..n]
}

/// Parsed lines of a complete in-memory buffer, without copying.
pub fn lines(data: &[u8]) -> impl Iterator<Item = Line<'_>> {
    SliceLines::new(data, DEFAULT_MAX_LINE).map(parse_line)
}

/// Push parser over a stream of byte chunks (a file read piece by piece, a socket).
#[derive(Debug, Default)]
pub struct StreamParser {
    splitter: LineSplitter,
}

impl StreamParser {
    pub fn new(max_line: usize) -> Self {
        StreamParser { splitter: LineSplitter::new(max_line) }
    }

    /// Parses every line completed by `chunk`.
    pub fn feed(&mut self, chunk: &[u8], mut f: impl FnMut(&Line<'_>)) {
        self.splitter.feed(chunk, &mut |raw| f(&parse_line(raw)));
    }

    /// Parses the last line if it had no terminator.
    pub fn finish(&mut self, mut f: impl FnMut(&Line<'_>)) {
        self.splitter.finish(&mut |raw| f(&parse_line(raw)));
    }

    /// Reads `reader` to the end in 64 KiB pieces.
    pub fn parse_reader<R: std::io::Read>(
        &mut self,
        mut reader: R,
        mut f: impl FnMut(&Line<'_>),
    ) -> std::io::Result<()> {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = match reader.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            self.feed(&buf[..n], &mut f);
        }
        self.finish(&mut f);
        Ok(())
    }
}

#[cfg(test)]
#[path = "parser_tests.rs"]
mod tests;
