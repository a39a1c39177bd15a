//! `[store]`: ranges, the database path and unknown keys.

use expect_test::expect;

use crate::config::Config;

#[test]
fn bad_values_name_key_and_value() {
    let err = Config::from_toml_str(
        "[store]\ntimeline_interval_s = 0\npath = \"\"\n[store.snapshots]\nmax_count = 0\nmax_mb = 2000000\n",
    )
    .unwrap_err();
    expect![[r#"
        invalid configuration:
          - line 2: store.timeline_interval_s = 0: must be between 1 and 3600
          - line 3: store.path = "": must name a database file, not a directory
          - line 5: store.snapshots.max_count = 0: must be between 1 and 1000000
          - line 6: store.snapshots.max_mb = 2000000: must be between 1 and 1000000"#]]
    .assert_eq(&err.to_string());
}

#[test]
fn unknown_keys_are_refused() {
    let err = Config::from_toml_str("[store.snapshots]\nmax_files = 3\n").unwrap_err();
    assert!(err.to_string().contains("store.snapshots.max_files"), "{err}");
}
