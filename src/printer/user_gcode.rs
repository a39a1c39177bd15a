//! The user's own G-code lines (`run_gcode`: the light's `on_gcode`/`off_gcode`,
//! `M355`, `SET_PIN`): trimmed, bounded, one command per line. Pure, so the
//! config check and every link apply the same rule (and the fuzz build
//! compiles it with the config).

/// At most this many lines in one `run_gcode` batch, each at most [`MAX_GCODE_LINE`] bytes.
pub const MAX_GCODE_LINES: usize = 16;
pub const MAX_GCODE_LINE: usize = 120;

/// The lines of a batch, trimmed, without blanks; refused (with why) when
/// empty, too many or too long, or when a line holds a control character (a
/// newline would smuggle in a second command).
pub fn check(lines: &[String]) -> Result<Vec<String>, String> {
    let out: Vec<String> = lines.iter().map(|l| l.trim().to_string()).filter(|l| !l.is_empty()).collect();
    if out.is_empty() {
        return Err("no G-code to send".into());
    }
    if out.len() > MAX_GCODE_LINES {
        return Err(format!("{} lines, at most {MAX_GCODE_LINES}", out.len()));
    }
    for l in &out {
        if l.len() > MAX_GCODE_LINE {
            return Err(format!("a line of {} bytes, at most {MAX_GCODE_LINE}", l.len()));
        }
        if l.chars().any(char::is_control) {
            return Err(format!("a control character in {:?}", l.escape_debug().to_string()));
        }
    }
    Ok(out)
}
