//! Data-driven tests of `parse`: one golden block covering every dialect we handle.

use expect_test::expect;

use super::parse;

/// Renders each input line and its classification, one per line.
fn render(lines: &[&[u8]]) -> String {
    let mut out = String::new();
    for raw in lines {
        let shown = String::from_utf8_lossy(raw).replace('\0', "\\0");
        out.push_str(&format!("{shown:?}\n    => {:?}\n", parse(raw)));
    }
    out
}

#[test]
fn acknowledgements_and_flow_control() {
    let lines: &[&[u8]] = &[
        b"ok",
        b"ok N12",
        b"ok 12",
        b"ok N12 P15 B3",
        b"ok P15 B3",
        b"ok T:200.0 /200.0 B:60.0 /60.0 @:127 B@:0",
        b"ok X:0.0 Y:0.0 Z:0.0 E:0.0 Count: A:0 B:0 C:0",
        b"okay",
        b"Resend: 5",
        b"Resend:100",
        b"rs 7",
        b"rs N8",
        b"wait",
        b"busy: processing",
        b"busy:processing",
        b"echo:busy: processing",
        b"echo:busy: paused for user",
        b"echo:busy paused for user",
        b"echo:busy: paused for input",
    ];
    expect![[r#"
        "ok"
            => Ok(OkReply { line: None, planner_free: None, buffer_free: None, temps: None, position: None, firmware: None })
        "ok N12"
            => Ok(OkReply { line: Some(12), planner_free: None, buffer_free: None, temps: None, position: None, firmware: None })
        "ok 12"
            => Ok(OkReply { line: Some(12), planner_free: None, buffer_free: None, temps: None, position: None, firmware: None })
        "ok N12 P15 B3"
            => Ok(OkReply { line: Some(12), planner_free: Some(15), buffer_free: Some(3), temps: None, position: None, firmware: None })
        "ok P15 B3"
            => Ok(OkReply { line: None, planner_free: Some(15), buffer_free: Some(3), temps: None, position: None, firmware: None })
        "ok T:200.0 /200.0 B:60.0 /60.0 @:127 B@:0"
            => Ok(OkReply { line: None, planner_free: None, buffer_free: None, temps: Some(TempReport { active: Some(HeaterReading { actual: 200.0, target: Some(200.0) }), tools: [], bed: Some(HeaterReading { actual: 60.0, target: Some(60.0) }), chamber: None, waiting: false }), position: None, firmware: None })
        "ok X:0.0 Y:0.0 Z:0.0 E:0.0 Count: A:0 B:0 C:0"
            => Ok(OkReply { line: None, planner_free: None, buffer_free: None, temps: None, position: Some(Position { x: Some(0.0), y: Some(0.0), z: Some(0.0), e: Some(0.0) }), firmware: None })
        "okay"
            => Other("okay")
        "Resend: 5"
            => Resend { line: 5 }
        "Resend:100"
            => Resend { line: 100 }
        "rs 7"
            => Resend { line: 7 }
        "rs N8"
            => Resend { line: 8 }
        "wait"
            => Wait
        "busy: processing"
            => Busy { reason: Processing }
        "busy:processing"
            => Busy { reason: Processing }
        "echo:busy: processing"
            => Busy { reason: Processing }
        "echo:busy: paused for user"
            => Busy { reason: PausedForUser }
        "echo:busy paused for user"
            => Busy { reason: PausedForUser }
        "echo:busy: paused for input"
            => Busy { reason: PausedForInput }
    "#]].assert_eq(&render(lines));
}

#[test]
fn reports() {
    let lines: &[&[u8]] = &[
        b"T:200.0 /200.0 B:60.0 /60.0 @:127 B@:0",
        b" T:21.30/ 0.00 B:21.30/ 0.00 @:64",
        b"T:150.23 E:0 W:?",
        b"B:21.2 /0.0 T0:21.4 /0.0",
        b"X:10.00 Y:20.00 Z:0.30 E:1.20 Count X:800 Y:1600 Z:240",
        b"SD printing byte 1234/5678",
        b"Not SD printing",
        b"Not SD printing.",
        b"Done printing file",
        b"File opened: print.gco Size: 12345",
        b"File opened:big.gcode Size:99",
        b"File selected",
        b"Current file: CUBE.GCO",
        b"Current file: (no file)",
        b"open failed, File: nothere.gco.",
        b"NORMAL MODE: Percent done: 36; print time remaining in mins: 120; Change in mins: -1",
        b"SD card ok",
    ];
    expect![[r#"
        "T:200.0 /200.0 B:60.0 /60.0 @:127 B@:0"
            => Temperatures(TempReport { active: Some(HeaterReading { actual: 200.0, target: Some(200.0) }), tools: [], bed: Some(HeaterReading { actual: 60.0, target: Some(60.0) }), chamber: None, waiting: false })
        " T:21.30/ 0.00 B:21.30/ 0.00 @:64"
            => Temperatures(TempReport { active: Some(HeaterReading { actual: 21.3, target: Some(0.0) }), tools: [], bed: Some(HeaterReading { actual: 21.3, target: Some(0.0) }), chamber: None, waiting: false })
        "T:150.23 E:0 W:?"
            => Temperatures(TempReport { active: Some(HeaterReading { actual: 150.23, target: None }), tools: [], bed: None, chamber: None, waiting: true })
        "B:21.2 /0.0 T0:21.4 /0.0"
            => Temperatures(TempReport { active: None, tools: [(0, HeaterReading { actual: 21.4, target: Some(0.0) })], bed: Some(HeaterReading { actual: 21.2, target: Some(0.0) }), chamber: None, waiting: false })
        "X:10.00 Y:20.00 Z:0.30 E:1.20 Count X:800 Y:1600 Z:240"
            => Position(Position { x: Some(10.0), y: Some(20.0), z: Some(0.3), e: Some(1.2) })
        "SD printing byte 1234/5678"
            => SdProgress { pos: 1234, size: 5678 }
        "Not SD printing"
            => NotSdPrinting
        "Not SD printing."
            => NotSdPrinting
        "Done printing file"
            => SdDone
        "File opened: print.gco Size: 12345"
            => FileOpened { name: "print.gco", size: Some(12345) }
        "File opened:big.gcode Size:99"
            => FileOpened { name: "big.gcode", size: Some(99) }
        "File selected"
            => FileSelected
        "Current file: CUBE.GCO"
            => CurrentFile { name: Some("CUBE.GCO") }
        "Current file: (no file)"
            => CurrentFile { name: None }
        "open failed, File: nothere.gco."
            => OpenFailed { name: "nothere.gco" }
        "NORMAL MODE: Percent done: 36; print time remaining in mins: 120; Change in mins: -1"
            => Progress { percent: 36.0, remaining_min: Some(120) }
        "SD card ok"
            => Other("SD card ok")
    "#]].assert_eq(&render(lines));
}

#[test]
fn actions_errors_and_identity() {
    let lines: &[&[u8]] = &[
        b"//action:pause",
        b"// action:resume",
        b"//action:paused",
        b"//action:cancel",
        b"//action:disconnect",
        b"//action:notification Printing 50%",
        b"//action:prompt_begin Filament Change",
        b"//action:prompt_button Continue",
        b"//action:prompt_show",
        b"//action:prompt_end",
        b"//action:out_of_filament T0",
        b"echo://action:pause",
        b"// Klipper state: Ready",
        b"Error:checksum mismatch, Last Line: 99",
        b"Error:Line Number is not Last Line Number+1, Last Line: 99",
        b"Error:No Checksum with line number, Last Line: 99",
        b"Error:No Line Number with checksum, Last Line: 109",
        b"Error: expected line 4 got 5",
        b"Error: Checksum mismatch",
        b"Error:Printer halted. kill() called!",
        b"Error:Thermal Runaway, system stopped! Heater_ID: bed",
        b"Error:MINTEMP triggered, system stopped! Heater_ID: 0",
        b"Error:Printer stopped due to errors. Fix the error and use M999 to restart.",
        b"echo:EMERGENCY SHUTDOWN DETECTED. KILLED.",
        b"echo:Unknown command: \"G999\"",
        b"!! Move out of range: 0.000 0.000 300.000 [0.000]",
        b"!! Shutdown due to M112 command",
        b"fatal: Heater/sensor error - Printer stopped and heaters disabled",
        b"FIRMWARE_NAME:Marlin 2.1.2.1 (Jul 18 2023 12:00:00) SOURCE_CODE_URL:github.com/MarlinFirmware/Marlin PROTOCOL_VERSION:1.0 MACHINE_TYPE:Ender-3 V2 EXTRUDER_COUNT:1 UUID:cede2a2f-41a2-4748-9b12-c55c62f367ff",
        b"FIRMWARE_NAME:Prusa-Firmware 3.13.2 based on Marlin FIRMWARE_URL:https://github.com/prusa3d/Prusa-Firmware PROTOCOL_VERSION:1.0 MACHINE_TYPE:Prusa i3 MK3S EXTRUDER_COUNT:1",
        b"FIRMWARE_NAME: RepRapFirmware for Duet 3 MB6HC FIRMWARE_VERSION: 3.4.5 ELECTRONICS: Duet 3 MB6HC v1.01 FIRMWARE_DATE: 2022-11-30 19:36:12",
        b"ok FIRMWARE_VERSION:v0.12.0-85 FIRMWARE_NAME:Klipper",
        b"FIRMWARE_NAME:Smoothieware, FIRMWARE_URL:http%3A//smoothieware.org, X-SOURCE_CODE_URL:https://github.com/Smoothieware/Smoothieware, FIRMWARE_VERSION:edge-5d6e0ba",
        b"Cap:AUTOREPORT_TEMP:1",
        b"Cap:EMERGENCY_PARSER:0",
        b"area:{full:{min:{x:0,y:0,z:0},max:{x:220,y:220,z:250}},work:{min:{x:0,y:0,z:0},max:{x:220,y:220,z:250}}}",
    ];
    expect![[r#"
        "//action:pause"
            => Action(Pause)
        "// action:resume"
            => Action(Resume)
        "//action:paused"
            => Action(Paused)
        "//action:cancel"
            => Action(Cancel)
        "//action:disconnect"
            => Action(Disconnect)
        "//action:notification Printing 50%"
            => Action(Notification("Printing 50%"))
        "//action:prompt_begin Filament Change"
            => Action(PromptBegin("Filament Change"))
        "//action:prompt_button Continue"
            => Action(PromptButton("Continue"))
        "//action:prompt_show"
            => Action(PromptShow)
        "//action:prompt_end"
            => Action(PromptEnd)
        "//action:out_of_filament T0"
            => Action(Other("out_of_filament T0"))
        "echo://action:pause"
            => Action(Pause)
        "// Klipper state: Ready"
            => Comment("Klipper state: Ready")
        "Error:checksum mismatch, Last Line: 99"
            => Error(FirmwareError { kind: Checksum, message: "checksum mismatch, Last Line: 99", last_line: Some(99) })
        "Error:Line Number is not Last Line Number+1, Last Line: 99"
            => Error(FirmwareError { kind: LineNumber, message: "Line Number is not Last Line Number+1, Last Line: 99", last_line: Some(99) })
        "Error:No Checksum with line number, Last Line: 99"
            => Error(FirmwareError { kind: MissingChecksum, message: "No Checksum with line number, Last Line: 99", last_line: Some(99) })
        "Error:No Line Number with checksum, Last Line: 109"
            => Error(FirmwareError { kind: MissingLineNumber, message: "No Line Number with checksum, Last Line: 109", last_line: Some(109) })
        "Error: expected line 4 got 5"
            => Error(FirmwareError { kind: LineNumber, message: "expected line 4 got 5", last_line: None })
        "Error: Checksum mismatch"
            => Error(FirmwareError { kind: Checksum, message: "Checksum mismatch", last_line: None })
        "Error:Printer halted. kill() called!"
            => Error(FirmwareError { kind: Halted, message: "Printer halted. kill() called!", last_line: None })
        "Error:Thermal Runaway, system stopped! Heater_ID: bed"
            => Error(FirmwareError { kind: Halted, message: "Thermal Runaway, system stopped! Heater_ID: bed", last_line: None })
        "Error:MINTEMP triggered, system stopped! Heater_ID: 0"
            => Error(FirmwareError { kind: Halted, message: "MINTEMP triggered, system stopped! Heater_ID: 0", last_line: None })
        "Error:Printer stopped due to errors. Fix the error and use M999 to restart."
            => Error(FirmwareError { kind: Halted, message: "Printer stopped due to errors. Fix the error and use M999 to restart.", last_line: None })
        "echo:EMERGENCY SHUTDOWN DETECTED. KILLED."
            => Error(FirmwareError { kind: Halted, message: "EMERGENCY SHUTDOWN DETECTED. KILLED.", last_line: None })
        "echo:Unknown command: \"G999\""
            => Error(FirmwareError { kind: UnknownCommand, message: "Unknown command: \"G999\"", last_line: None })
        "!! Move out of range: 0.000 0.000 300.000 [0.000]"
            => Error(FirmwareError { kind: Bang, message: "Move out of range: 0.000 0.000 300.000 [0.000]", last_line: None })
        "!! Shutdown due to M112 command"
            => Error(FirmwareError { kind: Halted, message: "Shutdown due to M112 command", last_line: None })
        "fatal: Heater/sensor error - Printer stopped and heaters disabled"
            => Error(FirmwareError { kind: Halted, message: "Heater/sensor error - Printer stopped and heaters disabled", last_line: None })
        "FIRMWARE_NAME:Marlin 2.1.2.1 (Jul 18 2023 12:00:00) SOURCE_CODE_URL:github.com/MarlinFirmware/Marlin PROTOCOL_VERSION:1.0 MACHINE_TYPE:Ender-3 V2 EXTRUDER_COUNT:1 UUID:cede2a2f-41a2-4748-9b12-c55c62f367ff"
            => Firmware(FirmwareInfo { name: "Marlin 2.1.2.1 (Jul 18 2023 12:00:00)", fields: [("FIRMWARE_NAME", "Marlin 2.1.2.1 (Jul 18 2023 12:00:00)"), ("SOURCE_CODE_URL", "github.com/MarlinFirmware/Marlin"), ("PROTOCOL_VERSION", "1.0"), ("MACHINE_TYPE", "Ender-3 V2"), ("EXTRUDER_COUNT", "1"), ("UUID", "cede2a2f-41a2-4748-9b12-c55c62f367ff")] })
        "FIRMWARE_NAME:Prusa-Firmware 3.13.2 based on Marlin FIRMWARE_URL:https://github.com/prusa3d/Prusa-Firmware PROTOCOL_VERSION:1.0 MACHINE_TYPE:Prusa i3 MK3S EXTRUDER_COUNT:1"
            => Firmware(FirmwareInfo { name: "Prusa-Firmware 3.13.2 based on Marlin", fields: [("FIRMWARE_NAME", "Prusa-Firmware 3.13.2 based on Marlin"), ("FIRMWARE_URL", "https://github.com/prusa3d/Prusa-Firmware"), ("PROTOCOL_VERSION", "1.0"), ("MACHINE_TYPE", "Prusa i3 MK3S"), ("EXTRUDER_COUNT", "1")] })
        "FIRMWARE_NAME: RepRapFirmware for Duet 3 MB6HC FIRMWARE_VERSION: 3.4.5 ELECTRONICS: Duet 3 MB6HC v1.01 FIRMWARE_DATE: 2022-11-30 19:36:12"
            => Firmware(FirmwareInfo { name: "RepRapFirmware for Duet 3 MB6HC", fields: [("FIRMWARE_NAME", "RepRapFirmware for Duet 3 MB6HC"), ("FIRMWARE_VERSION", "3.4.5"), ("ELECTRONICS", "Duet 3 MB6HC v1.01"), ("FIRMWARE_DATE", "2022-11-30 19:36:12")] })
        "ok FIRMWARE_VERSION:v0.12.0-85 FIRMWARE_NAME:Klipper"
            => Ok(OkReply { line: None, planner_free: None, buffer_free: None, temps: None, position: None, firmware: Some(FirmwareInfo { name: "Klipper", fields: [("FIRMWARE_VERSION", "v0.12.0-85"), ("FIRMWARE_NAME", "Klipper")] }) })
        "FIRMWARE_NAME:Smoothieware, FIRMWARE_URL:http%3A//smoothieware.org, X-SOURCE_CODE_URL:https://github.com/Smoothieware/Smoothieware, FIRMWARE_VERSION:edge-5d6e0ba"
            => Firmware(FirmwareInfo { name: "Smoothieware", fields: [("FIRMWARE_NAME", "Smoothieware"), ("FIRMWARE_URL", "http%3A//smoothieware.org"), ("X-SOURCE_CODE_URL", "https://github.com/Smoothieware/Smoothieware"), ("FIRMWARE_VERSION", "edge-5d6e0ba")] })
        "Cap:AUTOREPORT_TEMP:1"
            => Capability { name: "AUTOREPORT_TEMP", enabled: true }
        "Cap:EMERGENCY_PARSER:0"
            => Capability { name: "EMERGENCY_PARSER", enabled: false }
        "area:{full:{min:{x:0,y:0,z:0},max:{x:220,y:220,z:250}},work:{min:{x:0,y:0,z:0},max:{x:220,y:220,z:250}}}"
            => Area(Area { min: [0.0, 0.0, 0.0], max: [220.0, 220.0, 250.0] })
    "#]].assert_eq(&render(lines));
}

#[test]
fn noise_and_boot_banners() {
    let lines: &[&[u8]] = &[
        b"start",
        b"\xff\xfe\x00start",
        b"\xc2\x80",
        b"\x00\x00\x00",
        b"\xff\xfe\xfd\xfcok",
        b"o\xffk",
        b"\xff\x00ok T:0\x80",
        b"ok\x07",
        b"Marlin: Virtual Marlin!",
        b"echo:Marlin 2.1.2.1",
        b"echo: Last Updated: 2023-07-18 | Author: (none, default config)",
        b"TMC CONNECTION ERROR",
    ];
    expect![[r#"
        "start"
            => Start
        "��\\0start"
            => Start
        "\u{80}"
            => Garbage { len: 2 }
        "\\0\\0\\0"
            => Garbage { len: 3 }
        "����ok"
            => Ok(OkReply { line: None, planner_free: None, buffer_free: None, temps: None, position: None, firmware: None })
        "o�k"
            => Garbage { len: 3 }
        "�\\0ok T:0�"
            => Garbage { len: 9 }
        "ok\u{7}"
            => Garbage { len: 3 }
        "Marlin: Virtual Marlin!"
            => Other("Marlin: Virtual Marlin!")
        "echo:Marlin 2.1.2.1"
            => Echo("Marlin 2.1.2.1")
        "echo: Last Updated: 2023-07-18 | Author: (none, default config)"
            => Echo("Last Updated: 2023-07-18 | Author: (none, default config)")
        "TMC CONNECTION ERROR"
            => Other("TMC CONNECTION ERROR")
    "#]].assert_eq(&render(lines));
}

/// Found by the `marlin_lines` fuzz target: `Response` was internally tagged, so serializing a text-carrying variant
/// (`Echo`, `Comment`, `Other`) failed at run time ("cannot serialize tagged newtype variant").
#[test]
fn every_kind_of_line_serializes() {
    let lines: &[&[u8]] = &[
        b"Begin file list", b"echo:hello", b"// Klipper state: Ready", b"ok T:21.3 /0.0", b"Resend: 3", b"wait",
        b"\xFF\xFE\x01", b"Cap:AUTOREPORT_TEMP:1", b"start", b"busy: processing", b"Error:Printer halted",
    ];
    let json: Vec<String> =
        lines.iter().map(|l| serde_json::to_string(&parse(l)).unwrap_or_else(|e| format!("ERROR {e}"))).collect();
    expect![[r#"
        {"kind":"other","value":"Begin file list"}
        {"kind":"echo","value":"hello"}
        {"kind":"comment","value":"Klipper state: Ready"}
        {"kind":"ok","value":{"line":null,"planner_free":null,"buffer_free":null,"temps":{"active":{"actual":21.3,"target":0.0},"tools":[],"bed":null,"chamber":null,"waiting":false},"position":null,"firmware":null}}
        {"kind":"resend","value":{"line":3}}
        {"kind":"wait"}
        {"kind":"garbage","value":{"len":3}}
        {"kind":"capability","value":{"name":"AUTOREPORT_TEMP","enabled":true}}
        {"kind":"start"}
        {"kind":"busy","value":{"reason":"processing"}}
        {"kind":"error","value":{"kind":"halted","message":"Printer halted","last_line":null}}"#]].assert_eq(&json.join("\n"));
}
