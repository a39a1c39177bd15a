//! Every firmware difference the link knows about, in one place.
//!
//! `Quirks::detect` reads the `M115` identity line, its `Cap:` lines and `area:`
//! report; everything else in the link asks a `Quirks` method instead of testing
//! the firmware name. Covered: Marlin (1.1/2.x), OctoPrint's VirtualPrinter (a
//! Marlin look-alike), Prusa-Firmware (MK2/MK3) and Prusa-Firmware-Buddy,
//! RepRapFirmware (Marlin emulation), Klipper's serial pseudo-tty, Smoothieware.
//! Unknown firmware gets Marlin's behaviour without any optional capability.

use std::collections::BTreeMap;

use serde::Serialize;

use super::protocol::{Area, ErrorKind, FirmwareError, FirmwareInfo};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FirmwareKind {
    Marlin,
    /// OctoPrint's VirtualPrinter (`Virtual Marlin`): Marlin's protocol, simulated.
    VirtualMarlin,
    /// Prusa-Firmware for the 8-bit MK2/MK3 boards.
    Prusa,
    /// Prusa-Firmware-Buddy (MINI, MK4, XL): Marlin 2 underneath.
    PrusaBuddy,
    RepRapFirmware,
    Klipper,
    Smoothieware,
    /// Not identified (no or unknown `M115` answer): plain Marlin behaviour.
    Unknown,
}

/// Capability flags from `Cap:NAME:0|1` lines.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Capabilities {
    pub autoreport_temp: bool,
    pub autoreport_sd_status: bool,
    pub autoreport_pos: bool,
    pub emergency_parser: bool,
    pub host_action_commands: bool,
    pub prompt_support: bool,
    /// Every flag as reported, including the ones we do not use.
    pub all: BTreeMap<String, bool>,
}

impl Capabilities {
    pub fn from_flags<'a>(flags: impl IntoIterator<Item = (&'a str, bool)>) -> Self {
        let all: BTreeMap<String, bool> = flags.into_iter().map(|(k, v)| (k.to_ascii_uppercase(), v)).collect();
        let has = |k: &str| all.get(k).copied().unwrap_or(false);
        Capabilities {
            autoreport_temp: has("AUTOREPORT_TEMP"),
            autoreport_sd_status: has("AUTOREPORT_SD_STATUS"),
            // Marlin says AUTOREPORT_POS, Prusa-Firmware AUTOREPORT_POSITION.
            autoreport_pos: has("AUTOREPORT_POS") || has("AUTOREPORT_POSITION"),
            emergency_parser: has("EMERGENCY_PARSER"),
            host_action_commands: has("HOST_ACTION_COMMANDS"),
            prompt_support: has("PROMPT_SUPPORT"),
            all,
        }
    }
}

/// How the firmware is told to pause, resume and cancel a print it runs itself
/// (monitor mode). In host mode layerwatch holds its own stream instead.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum JobControl {
    /// `M25` / `M24` / `M524` (Marlin; M25 also asks a streaming host to pause via `//action:pause`).
    SdCommands,
    /// `M601` / `M602` / `M603` (Prusa-Firmware: pauses SD and host prints alike, parks by itself).
    PrusaM601,
    /// `M601` / `M602` / `M524` (Prusa-Firmware-Buddy).
    BuddyM601,
    /// `M25` / `M24` / `M0` (RepRapFirmware runs pause.g / resume.g / cancel.g).
    RepRap,
    /// `PAUSE` / `RESUME` / `CANCEL_PRINT` macros (Klipper).
    KlipperMacros,
    /// `M600` suspend / `M601` resume / `abort` (Smoothieware).
    SmoothieSuspend,
}

/// The firmware's behaviour, as far as the link cares.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Quirks {
    pub kind: FirmwareKind,
    /// `FIRMWARE_NAME` as reported (empty if unknown).
    pub firmware_name: String,
    pub caps: Capabilities,
    /// Highest Z of the work volume, from `area:` (Marlin M115 geometry report).
    pub max_z: Option<f32>,
    /// The firmware sends `ok` after `Resend:` (Marlin, Prusa, RRF do; it answers the rejected line).
    pub ok_after_resend: bool,
    /// The firmware checks `N`/checksum and asks for resends (Klipper ignores both,
    /// so a line sent again after a timeout would run twice: never resend there).
    pub checks_line_numbers: bool,
    /// `!!` means the firmware halted (Smoothieware) rather than that a command failed (Klipper).
    pub bang_is_fatal: bool,
    pub job_control: JobControl,
    /// `M73` without arguments reports progress (Prusa).
    pub reports_m73: bool,
}

