//! `[printer.light]`: each method's required keys, ranges and usable G-code.

use expect_test::expect;

use super::check;

#[test]
fn light_config_names_what_each_method_needs() {
    check(
        "[printer]\nkind = \"moonraker\"\n[printer.light]\nmethod = \"klipper_pin\"\nwhen = \"dark\"\n",
        expect![[r#"
            invalid configuration:
              - line 3: printer.light.pin = "": must name the Klipper [output_pin] (letters, digits and _) for method = "klipper_pin""#]],
    );
    check(
        concat!(
            "[printer]\nkind = \"marlin\"\n[printer.serial]\npath = \"/dev/ttyACM0\"\n",
            "[printer.light]\nmethod = \"gcode\"\nbrightness = 2\non_gcode = [\"LIGHTS_ON\\nM112\"]\noff_gcode = []\n",
        ),
        expect![[r#"
            invalid configuration:
              - line 7: printer.light.brightness = 2.0: must be between 0 and 1
              - line 8: printer.light.on_gcode = ["LIGHTS_ON\nM112"]: is not usable G-code: a control character in "LIGHTS_ON\\nM112"
              - line 9: printer.light.off_gcode = []: is not usable G-code: no G-code to send"#]],
    );
    check(
        "[printer.light]\nmethod = \"m355\"\n",
        expect![[r#"
            invalid configuration:
              - line 2: printer.light.method = "m355": needs a printer link (printer.kind)"#]],
    );
    check(
        "[printer]\nkind = \"marlin\"\n[printer.serial]\npath = \"/dev/ttyACM0\"\n[printer.light]\nmethod = \"m355\"\n",
        expect![["ok"]],
    );
    check(
        "[printer.light]\nmethod = \"hue\"\n",
        expect![[r#"
            invalid configuration:
              - line 2: printer.light.method = "hue": `hue` is not one of the choices `none`, `m355`, `klipper_pin`, `gcode`, `mqtt`"#]],
    );
}
