//! OctoPrint's JSON: push-socket frames (`connected`, `current`, `history`, `event`, `reauthRequired`), the REST
//! answers the link reads (`/api/printer`, `/api/job`, `/api/files/...`, `/api/version`, `/api/login`), the state
//! text OctoPrint sends, and the `Z:` the link reads from terminal log lines.
//!
//! Properties: no input panics; a frame parses the same twice; `current` and `history` read the same body the same
//! way; a Z read from a log line is finite and was written in the line.

use crate::printer::octoprint::model::{
    FileInfo, Flags, JobResponse, Login, PrinterResponse, PushMessage, Version, parse_push, reported_z,
};

pub fn check(data: &[u8]) {
    let text = crate::fuzz_props::text(data);
    let text = text.as_ref();
    let first = parse_push(text);
    if let Ok(m) = &first {
        assert_eq!(Some(m), parse_push(text).as_ref().ok(), "the same frame parsed twice differently");
        // The same text with the top-level key renamed (not re-serialized: serde_json's default float parsing
        // does not round-trip every last bit).
        if let PushMessage::Current(c) = m
            && let Some(rest) = text.trim_start().strip_prefix("{\"current\":")
        {
            let history = format!("{{\"history\":{rest}");
            // Only for a frame with one key (duplicate keys: the last one wins, and renaming one changes that).
            let one_key = |t: &str| {
                serde_json::from_str::<serde_json::Value>(t).ok().and_then(|v| v.as_object().map(|o| o.len()))
                    == Some(1)
            };
            assert!(
                !(one_key(text) && one_key(&history))
                    || matches!(parse_push(&history), Ok(PushMessage::History(h)) if h == *c),
                "`history` with the same body as `current` reads differently"
            );
        }
    }
    let _ = serde_json::from_str::<PrinterResponse>(text);
    let _ = serde_json::from_str::<JobResponse>(text);
    let _ = serde_json::from_str::<FileInfo>(text);
    let _ = serde_json::from_str::<Version>(text);
    let _ = serde_json::from_str::<Login>(text);
    for line in text.lines() {
        let _ = Flags::from_text(line);
        if let Some(z) = reported_z(line) {
            assert!(z.is_finite(), "Z {z} from the log line {line:?}");
        }
    }
}