impl Quirks {
    /// Conservative defaults before (or without) an `M115` answer.
    pub fn unknown() -> Self {
        Quirks::for_kind(FirmwareKind::Unknown, String::new(), Capabilities::default(), None)
    }

    /// Detects the firmware from `M115`'s identity line, `Cap:` flags and `area:` report.
    pub fn detect(info: Option<&FirmwareInfo>, caps: Capabilities, area: Option<Area>) -> Self {
        let name = info.map(|i| i.name.clone()).unwrap_or_default();
        let lower = name.to_ascii_lowercase();
        let kind = if lower.contains("virtual marlin") {
            FirmwareKind::VirtualMarlin
        } else if lower.contains("prusa-firmware-buddy") || lower.contains("prusa-firmware buddy") {
            FirmwareKind::PrusaBuddy
        } else if lower.contains("prusa-firmware") {
            FirmwareKind::Prusa
        } else if lower.contains("reprapfirmware") {
            FirmwareKind::RepRapFirmware
        } else if lower.contains("klipper") {
            FirmwareKind::Klipper
        } else if lower.contains("smoothie") {
            FirmwareKind::Smoothieware
        } else if lower.contains("marlin") {
            FirmwareKind::Marlin
        } else {
            FirmwareKind::Unknown
        };
        Quirks::for_kind(kind, name, caps, area.map(|a| a.max[2]).filter(|z| *z > 0.0))
    }

    fn for_kind(kind: FirmwareKind, firmware_name: String, caps: Capabilities, max_z: Option<f32>) -> Self {
        use FirmwareKind as K;
        let job_control = match kind {
            K::Prusa => JobControl::PrusaM601,
            K::PrusaBuddy => JobControl::BuddyM601,
            K::RepRapFirmware => JobControl::RepRap,
            K::Klipper => JobControl::KlipperMacros,
            K::Smoothieware => JobControl::SmoothieSuspend,
            K::Marlin | K::VirtualMarlin | K::Unknown => JobControl::SdCommands,
        };
        Quirks {
            kind,
            firmware_name,
            caps,
            max_z,
            ok_after_resend: true,
            checks_line_numbers: kind != K::Klipper,
            bang_is_fatal: kind == K::Smoothieware,
            job_control,
            reports_m73: matches!(kind, K::Prusa),
        }
    }

    /// Whether a firmware error means the printer stopped (→ `PrinterState::Error`).
    pub fn is_fatal(&self, err: &FirmwareError) -> bool {
        match err.kind {
            ErrorKind::Halted => true,
            ErrorKind::Bang => self.bang_is_fatal,
            _ => false,
        }
    }

    /// Command that makes the firmware report temperatures every `secs` seconds, if it can.
    pub fn temp_autoreport(&self, secs: u32) -> Option<String> {
        self.caps.autoreport_temp.then(|| format!("M155 S{secs}"))
    }

    /// Command that makes the firmware report SD progress every `secs` seconds, if it can.
    pub fn sd_autoreport(&self, secs: u32) -> Option<String> {
        self.caps.autoreport_sd_status.then(|| format!("M27 S{secs}"))
    }

    /// Command that makes the firmware report its position every `secs` seconds, if it can.
    pub fn pos_autoreport(&self, secs: u32) -> Option<String> {
        self.caps.autoreport_pos.then(|| format!("M154 S{secs}"))
    }

