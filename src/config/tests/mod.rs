//! Whole-file parsing and validation: every error names the key path, the
//! line or the value. One file per section whose checks reach across keys.

mod actions;
mod alerts;
mod decision;
mod redact;
mod store;

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
        expect!["camera.fsp: line 2: unknown field `fsp`, expected one of `name`, `source`, `device`, `url`, `path`, `width`, `height`, `fps`, `interval_ms`, `queue`, `timeout_ms`, `reconnect_max_ms`, `loop_replay`, `pace`, `max_frame_bytes`, `v4l2_format`, `max_pixels`"],
    );
}

#[test]
fn wrong_type_names_the_key_path() {
    check("[camera]\nfps = \"fast\"\n", expect![[r#"camera.fps: line 2: invalid type: string "fast", expected u32"#]]);
}

#[test]
fn semantic_errors_name_key_and_value() {
    check(
        "[camera]\nfps = 0\nsource = \"rtsp\"\nurl = \"http://x\"\n[web]\nbind = \"0.0.0.0:80\"\n",
        expect![[r#"
            invalid configuration:
              - camera.fps = 0: must be between 1 and 120
              - camera.url = "http://x": must be an rtsp:// URL
              - web.bind = "0.0.0.0:80": binding beyond loopback needs web.token (at least 16 characters)"#]],
    );
}

#[test]
fn unknown_enum_value_is_named() {
    check(
        "[camera]\nsource = \"webcam\"\n",
        expect![[r#"camera.source: line 2: unknown variant `webcam`, expected one of `v4l2`, `mjpeg`, `snapshot`, `rtsp`, `video`, `folder`"#]],
    );
}
