//! Whole-file parsing and validation: every error names the key path, the
//! line or the value. One file per section whose checks reach across keys.

mod actions;
mod alerts;
mod decision;
mod light;
mod mqtt;
mod printers;
mod redact;
mod store;
mod timelapse;

use expect_test::{Expect, expect};

use super::*;

/// Renders the outcome of parsing `toml` the way `validate-config` prints it.
fn check(toml: &str, expected: Expect) {
    let actual = match Config::from_toml_str(toml) {
        Ok(_) => "ok".to_string(),
        Err(e) => e.to_string(),
    };
    expected.assert_eq(&actual);
}

#[test]
fn empty_file_is_all_defaults() {
    check("", expect![["ok"]]);
}

#[test]
fn unknown_key_names_the_key() {
    check(
        "[camera]\nfsp = 10\n",
        expect![[r#"
            invalid configuration:
              - line 2: camera.fsp = 10: unknown key `fsp`; the keys here are `name`, `source`, `device`, `url`, `path`, `width`, `height`, `fps`, `interval_ms`, `queue`, `timeout_ms`, `reconnect_max_ms`, `loop_replay`, `pace`, `max_frame_bytes`, `v4l2_format`, `max_pixels`, `geometry`"#]],
    );
}

#[test]
fn wrong_type_names_the_key_path() {
    check("[camera]\nfps = \"fast\"\n", expect![[r#"
        invalid configuration:
          - line 2: camera.fps = "fast": expected a whole number (0 or more), found the text "fast""#]]);
}

#[test]
fn semantic_errors_name_key_and_value() {
    check(
        "[camera]\nfps = 0\nsource = \"rtsp\"\nurl = \"http://x\"\n[web]\nbind = \"0.0.0.0:80\"\n",
        expect![[r#"
            invalid configuration:
              - line 2: camera.fps = 0: must be between 1 and 120
              - line 4: camera.url = "http://x": must be an rtsp:// URL
              - line 6: web.bind = "0.0.0.0:80": binding beyond loopback needs web.token (at least 16 characters)"#]],
    );
}

#[test]
fn unknown_enum_value_is_named() {
    check(
        "[camera]\nsource = \"webcam\"\n",
        expect![[r#"
            invalid configuration:
              - line 2: camera.source = "webcam": `webcam` is not one of the choices `v4l2`, `mjpeg`, `snapshot`, `rtsp`, `video`, `folder`"#]],
    );
}

/// Issue 13 item 6: schema errors came one at a time, alphabetically, in serde's
/// words (`expected u64`, `struct CameraConfig`). Now all at once, in file order,
/// each with its line, key path and value, semantic problems included.
#[test]
fn every_problem_at_once_in_file_order_in_plain_words() {
    check(
        "[web]\nbind = \"0.0.0.0:80\"\n\n[camera]\nqueue = \"many\"\nfsp = 3\nsource = \"webcam\"\nwidth = -5\ninterval_ms = 1\n\n[vision]\nthreads = true\n",
        expect![[r#"
            invalid configuration:
              - line 2: web.bind = "0.0.0.0:80": binding beyond loopback needs web.token (at least 16 characters)
              - line 5: camera.queue = "many": expected a whole number (0 or more), found the text "many"
              - line 6: camera.fsp = 3: unknown key `fsp`; the keys here are `name`, `source`, `device`, `url`, `path`, `width`, `height`, `fps`, `interval_ms`, `queue`, `timeout_ms`, `reconnect_max_ms`, `loop_replay`, `pace`, `max_frame_bytes`, `v4l2_format`, `max_pixels`, `geometry`
              - line 7: camera.source = "webcam": `webcam` is not one of the choices `v4l2`, `mjpeg`, `snapshot`, `rtsp`, `video`, `folder`
              - line 8: camera.width = -5: expected a whole number (0 or more), found the number -5
              - line 9: camera.interval_ms = 1: must be between 50 and 600000
              - line 12: vision.threads = true: expected a whole number (0 or more), found true"#]],
    );
}

#[test]
fn vision_precision_is_checked() {
    check("[vision]\nprecision = \"int8\"\n", expect![["ok"]]);
    check(
        "[vision]\nprecision = \"int4\"\n",
        expect![[r#"
            invalid configuration:
              - line 2: vision.precision = "int4": `int4` is not one of the choices `fp32` or `int8`"#]],
    );
    check(
        "[vision]\nmodel = \"m/classifier.toml\"\nprecision = \"int8\"\n",
        expect![[r#"
            invalid configuration:
              - line 3: vision.precision = Int8: chooses between the built-in models; with vision.model set, name that model's own file instead"#]],
    );
}
