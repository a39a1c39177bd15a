//! Leaving cancelled objects out of a G-code stream, line by line: what a
//! host that streams the file (Marlin host mode) does to cancel one object.
//!
//! [`ObjectSkipper`] reads every raw line of the file in order (comments
//! included: PrusaSlicer's `; printing object …` labels are comments) and
//! tracks the current object with the analyzer's own rules (`objects.rs`:
//! Klipper `EXCLUDE_OBJECT_*` over `M486` over slicer comments), so its object
//! indices are `Analysis::objects` indices. Inside a cancelled object's block
//! it drops the **moves** (`G0`–`G3`) and keeps everything else (fan, feature,
//! `G92`, temperatures, tool changes, firmware retraction), as Klipper's
//! `exclude_object` ignores only moves.
//!
//! After a skipped block, the first move that is sent again is made safe:
//!
//! * absolute E (`M82`): `G92 E<the file's E>` first, so the next extrusion is
//!   not the whole skipped block's filament at once;
//! * a move that extrudes on its way out of the skipped object becomes a travel
//!   (its `E` is dropped: the nozzle is not where the file thinks);
//! * a Z the skipped block left different is restored (`G1 Z…`) before it,
//!   a missing `X`/`Y` is filled in from the file, and a feed rate the skipped
//!   block changed is carried on it.
//!
//! Relative E (`M83`, PrusaSlicer's default) needs no `G92`: skipped
//! extrusion is simply never sent. Positions follow Marlin (`G90`/`G91` set E's
//! mode too, `M82`/`M83` override it). Limits: an arc (`G2`/`G3`) as the first
//! move after a skip is sent as is (after the `G92`/Z/F fixes); relative XYZ
//! (`G91`) moves after a skip are sent as is. Pure: no I/O.

use std::collections::BTreeSet;

use super::comments::{Note, classify};
use super::lexer::RawLine;
use super::objects::Objects;
use super::parser::{Command, Line, parse_line};

const X: usize = 0;
const Y: usize = 1;
const Z: usize = 2;
const E: usize = 3;

/// What to send for one line of the file.
#[derive(Debug, Clone, PartialEq)]
pub enum Filtered {
    /// Send the line as it is.
    Keep,
    /// A move of a cancelled object: send nothing.
    Skip,
    /// Send these lines instead (host fixes and the possibly rewritten line).
    Replace(Vec<String>),
}

/// Streams a file while leaving out cancelled objects' moves; see the module doc.
#[derive(Debug)]
pub struct ObjectSkipper {
    objects: Objects,
    cancelled: BTreeSet<u32>,
    /// The file's logical position (X, Y, Z, E) and feed rate.
    file: [f64; 4],
    file_f: Option<f64>,
    /// What the printer has after the last line sent, while it differs from the file.
    sent: Option<([f64; 4], Option<f64>)>,
    abs_xyz: bool,
    abs_e: bool,
    line: u64,
    offset: u64,
    /// Moves left out so far.
    pub skipped_moves: u64,
}

impl Default for ObjectSkipper {
    fn default() -> Self {
        ObjectSkipper {
            objects: Objects::default(),
            cancelled: BTreeSet::new(),
            file: [0.0; 4],
            file_f: None,
            sent: None,
            abs_xyz: true,
            abs_e: true,
            line: 0,
            offset: 0,
            skipped_moves: 0,
        }
    }
}

impl ObjectSkipper {
    pub fn new() -> Self {
        ObjectSkipper::default()
    }

    /// Leaves out object `index` (an `Analysis::objects` index) from the next line on.
    /// Returns `false` when it already was.
    pub fn cancel(&mut self, index: u32) -> bool {
        self.cancelled.insert(index)
    }

    pub fn is_cancelled(&self, index: u32) -> bool {
        self.cancelled.contains(&index)
    }

