//! `[decision]`: the calibration path and the overrides' ranges and order.

use expect_test::{Expect, expect};

use crate::config::Config;

fn wrap(message: String) -> String {
    message.replace(", expected one of", ",\n  expected one of")
}

fn check_config(toml: &str, expected: Expect) {
    let actual = match Config::from_toml_str(toml) {
        Ok(c) => format!("ok {:?}", c.decision.calibration),
        Err(e) => wrap(e.to_string()),
    };
    expected.assert_eq(&actual);
}

#[test]
fn decision_config_points_at_a_calibration_and_checks_overrides() {
    check_config(
        "[decision]\ncalibration = \"calibration/mk4.toml\"\n",
        expect![[r#"ok Some("calibration/mk4.toml")"#]],
    );
    check_config(
        concat!(
            "[decision]\nsensitivity = 1.5\npause_level = 0.4\nwarning_level = 0.5\nwindow_n = 40\n",
            "[decision.health]\ndark_brightness = 300\n",
        ),
        expect![[r#"
            invalid configuration:
              - line 2: decision.sensitivity = 1.5: must be between 0 and 1
              - line 4: decision.warning_level = 0.5: must be below decision.pause_level (0.4)
              - line 5: decision.window_n = 40: must be between 1 and 32
              - line 7: decision.health.dark_brightness = 300.0: must be between 0 and 255"#]],
    );
    check_config(
        "[decision.classes.stringing]\naction = \"pause\"\nlevel = 3\n",
        expect![[r#"
            invalid configuration:
              - line 3: decision.classes.stringing.level = 3: unknown key `level`; the keys here are `action`, `warning_scale`, `pause_scale`"#]],
    );
}

#[test]
fn the_camera_points_at_its_geometry_file_and_geometry_findings_have_an_action() {
    let c =
        Config::from_toml_str("[camera]\ngeometry = \"cameras/mk3.toml\"\n[decision.geometry]\naction = \"pause\"\n")
            .unwrap();
    assert_eq!(c.camera.geometry.as_deref(), Some(std::path::Path::new("cameras/mk3.toml")));
    assert_eq!(c.decision.geometry.action, crate::decision::ClassAction::Pause);
    assert_eq!(Config::default().decision.geometry.action, crate::decision::ClassAction::Warn);
    check_config(
        "[camera]\ngeometry = \"\"\n[decision.geometry]\naction = \"stop\"\n",
        expect![[r#"
            invalid configuration:
              - line 2: camera.geometry = "": must name a camera file (cameras/<printer>.toml) or be left out
              - line 4: decision.geometry.action = "stop": `stop` is not one of the choices `pause`, `warn`, `ignore`"#]],
    );
    check_config(
        "[camera]\ngeometry = \"\"\n",
        expect![[r#"
            invalid configuration:
              - line 2: camera.geometry = "": must name a camera file (cameras/<printer>.toml) or be left out"#]],
    );
}
