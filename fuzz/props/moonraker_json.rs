//! Moonraker's websocket messages: JSON-RPC answers (`printer.objects.subscribe` with its `status`) and
//! `notify_status_update` diffs merged into Klipper's object tree, which the link reads as a `View`.
//!
//! Properties: no message panics; merging the same diff twice changes nothing after the first time; every number
//! the link reads from the tree is finite (a JSON number too large for an `f32` must not become infinity).

use serde_json::Value;

use crate::printer::moonraker::objects::{Objects, View};

/// Each line is one websocket text frame.
pub fn check(data: &[u8]) {
    let text = crate::fuzz_props::text(data);
    let mut objects = Objects::default();
    for frame in text.lines() {
        let Ok(msg) = serde_json::from_str::<Value>(frame) else { continue };
        if let Some(status) = msg.pointer("/result/status") {
            objects.reset(status);
            finite(&objects.view(), frame);
        }
        if msg.get("method").and_then(Value::as_str) == Some("notify_status_update")
            && let Some(diff) = msg.pointer("/params/0")
        {
            objects.merge(diff);
            let once = objects.clone();
            objects.merge(diff);
            assert_eq!(objects, once, "merging the same diff twice changed the tree: {frame}");
            finite(&objects.view(), frame);
        }
    }
}

fn finite(v: &View, frame: &str) {
    let floats = [v.print_duration, v.sd_progress, v.display_progress];
    assert!(floats.iter().flatten().all(|f| f.is_finite()), "{v:?} from {frame}");
    let singles = [v.z, v.extruder.map(|h| h.0), v.extruder.map(|h| h.1), v.bed.map(|h| h.0), v.bed.map(|h| h.1)];
    assert!(singles.iter().flatten().all(|f| f.is_finite()), "a non-finite reading in {v:?} from {frame}");
}