    pub fn cancelled(&self) -> impl Iterator<Item = u32> + '_ {
        self.cancelled.iter().copied()
    }

    /// The object whose block the stream is in (its index), if any.
    pub fn current(&self) -> Option<u32> {
        self.objects.current.map(|i| i as u32)
    }

    /// Names of the objects labelled so far, by index (as the file names them).
    pub fn names_seen(&self) -> impl Iterator<Item = &str> {
        self.objects.list.iter().map(|o| o.name.as_str())
    }

    /// Decides what to send for the next raw line of the file (without its terminator).
    pub fn filter(&mut self, raw: &[u8]) -> Filtered {
        self.line += 1;
        let rl = RawLine { number: self.line, offset: self.offset, end: self.offset, bytes: raw, overlong: false };
        self.offset += raw.len() as u64 + 1;
        let l = parse_line(rl);
        if l.issues.binary {
            return Filtered::Keep;
        }
        if let Some(c) = l.comment {
            match classify(c) {
                Note::ObjectStart(r) => self.objects.comment_start(r),
                Note::ObjectStop(r) => self.objects.comment_stop(r),
                _ => {}
            }
        }
        let motion = match l.command {
            Some(Command::Code { letter: b'G', number: n @ 0..=3, sub: None }) => Some(n),
            Some(Command::Code { letter, number, sub: None }) => {
                self.modal(&l, letter, number);
                None
            }
            Some(Command::Extended(name)) if name.len() > 15 && name[..15].eq_ignore_ascii_case(b"EXCLUDE_OBJECT_") => {
                self.objects.klipper(name, l.code);
                None
            }
            _ => None,
        };
        let Some(g) = motion else { return Filtered::Keep };
        let before = self.file;
        let f_before = self.file_f;
        self.advance(&l);
        let in_cancelled = self.current().is_some_and(|i| self.cancelled.contains(&i));
        if in_cancelled {
            self.skipped_moves += 1;
            if self.sent.is_none() {
                self.sent = Some((before, f_before));
            }
            return Filtered::Skip;
        }
        if self.sent.is_none() {
            return Filtered::Keep;
        }
        let lines = self.resync(&l, g, before);
        let code = std::str::from_utf8(l.code).unwrap_or("").trim();
        if lines.len() == 1 && lines[0] == code { Filtered::Keep } else { Filtered::Replace(lines) }
    }

    /// Modal commands that change how moves are read (Marlin's semantics).
    fn modal(&mut self, l: &Line<'_>, letter: u8, number: u16) {
        let w = &l.words;
        match (letter, number) {
            (b'G', 90) => {
                self.abs_xyz = true;
                self.abs_e = true;
            }
            (b'G', 91) => {
                self.abs_xyz = false;
                self.abs_e = false;
            }
            (b'M', 82) => self.abs_e = true,
            (b'M', 83) => self.abs_e = false,
            (b'G', 92) => {
                let any = [b'X', b'Y', b'Z', b'E'].iter().any(|a| w.has(*a));
                for (i, a) in [b'X', b'Y', b'Z', b'E'].into_iter().enumerate() {
                    let v = if any { w.get(a) } else { Some(0.0) };
                    if let Some(v) = v.filter(|v| v.is_finite()) {
                        // Sent as it is: the printer takes the same value.
                        if let Some((sent, _)) = self.sent.as_mut() {
                            sent[i] = v;
                        }
                        self.file[i] = v;
                    }
                }
                self.drop_sent_if_equal();
            }
            (b'G', 28) => {
                let any = [b'X', b'Y', b'Z'].iter().any(|a| w.has(*a));
                for (i, a) in [b'X', b'Y', b'Z'].into_iter().enumerate() {
                    if !any || w.has(a) {
                        self.file[i] = 0.0;
                        if let Some((sent, _)) = self.sent.as_mut() {
                            sent[i] = 0.0;
                        }
                    }
                }
                self.drop_sent_if_equal();
            }
            (b'M', 486) => self.objects.m486(w.get(b'S'), w.get(b'T'), l.code),
            _ => {}
        }
    }

    fn drop_sent_if_equal(&mut self) {
        if let Some((sent, f)) = self.sent
            && sent.iter().zip(self.file.iter()).all(|(a, b)| (a - b).abs() < 1e-9)
            && f == self.file_f
        {
            self.sent = None;
        }
    }

    /// The file's position after a move.
    fn advance(&mut self, l: &Line<'_>) {
        let w = &l.words;
        if let Some(f) = w.get(b'F').filter(|f| f.is_finite() && *f > 0.0) {
            self.file_f = Some(f);
        }
        for (i, a) in [b'X', b'Y', b'Z', b'E'].into_iter().enumerate() {
            if let Some(v) = w.get(a).filter(|v| v.is_finite()) {
                let abs = if i == E { self.abs_e } else { self.abs_xyz };
                self.file[i] = if abs { v } else { self.file[i] + v };
            }
        }
    }

    /// The lines to send for a move while the printer's state differs from the
    /// file's (after a skipped block): `l` is already applied to `self.file`.
    fn resync(&mut self, l: &Line<'_>, g: u16, before: [f64; 4]) -> Vec<String> {
        let Some((mut sent, sent_f)) = self.sent.take() else { return Vec::new() };
        let w = &l.words;
        let mut out = Vec::new();
        let off = |i: usize, s: &[f64; 4]| (s[i] - before[i]).abs() > 1e-9;
        let de = self.file[E] - before[E];
        let moves_xy = (self.file[X] - before[X]).abs() > 1e-9 || (self.file[Y] - before[Y]).abs() > 1e-9;
        // The nozzle is not where the file thinks: a move that would extrude from there travels instead.
        let drop_e = de > 0.0 && moves_xy && (off(X, &sent) || off(Y, &sent)) && g <= 1 && self.abs_xyz;
        if self.abs_e {
            let e = if drop_e { self.file[E] } else { before[E] };
            if (sent[E] - e).abs() > 1e-9 {
                out.push(format!("G92 E{}", num(e)));
            }
        }
        sent[E] = self.file[E];
        if self.abs_xyz && !w.has(b'Z') && off(Z, &sent) {
            out.push(format!("G1 Z{}", num(before[Z])));
        }
        sent[Z] = self.file[Z];
        let code = std::str::from_utf8(l.code).unwrap_or("").trim();
        if g >= 2 || !self.abs_xyz {
            // Arcs and relative moves are sent as written (with the feed rate the file is at).
            let mut line = code.to_string();
            if !w.has(b'F')
                && sent_f != self.file_f
                && let Some(f) = self.file_f
            {
                line.push_str(&format!(" F{}", num(f)));
            }
            out.push(line);
            return out;
        }
        // G0/G1 in absolute XYZ: rebuilt from the file's target when something must change.
        let mut line = format!("G{g}");
        let mut changed = drop_e;
        let has_xy = w.has(b'X') || w.has(b'Y');
        for (i, a) in [(X, b'X'), (Y, b'Y')] {
            // A move along one axis gets the other from the file; a move without X/Y
            // (retract, Z) never travels into the skipped object.
            let fill = !w.has(a) && has_xy && off(i, &sent);
            if w.has(a) || fill {
                line.push_str(&format!(" {}{}", a as char, num(self.file[i])));
                sent[i] = self.file[i];
                changed |= fill;
            }
        }
        if w.has(b'Z') {
            line.push_str(&format!(" Z{}", num(self.file[Z])));
        }
        if w.has(b'E') && !drop_e {
            let e = if self.abs_e { self.file[E] } else { de };
            line.push_str(&format!(" E{}", num(e)));
        }
        if (w.has(b'F') || sent_f != self.file_f)
            && let Some(f) = self.file_f
        {
            line.push_str(&format!(" F{}", num(f)));
            changed |= !w.has(b'F');
        }
        if !changed {
            out.push(code.to_string());
        } else if line.len() > 3 {
            out.push(line);
        }
        self.sent = Some((sent, self.file_f));
        self.drop_sent_if_equal();
        out
    }
}

