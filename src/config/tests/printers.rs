//! `[[printers]]`: the key-level merge over the top-level sections, and errors that name
//! `printers[i].…` with the line, for one printer's own keys and across printers.

use std::path::PathBuf;

use expect_test::expect;

use super::check;
use crate::config::Config;
use crate::printer::PrinterKind;

const TWO: &str = r#"
[general]
data_dir = "/var/lib/layerwatch"

[printer]
kind = "marlin"
serial.baud = 250000

[decision]
sensitivity = 0.7

[[printers]]
name = "voron"
printer.serial.path = "/dev/ttyACM0"
camera = { source = "mjpeg", url = "http://127.0.0.1:8080/stream" }

[[printers]]
name = "ender-3"
[printers.printer]
kind = "moonraker"
moonraker.url = "http://ender.local:7125"
[printers.camera]
source = "folder"
path = "/srv/frames/ender"
[printers.decision]
warmup_layers = 5
"#;

#[test]
fn each_printer_is_the_top_level_with_its_own_keys_merged_over_it() {
    let cfg = Config::from_toml_str(TWO).unwrap();
    let names: Vec<_> = cfg.printer_list().into_iter().map(|(n, _)| n).collect();
    assert_eq!(names, ["voron", "ender-3"]);
    let (a, b) = (&cfg.printers[0].config, &cfg.printers[1].config);
    assert_eq!((a.general.name.as_str(), b.general.name.as_str()), ("voron", "ender-3"));
    assert_eq!(a.general.data_dir, PathBuf::from("/var/lib/layerwatch/voron"));
    assert_eq!(b.general.data_dir, PathBuf::from("/var/lib/layerwatch/ender-3"));
    // Key by key: voron keeps the default kind and baud and adds its port.
    assert_eq!(a.printer.kind, PrinterKind::Marlin);
    assert_eq!((a.printer.serial.baud, a.printer.serial.path.to_str()), (250000, Some("/dev/ttyACM0")));
    assert_eq!(b.printer.kind, PrinterKind::Moonraker);
    // Both inherit the top-level sensitivity; only ender-3 changes its warm-up.
    assert_eq!((a.decision.sensitivity, b.decision.sensitivity), (0.7, 0.7));
    assert_eq!(b.decision.warmup_layers, 5);
    assert_ne!(a.decision.warmup_layers, 5);
    assert_eq!(b.camera.path, PathBuf::from("/srv/frames/ender"));
}

#[test]
fn a_file_without_printers_is_one_printer_as_before() {
    let cfg = Config::from_toml_str("[general]\nname = \"solo\"\n").unwrap();
    assert!(cfg.printers.is_empty());
    let list = cfg.printer_list();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0].0, "solo");
    assert_eq!(list[0].1.general.data_dir, cfg.general.data_dir, "no sub-folder for the single printer");
}

#[test]
fn a_bad_key_inside_a_printer_is_named_with_its_path_and_line() {
    let toml = TWO.replace("moonraker.url = ", "moonraker.ulr = ");
    check(
        &toml,
        expect![[r#"
        invalid configuration:
          - line 21: printers[1].printer.moonraker.ulr = "http://ender.local:7125": unknown key `ulr`; the keys here are `url`, `api_key`, `request_timeout_ms`, `reconnect_max_ms`, `max_file_mb`"#]],
    );
}

#[test]
fn names_must_be_slugs_and_unique() {
    check(
        "[[printers]]\nname = \"a\"\ncamera.url = \"http://x/1\"\n[[printers]]\nname = \"my printer\"\ncamera.url = \"http://x/2\"\n[[printers]]\nname = \"a\"\ncamera.url = \"http://x/3\"\n[[printers]]\ncamera.url = \"http://x/4\"\n",
        expect![[r#"
            invalid configuration:
              - line 5: printers[1].name = "my printer": must be 1 to 32 letters, digits, '-' or '_' (it names the printer's page /p/<name>/ and its data folder)
              - line 8: printers[2].name = "a": printers[0] has this name already
              - line 10: printers[3].name = (missing): every printer needs a name"#]],
    );
}

#[test]
fn shared_sections_belong_to_the_top_level() {
    check(
        "[[printers]]\nname = \"a\"\n[printers.web]\nbind = \"127.0.0.1:1\"\n",
        expect![[r#"
        invalid configuration:
          - line 3: printers[0].web = {…}: `web` is shared by every printer: set it at the top level (a printer may set `name`, `printer`, `camera`, `decision`, `actions`, `alerts`, `timelapse`)"#]],
    );
}

#[test]
fn two_printers_may_not_share_a_port_or_a_camera() {
    check(
        "[printer]\nkind = \"marlin\"\nserial.path = \"/dev/ttyUSB0\"\n\
         [[printers]]\nname = \"a\"\ncamera.url = \"http://cam/1\"\n\
         [[printers]]\nname = \"b\"\ncamera.url = \"http://cam/1\"\n",
        expect![[r#"
            invalid configuration:
              - line 3: printer.serial.path = "/dev/ttyUSB0": printers[0] uses it already: each printer needs its own (printers[1] "b" inherits it from the top level)
              - line 9: printers[1].camera.url = "http://cam/1": printers[0] uses it already: each printer needs its own"#]],
    );
}

#[test]
fn a_semantic_problem_is_placed_where_it_is_written() {
    check(
        "[camera]\nfps = 0\n[[printers]]\nname = \"a\"\ncamera.url = \"http://cam/1\"\n[[printers]]\nname = \"b\"\n[printers.camera]\nurl = \"http://cam/2\"\nfps = 500\n",
        expect![[r#"
            invalid configuration:
              - line 2: camera.fps = 0: must be between 1 and 120 (printers[0] "a" inherits it from the top level)
              - line 10: printers[1].camera.fps = 500: must be between 1 and 120"#]],
    );
}

#[test]
fn mqtt_client_id_is_per_printer() {
    let toml = format!("{TWO}\n[mqtt]\nclient_id = \"farm\"\n");
    check(
        &toml,
        expect![[r#"
        invalid configuration:
          - line 29: mqtt.client_id = "farm": must be left out with several printers: each printer connects as layerwatch-<name>"#]],
    );
}

#[test]
fn the_readme_two_printer_example_is_valid() {
    let readme = include_str!("../../../README.md");
    let section = &readme[readme.find("## Several printers in one daemon").expect("the README section")..];
    let start = section.find("```toml\n").expect("a toml block") + "```toml\n".len();
    let block = &section[start..start + section[start..].find("```").unwrap()];
    let cfg = Config::from_toml_str(block).unwrap_or_else(|e| panic!("{e}\n{block}"));
    let names: Vec<_> = cfg.printers.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["voron", "ender-3"]);
    assert_eq!(cfg.printers[1].config.decision.sensitivity, 0.7);
    assert_eq!(cfg.printers[0].config.decision.sensitivity, 0.5);
    assert_eq!(cfg.printers[1].config.camera.interval_ms, 1000, "the default camera keys are kept");
}
