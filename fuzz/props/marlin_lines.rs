//! What a Marlin-style firmware sends on the serial line: line splitting and the response classifier (`ok` with line
//! numbers, ADVANCED_OK and reports, `Resend:`/`rs`, `busy:`, temperature and position reports, errors, `M115`…).
//!
//! Properties: the line reader never buffers more than one line's cap plus one chunk, never yields a line with a
//! terminator in it or longer than the cap unless it arrived whole, and gives the same lines whole or chunked when
//! no line is over the cap; every line classifies the same twice, serializes to JSON, and reads every number it
//! reports as a finite value; a `Resend` or numbered `ok` names a number written in the line.

use crate::printer::marlin::protocol::lines::MAX_LINE;
use crate::printer::marlin::protocol::{LineReader, Response, parse};

pub fn check(data: &[u8]) {
    let whole = lines(data, &[data.len()]);
    let sel = data.first().copied().unwrap_or(0);
    let chunked = lines(data, &[1 + usize::from(sel % 16), 2, 61]);
    let longest = data.split(|b| *b == b'\n' || *b == b'\r').map(<[u8]>::len).max().unwrap_or(0);
    if longest <= MAX_LINE {
        assert_eq!(whole, chunked, "chunking changed the lines");
    }
    for line in whole.iter().chain(&chunked) {
        assert!(!line.contains(&b'\n') && !line.contains(&b'\r'), "a terminator inside {:?}", line.escape_ascii());
        let r = parse(line);
        assert_eq!(r, parse(line), "the same line classified twice differently");
        serde_json::to_string(&r).expect("every response serializes");
        assert!(numbers_finite(&r), "a non-finite number in {r:?} from {:?}", line.escape_ascii());
        let text = String::from_utf8_lossy(line);
        match &r {
            Response::Resend { line: n } => assert!(text.contains(&n.to_string()), "Resend {n} from {text:?}"),
            Response::Ok(ok) => {
                if let Some(n) = ok.line {
                    assert!(text.contains(&n.to_string()), "ok for line {n} from {text:?}");
                }
            }
            _ => {}
        }
    }
}

fn lines(data: &[u8], sizes: &[usize]) -> Vec<Vec<u8>> {
    let mut reader = LineReader::new();
    let mut out = vec![];
    for c in crate::fuzz_props::chunks(data, sizes) {
        reader.push(c);
        while let Some(l) = reader.next_line() {
            assert!(l.bytes.len() <= MAX_LINE || !l.truncated, "a truncated line longer than the cap");
            out.push(l.bytes);
        }
        assert!(
            reader.pending() <= MAX_LINE + c.len(),
            "{} bytes pending after a chunk of {}",
            reader.pending(),
            c.len()
        );
    }
    out
}

/// Whether a report's numbers are all finite, read from the `Debug` form (`NaN`, `inf`) of the parts that carry
/// numbers and no text.
fn numbers_finite(r: &Response) -> bool {
    let numeric = match r {
        Response::Ok(ok) => format!("{:?} {:?} {:?} {:?}", ok.temps, ok.position, ok.planner_free, ok.line),
        Response::Temperatures(t) => format!("{t:?}"),
        Response::Position(p) => format!("{p:?}"),
        Response::Progress { percent, remaining_min } => format!("{percent:?} {remaining_min:?}"),
        _ => return true,
    };
    !numeric.split(|c: char| !c.is_ascii_alphanumeric()).any(|w| w == "NaN" || w == "inf")
}
