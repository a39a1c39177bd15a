//! Fuzz target: the line parser on arbitrary bytes: no panic, slices within
//! the line, and the same lines whether pulled from a buffer or pushed in pieces.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../../src/gcode/mod.rs"]
#[allow(dead_code, unused_imports)]
mod gcode;

use gcode::parser::{StreamParser, lines};

fuzz_target!(|data: &[u8]| {
    let mut pulled = Vec::new();
    for l in lines(data) {
        assert!(l.offset <= l.end && l.end <= data.len() as u64);
        assert!(l.raw.len() as u64 <= l.end - l.offset);
        assert!(l.code.len() <= l.raw.len());
        for (letter, v) in l.words.iter() {
            assert!(letter.is_ascii_uppercase());
            assert!(v.is_none_or(f64::is_finite));
        }
        pulled.push((l.number, l.offset, l.end, l.raw.to_vec(), format!("{:?}", l.words), l.issues));
    }
    let mut pushed = Vec::new();
    let mut p = StreamParser::new(gcode::lexer::DEFAULT_MAX_LINE);
    let piece = data.last().map_or(1, |b| usize::from(*b % 11) + 1);
    for chunk in data.chunks(piece) {
        p.feed(chunk, |l| pushed.push((l.number, l.offset, l.end, l.raw.to_vec(), format!("{:?}", l.words), l.issues)));
    }
    p.finish(|l| pushed.push((l.number, l.offset, l.end, l.raw.to_vec(), format!("{:?}", l.words), l.issues)));
    assert_eq!(pulled, pushed);
});
