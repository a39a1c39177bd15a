//! `[timelapse]`: ranges, the encoder's names and unknown keys.

use expect_test::expect;

use crate::config::Config;
use crate::timelapse::EncoderChoice;

#[test]
fn bad_values_name_key_and_value() {
    let err = Config::from_toml_str(
        "[timelapse]\nenabled = true\nfps = 0\nmax_frames = 1\nkeep_count = 2000000\nkeep_days = 40000\n",
    )
    .unwrap_err();
    expect![[r#"
        invalid configuration:
          - line 3: timelapse.fps = 0: must be between 1 and 60
          - line 4: timelapse.max_frames = 1: must be between 2 and 100000
          - line 5: timelapse.keep_count = 2000000: must be between 0 and 1000000
          - line 6: timelapse.keep_days = 40000: must be between 0 and 36500"#]]
    .assert_eq(&err.to_string());
}

#[test]
fn unknown_keys_and_encoders_are_refused() {
    let err = Config::from_toml_str("[timelapse]\nmax_frame = 3\n").unwrap_err();
    assert!(err.to_string().contains("timelapse.max_frame"), "{err}");
    let err = Config::from_toml_str("[timelapse]\nencoder = \"gstreamer\"\n").unwrap_err();
    assert!(err.to_string().contains("timelapse.encoder") && err.to_string().contains("gstreamer"), "{err}");
}

#[test]
fn a_section_parses_with_defaults_for_what_it_leaves_out() {
    let cfg = Config::from_toml_str("[timelapse]\nenabled = true\nencoder = \"opencv\"\nkeep_mb = 0\n").unwrap();
    let t = &cfg.timelapse;
    assert!(t.enabled);
    assert_eq!((t.encoder, t.keep_mb, t.fps, t.max_frames), (EncoderChoice::Opencv, 0, 15, 600));
    assert!(!Config::default().timelapse.enabled, "off unless asked for");
}
