//! `[actions]`: policies per level and their cross-checks.

use expect_test::{Expect, expect};

use crate::config::Config;

fn check(toml: &str, expected: Expect) {
    let actual = match Config::from_toml_str(toml) {
        Ok(_) => "ok".to_string(),
        Err(e) => e.to_string(),
    };
    expected.assert_eq(&actual);
}

#[test]
fn defaults_are_valid() {
    check("", expect!["ok"]);
}

#[test]
fn policies_are_a_closed_set() {
    check(
        "[actions]\nfailure = \"explode\"\n",
        expect![[r#"
            invalid configuration:
              - line 2: actions.failure = "explode": `explode` is not one of the choices `none`, `notify`, `pause`, `pause_and_park`, `pause_then_cool`, `cancel`"#]],
    );
}

#[test]
fn semantic_errors_name_key_and_value() {
    check(
        "[actions]\nwarning = \"cancel\"\nfailure = \"pause\"\ncool_after_min = 0\n\
         [alerts]\npublic_url = \"printer.local\"\n[alerts.retry]\ninitial_ms = 5000\nmax_ms = 100\n",
        expect![[r#"
            invalid configuration:
              - line 2: actions.warning = "cancel": is stronger than actions.failure (pause); a warning must not do more than a failure
              - line 4: actions.cool_after_min = 0: must be between 1 and 1440
              - line 6: alerts.public_url = "printer.local": must be an http:// or https:// URL
              - line 9: alerts.retry.max_ms = 100: must be at least retry.initial_ms (5000)"#]],
    );
}

#[test]
fn single_object_failure_is_pause_or_cancel_object() {
    let both = "[actions]\non_single_object_failure = \"cancel_object\"\n[printer]\nfirmware_cancel_objects = true\n";
    check(both, expect!["ok"]);
    check(
        "[actions]\non_single_object_failure = \"cancel\"\n",
        expect![[r#"
            invalid configuration:
              - line 2: actions.on_single_object_failure = "cancel": `cancel` is not one of the choices `pause` or `cancel_object`"#]],
    );
}