    /// Unblocks a firmware waiting for heaters or for the user, out of band (emergency parser: `M108`).
    pub fn break_wait(&self) -> Option<&'static str> {
        self.caps.emergency_parser.then_some("M108")
    }

    /// Answers a firmware prompt (filament change "continue") with its first button.
    pub fn answer_prompt(&self) -> Option<&'static str> {
        if self.caps.prompt_support {
            Some("M876 S0")
        } else {
            self.break_wait()
        }
    }

    /// Pauses a print the firmware runs itself (monitor mode).
    pub fn pause_command(&self) -> &'static str {
        match self.job_control {
            JobControl::SdCommands | JobControl::RepRap => "M25",
            JobControl::PrusaM601 | JobControl::BuddyM601 => "M601",
            JobControl::KlipperMacros => "PAUSE",
            JobControl::SmoothieSuspend => "M600",
        }
    }

    pub fn resume_command(&self) -> &'static str {
        match self.job_control {
            JobControl::SdCommands | JobControl::RepRap => "M24",
            JobControl::PrusaM601 | JobControl::BuddyM601 => "M602",
            JobControl::KlipperMacros => "RESUME",
            JobControl::SmoothieSuspend => "M601",
        }
    }

    /// Cancels a print the firmware runs itself (monitor mode).
    pub fn cancel_command(&self) -> &'static str {
        match self.job_control {
            JobControl::SdCommands | JobControl::BuddyM601 => "M524",
            JobControl::PrusaM601 => "M603",
            JobControl::RepRap => "M0",
            JobControl::KlipperMacros => "CANCEL_PRINT",
            JobControl::SmoothieSuspend => "abort",
        }
    }

    /// The firmware's own pause command parks the head (so `park` has nothing left to do).
    pub fn pause_parks(&self) -> bool {
        !matches!(self.job_control, JobControl::SdCommands)
    }

    /// Command that parks the head while an SD print is paused, so the firmware
    /// itself un-parks on resume (Marlin `M125`, needs PARK_HEAD_ON_PAUSE).
    pub fn park_command(&self, retract_mm: f32, lift_mm: f32) -> Option<String> {
        matches!(self.job_control, JobControl::SdCommands).then(|| format!("M125 L{retract_mm} Z{lift_mm}"))
    }

    /// The firmware can answer `M73` with progress (Prusa), worth polling in monitor mode.
    pub fn progress_query(&self) -> Option<&'static str> {
        self.reports_m73.then_some("M73")
    }

    /// Lift that keeps the nozzle under the machine's top: `lift` clamped to `max_z - z`.
    pub fn clamp_lift(&self, z: Option<f32>, lift: f32) -> f32 {
        match (self.max_z, z) {
            (Some(max), Some(z)) => lift.min((max - z).max(0.0)),
            _ => lift,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::printer::marlin::protocol::{Response, parse};

    /// Runs an M115 transcript through the parser and the detector.
    fn detect(transcript: &str) -> Quirks {
        let mut info = None;
        let mut flags = Vec::new();
        let mut area = None;
        for line in transcript.lines() {
            match parse(line.trim().as_bytes()) {
                Response::Firmware(i) => info = Some(i),
                Response::Ok(ok) if ok.firmware.is_some() => info = ok.firmware,
                Response::Capability { name, enabled } => flags.push((name, enabled)),
                Response::Area(a) => area = Some(a),
                _ => {}
            }
        }
        let caps = Capabilities::from_flags(flags.iter().map(|(k, v)| (k.as_str(), *v)));
        Quirks::detect(info.as_ref(), caps, area)
    }

    #[test]
    fn marlin_with_capabilities_and_area() {
        let q = detect(
            "FIRMWARE_NAME:Marlin 2.1.2.1 (Jul 18 2023 12:00:00) SOURCE_CODE_URL:github.com/MarlinFirmware/Marlin \
             PROTOCOL_VERSION:1.0 MACHINE_TYPE:Ender-3 V2 EXTRUDER_COUNT:1
             Cap:AUTOREPORT_TEMP:1
             Cap:AUTOREPORT_SD_STATUS:0
             Cap:EMERGENCY_PARSER:1
             Cap:HOST_ACTION_COMMANDS:1
             Cap:PROMPT_SUPPORT:1
             area:{full:{min:{x:0,y:0,z:0},max:{x:220,y:220,z:250}},work:{min:{x:0,y:0,z:0},max:{x:220,y:220,z:250}}}
             ok",
        );
        assert_eq!(q.kind, FirmwareKind::Marlin);
        assert_eq!(q.temp_autoreport(2).as_deref(), Some("M155 S2"));
        assert_eq!(q.sd_autoreport(2), None);
        assert_eq!(q.break_wait(), Some("M108"));
        assert_eq!(q.answer_prompt(), Some("M876 S0"));
        assert_eq!(
            (q.pause_command(), q.resume_command(), q.cancel_command()),
            ("M25", "M24", "M524")
        );
        assert_eq!(q.max_z, Some(250.0));
        assert_eq!(q.clamp_lift(Some(245.0), 10.0), 5.0);
        assert_eq!(q.clamp_lift(Some(251.0), 10.0), 0.0);
        assert!(q.checks_line_numbers && q.ok_after_resend && !q.bang_is_fatal);
    }

    #[test]
    fn virtual_printer_is_marlin_flavoured() {
        let q = detect(
            "FIRMWARE_NAME:Virtual Marlin 1.0 PROTOCOL_VERSION:1.0
             Cap:AUTOREPORT_TEMP:1
             Cap:AUTOREPORT_SD_STATUS:1
             Cap:AUTOREPORT_POS:0
             Cap:EMERGENCY_PARSER:1",
        );
        assert_eq!(q.kind, FirmwareKind::VirtualMarlin);
        assert_eq!(q.sd_autoreport(2).as_deref(), Some("M27 S2"));
        assert_eq!(q.pos_autoreport(2), None);
        assert_eq!(
            q.answer_prompt(),
            Some("M108"),
            "no PROMPT_SUPPORT: break the wait instead"
        );
        assert_eq!(q.max_z, None);
        assert_eq!(q.clamp_lift(Some(100.0), 10.0), 10.0);
    }

    #[test]
    fn prusa_pauses_with_m601_and_reports_m73() {
        let q = detect(
            "FIRMWARE_NAME:Prusa-Firmware 3.13.2 based on Marlin \
             FIRMWARE_URL:https://github.com/prusa3d/Prusa-Firmware PROTOCOL_VERSION:1.0 MACHINE_TYPE:Prusa i3 MK3S EXTRUDER_COUNT:1
             Cap:AUTOREPORT_TEMP:1
             Cap:AUTOREPORT_POSITION:1",
        );
        assert_eq!(q.kind, FirmwareKind::Prusa);
        assert_eq!(
            (q.pause_command(), q.resume_command(), q.cancel_command()),
            ("M601", "M602", "M603")
        );
        assert!(q.pause_parks());
        assert_eq!(q.pos_autoreport(3).as_deref(), Some("M154 S3"));
        assert_eq!(q.progress_query(), Some("M73"));
        assert_eq!(q.park_command(2.0, 10.0), None);
    }

    #[test]
    fn klipper_ignores_line_numbers_and_bang_is_not_fatal() {
        let q = detect("ok FIRMWARE_VERSION:v0.12.0-85 FIRMWARE_NAME:Klipper");
        assert_eq!(q.kind, FirmwareKind::Klipper);
        assert!(!q.checks_line_numbers);
        let bang = FirmwareError {
            kind: ErrorKind::Bang,
            message: "Must home axis first".into(),
            last_line: None,
        };
        assert!(!q.is_fatal(&bang));
        assert_eq!(q.pause_command(), "PAUSE");
        assert_eq!(q.temp_autoreport(2), None, "no Cap lines: poll M105");
    }

    #[test]
    fn smoothie_bang_is_fatal_and_suspends_with_m600() {
        let q =
            detect("FIRMWARE_NAME:Smoothieware, FIRMWARE_URL:http%3A//smoothieware.org, FIRMWARE_VERSION:edge-5d6e0ba");
        assert_eq!(q.kind, FirmwareKind::Smoothieware);
        let bang = FirmwareError {
            kind: ErrorKind::Bang,
            message: String::new(),
            last_line: None,
        };
        assert!(q.is_fatal(&bang));
        assert_eq!((q.pause_command(), q.resume_command()), ("M600", "M601"));
    }

    #[test]
    fn reprapfirmware_and_buddy_and_unknown() {
        let rrf = detect("FIRMWARE_NAME: RepRapFirmware for Duet 3 MB6HC FIRMWARE_VERSION: 3.4.5 ELECTRONICS: Duet 3");
        assert_eq!(rrf.kind, FirmwareKind::RepRapFirmware);
        assert_eq!(rrf.cancel_command(), "M0");
        let buddy = detect(
            "FIRMWARE_NAME:Prusa-Firmware-Buddy 5.1.2+13478 (Github) \
             SOURCE_CODE_URL:https://github.com/prusa3d/Prusa-Firmware-Buddy \
             PROTOCOL_VERSION:1.0 MACHINE_TYPE:Prusa-MK4",
        );
        assert_eq!(buddy.kind, FirmwareKind::PrusaBuddy);
        assert_eq!(buddy.pause_command(), "M601");
        let unknown = Quirks::unknown();
        assert_eq!(unknown.kind, FirmwareKind::Unknown);
        assert_eq!(unknown.temp_autoreport(2), None);
        assert!(unknown.is_fatal(&FirmwareError {
            kind: ErrorKind::Halted,
            message: String::new(),
            last_line: None
        }));
        assert!(!unknown.is_fatal(&FirmwareError {
            kind: ErrorKind::Checksum,
            message: String::new(),
            last_line: None
        }));
    }
}
