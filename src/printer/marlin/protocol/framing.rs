//! Outgoing line framing: `N<n> <command>*<xor checksum>`, the `M110` line-number
//! reset, and cleaning a G-code file line down to what the firmware needs.
//!
//! Pure functions only; the send window (`window.rs`) decides what to frame when.

use std::borrow::Cow;

/// XOR of every byte, as Marlin (and every RepRap-style firmware) checks it.
pub fn checksum(bytes: &[u8]) -> u8 {
    bytes.iter().fold(0, |acc, b| acc ^ b)
}

/// Frames a command with a line number and checksum: `N12 G1 X1*34`.
pub fn numbered(n: u32, command: &str) -> String {
    let body = format!("N{n} {command}");
    let cs = checksum(body.as_bytes());
    format!("{body}*{cs}")
}

/// The line that resets the firmware's line counter so that the next line is `n + 1`:
/// `N<n> M110 N<n>*cs` (Marlin skips the sequence check for M110).
pub fn line_number_reset(n: u32) -> String {
    numbered(n, &format!("M110 N{n}"))
}

/// Reduces one G-code file line to the command the firmware should run, or `None`
/// for blank and comment-only lines.
///
/// Drops `;` comments, surrounding whitespace and carriage returns, and a line
/// number or checksum the file may already carry (we number lines ourselves).
/// Parenthesised text is kept: `M117 Printing (50%)` is a message, not a comment.
pub fn clean_line(raw: &[u8]) -> Option<Cow<'_, str>> {
    let text = match std::str::from_utf8(raw) {
        Ok(t) => Cow::Borrowed(t),
        Err(_) => Cow::Owned(String::from_utf8_lossy(raw).into_owned()),
    };
    let code = match text.find(';') {
        Some(i) => &text[..i],
        None => &text[..],
    };
    let mut code = code.trim();
    // An existing `N123 ` prefix and `*45` suffix belong to another host's framing.
    if let Some(rest) = code.strip_prefix(['N', 'n']) {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits > 0 && rest[digits..].starts_with([' ', '\t']) {
            code = rest[digits..].trim_start();
        }
    }
    if let Some(star) = code.rfind('*') {
        if code[star + 1..].bytes().all(|b| b.is_ascii_digit()) {
            code = code[..star].trim_end();
        }
    }
    if code.is_empty() {
        return None;
    }
    Some(match text {
        Cow::Borrowed(_) if code.len() == raw.len() => text,
        _ => Cow::Owned(code.to_string()),
    })
}

/// The G/M code word of a cleaned command, upper-cased (`"G1"`, `"M109"`, `"T0"`).
pub fn command_word(command: &str) -> &str {
    command.split_ascii_whitespace().next().unwrap_or("")
}

/// The numeric value of parameter `letter` in a command (`param("G1 X10 F300", 'F') == Some(300.0)`).
pub fn param(command: &str, letter: char) -> Option<f32> {
    command.split_ascii_whitespace().skip(1).find_map(|w| {
        let mut chars = w.chars();
        let first = chars.next()?;
        if first.eq_ignore_ascii_case(&letter) {
            chars.as_str().parse::<f32>().ok()
        } else {
            None
        }
    })
}

/// True if the command names parameter `letter` at all (`G28 X`, `G92 E0`).
pub fn has_param(command: &str, letter: char) -> bool {
    command
        .split_ascii_whitespace()
        .skip(1)
        .any(|w| w.chars().next().is_some_and(|c| c.eq_ignore_ascii_case(&letter)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checksums_match_marlin() {
        // Values computed by hand and cross-checked with OctoPrint's VirtualPrinter.
        assert_eq!(numbered(0, "M110 N0"), "N0 M110 N0*125");
        assert_eq!(numbered(1, "M115"), "N1 M115*39");
        assert_eq!(line_number_reset(0), "N0 M110 N0*125");
        assert_eq!(checksum(b""), 0);
    }

    #[test]
    fn clean_lines() {
        let cases: &[(&[u8], Option<&str>)] = &[
            (b"G1 X10 Y20 ; move\r\n", Some("G1 X10 Y20")),
            (b"; only a comment", None),
            (b"   \t\r\n", None),
            (b"", None),
            (b"N55 G28*19", Some("G28")),
            (b"M117 Printing (50%)", Some("M117 Printing (50%)")),
            (b"G1 X1*", Some("G1 X1")),
            (b"N12G1", Some("N12G1")),
            (b"M117 caf\xe9", Some("M117 caf\u{fffd}")),
            (b"G1 X1", Some("G1 X1")),
        ];
        for (raw, want) in cases {
            assert_eq!(clean_line(raw).as_deref(), *want, "{:?}", String::from_utf8_lossy(raw));
        }
    }

    #[test]
    fn params() {
        assert_eq!(param("G1 X10 F300", 'F'), Some(300.0));
        assert_eq!(param("G1 X10 f300", 'F'), Some(300.0));
        assert_eq!(param("G1 X10", 'F'), None);
        assert_eq!(param("M104 S", 'S'), None);
        assert!(has_param("G28 X", 'X'));
        assert!(!has_param("G28", 'X'));
        assert_eq!(command_word("  M109 S200"), "M109");
    }
}