/// A coordinate as slicers write it: at most 5 decimals, no trailing zeros.
fn num(v: f64) -> String {
    let s = format!("{v:.5}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s == "-0" || s.is_empty() { "0".to_string() } else { s.to_string() }
}

#[cfg(test)]
mod tests {
    use expect_test::{Expect, expect};

    use super::*;

    /// Streams `text` with the objects named in `cancel_at` cancelled at their line (1-based):
    /// the lines sent, `-` for a skipped line.
    fn check(text: &str, cancel_at: &[(usize, u32)], want: Expect) {
        let mut s = ObjectSkipper::new();
        let mut out = String::new();
        for (i, raw) in text.lines().enumerate() {
            for (at, idx) in cancel_at {
                if *at == i + 1 {
                    s.cancel(*idx);
                }
            }
            match s.filter(raw.as_bytes()) {
                Filtered::Keep => {
                    if !raw.trim().is_empty() {
                        out.push_str(&format!("  {raw}\n"));
                    }
                }
                Filtered::Skip => out.push_str(&format!("- {raw}\n")),
                Filtered::Replace(lines) => {
                    for l in lines {
                        out.push_str(&format!("+ {l}\n"));
                    }
                }
            }
        }
        want.assert_eq(&out);
    }

    #[test]
    fn relative_e_prusa_labels_skip_moves_keep_the_rest() {
        check(
            "M83\n; printing object a id:0 copy 0\nG1 X10 Y10 E1 F1200\n; stop printing object a id:0 copy 0\n\
             ; printing object b id:1 copy 0\nG1 E-.8 F2100\nG1 X50 Y50 F7800\nM106 S255\nG1 E.8\nG1 X60 Y50 E2 F1200\n\
             ; stop printing object b id:1 copy 0\n; printing object a id:0 copy 0\nG1 E-.8 F2100\nG1 X11 Y10\n\
             G1 E.8\nG1 X12 Y10 E1 F1200\n; stop printing object a id:0 copy 0\n",
            &[(1, 1)],
            expect![[r#"
                  M83
                  ; printing object a id:0 copy 0
                  G1 X10 Y10 E1 F1200
                  ; stop printing object a id:0 copy 0
                  ; printing object b id:1 copy 0
                - G1 E-.8 F2100
                - G1 X50 Y50 F7800
                  M106 S255
                - G1 E.8
                - G1 X60 Y50 E2 F1200
                  ; stop printing object b id:1 copy 0
                  ; printing object a id:0 copy 0
                  G1 E-.8 F2100
                  G1 X11 Y10
                  G1 E.8
                  G1 X12 Y10 E1 F1200
                  ; stop printing object a id:0 copy 0
            "#]],
        );
    }

    #[test]
    fn absolute_e_gets_a_g92_and_an_extruding_exit_becomes_a_travel() {
        check(
            "M82\nG92 E0\nM486 S0\nG1 X10 Y10 E1 F1200\nM486 S1\nG1 X50 Y50 Z0.6 E5 F600\nG1 X60 Y50 E9\n\
             M486 S0\nG1 X12 Y10 E10 F1200\nG1 X14 Y10 E11\nM486 S-1\n",
            &[(1, 1)],
            expect![[r#"
                  M82
                  G92 E0
                  M486 S0
                  G1 X10 Y10 E1 F1200
                  M486 S1
                - G1 X50 Y50 Z0.6 E5 F600
                - G1 X60 Y50 E9
                  M486 S0
                + G92 E10
                + G1 Z0.6
                + G1 X12 Y10 F1200
                  G1 X14 Y10 E11
                  M486 S-1
            "#]],
        );
    }

    #[test]
    fn klipper_labels_cancelled_mid_block_and_g92_inside_the_block() {
        check(
            "EXCLUDE_OBJECT_DEFINE NAME=a\nEXCLUDE_OBJECT_DEFINE NAME=b\nM82\nEXCLUDE_OBJECT_START NAME=b\n\
             G1 X1 Y1 E1 F900\nG1 X2 Y1 E2\nG92 E0\nG1 X3 Y1 E1\nEXCLUDE_OBJECT_END NAME=b\n\
             EXCLUDE_OBJECT_START NAME=a\nG1 X9 Y9 F9000\nG1 X9 Y10 E2\nEXCLUDE_OBJECT_END NAME=a\n",
            &[(6, 1)],
            expect![[r#"
                  EXCLUDE_OBJECT_DEFINE NAME=a
                  EXCLUDE_OBJECT_DEFINE NAME=b
                  M82
                  EXCLUDE_OBJECT_START NAME=b
                  G1 X1 Y1 E1 F900
                - G1 X2 Y1 E2
                  G92 E0
                - G1 X3 Y1 E1
                  EXCLUDE_OBJECT_END NAME=b
                  EXCLUDE_OBJECT_START NAME=a
                + G92 E1
                + G1 X9 Y9 F9000
                  G1 X9 Y10 E2
                  EXCLUDE_OBJECT_END NAME=a
            "#]],
        );
    }

    #[test]
    fn nothing_cancelled_sends_every_line_unchanged() {
        let text = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/gcode/prusa_two_objects_support.gcode"
        ))
        .unwrap();
        let mut s = ObjectSkipper::new();
        for raw in text.lines() {
            assert_eq!(s.filter(raw.as_bytes()), Filtered::Keep, "{raw}");
        }
        assert_eq!(s.names_seen().collect::<Vec<_>>(), ["cube10.stl id:0 copy 0", "tee.stl id:1 copy 0"]);
    }

    #[test]
    fn numbers_are_written_like_a_slicer() {
        assert_eq!(num(1.0), "1");
        assert_eq!(num(-0.000001), "0");
        assert_eq!(num(12.345678), "12.34568");
        assert_eq!(num(0.5), "0.5");
    }
}
