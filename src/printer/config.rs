//! `[printer]` section: one backend chosen by `kind`, each with its own subsection.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::config_issues::Issues;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum PrinterKind {
    /// No printer: watch and alert only, never pause.
    #[default]
    None,
    /// Marlin-style firmware on a serial port (`[printer.serial]`).
    Marlin,
    /// An OctoPrint server (`[printer.octoprint]`).
    Octoprint,
    /// A Moonraker server in front of Klipper (`[printer.moonraker]`).
    Moonraker,
}

/// `[printer]`: which printer link to use and how commands behave.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PrinterConfig {
    pub kind: PrinterKind,
    /// How long a command may take to be confirmed by the printer's state.
    pub command_timeout_ms: u64,
    pub serial: SerialConfig,
    pub octoprint: OctoPrintConfig,
    pub moonraker: MoonrakerConfig,
    pub park: ParkConfig,
    /// `[printer.light]`: switch the printer's light for the camera.
    pub light: super::light::LightConfig,
    /// The firmware cancels an object by `M486 P<id>` (Marlin built with
    /// `CANCEL_OBJECTS`, Prusa firmware): lets per-object cancel work through
    /// OctoPrint and in Marlin monitor mode, for files labelled with `M486`.
    /// Firmware does not report this, so it is the owner's to say. Host mode and
    /// Moonraker do not need it.
    pub firmware_cancel_objects: bool,
}

impl Default for PrinterConfig {
    fn default() -> Self {
        PrinterConfig {
            kind: PrinterKind::None,
            command_timeout_ms: 30_000,
            serial: SerialConfig::default(),
            octoprint: OctoPrintConfig::default(),
            moonraker: MoonrakerConfig::default(),
            park: ParkConfig::default(),
            light: super::light::LightConfig::default(),
            firmware_cancel_objects: false,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum SerialMode {
    /// layerwatch streams the G-code file itself (`layerwatch printer print`, the demo).
    Host,
    /// The printer prints from SD or another host drives it; layerwatch follows and can pause.
    #[default]
    Monitor,
}

/// `[printer.serial]`: Marlin over USB serial.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SerialConfig {
    pub path: PathBuf,
    pub baud: u32,
    pub mode: SerialMode,
    /// A printer that sends nothing for this long is considered gone.
    pub read_timeout_ms: u64,
    /// Poll interval for temperatures and SD status when the firmware cannot auto-report.
    pub poll_ms: u64,
    /// Monitor mode: a folder holding local copies of the files the printer prints
    /// from SD, so its byte position (or Z) maps to layers. Matched by size and name.
    pub gcode_dir: Option<PathBuf>,
}

impl Default for SerialConfig {
    fn default() -> Self {
        SerialConfig {
            path: PathBuf::from("/dev/ttyUSB0"),
            baud: 115_200,
            mode: SerialMode::Monitor,
            read_timeout_ms: 10_000,
            poll_ms: 2_000,
            gcode_dir: None,
        }
    }
}

/// `[printer.octoprint]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OctoPrintConfig {
    pub url: String,
    /// API key; `OCTOPRINT_API_KEY` in the environment is used when unset. Never logged.
    pub api_key: Option<String>,
    /// Timeout of one REST request.
    pub request_timeout_ms: u64,
    /// REST polling interval while the push socket is down.
    pub poll_ms: u64,
    /// Longest wait between two attempts to reconnect the push socket.
    pub reconnect_max_ms: u64,
    /// Largest G-code file downloaded for layer analysis; 0 turns analysis off.
    pub max_file_mb: u64,
}

impl Default for OctoPrintConfig {
    fn default() -> Self {
        OctoPrintConfig {
            url: "http://127.0.0.1:5000".into(),
            api_key: None,
            request_timeout_ms: 10_000,
            poll_ms: 2_000,
            reconnect_max_ms: 30_000,
            max_file_mb: 256,
        }
    }
}

/// `[printer.moonraker]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MoonrakerConfig {
    pub url: String,
    /// Optional API key (`MOONRAKER_API_KEY` when unset). Never logged.
    pub api_key: Option<String>,
    /// Timeout of one JSON-RPC call or HTTP request.
    pub request_timeout_ms: u64,
    /// Longest wait between two attempts to reconnect the websocket.
    pub reconnect_max_ms: u64,
    /// Largest G-code file downloaded for analysis (layers where the file does
    /// not report them, and the decider's per-layer plan); 0 turns analysis off.
    pub max_file_mb: u64,
}

impl Default for MoonrakerConfig {
    fn default() -> Self {
        MoonrakerConfig {
            url: "http://127.0.0.1:7125".into(),
            api_key: None,
            request_timeout_ms: 10_000,
            reconnect_max_ms: 30_000,
            max_file_mb: 256,
        }
    }
}

/// `[printer.park]`: what "park" does after a pause.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ParkConfig {
    pub retract_mm: f32,
    pub lift_mm: f32,
}

impl Default for ParkConfig {
    fn default() -> Self {
        ParkConfig { retract_mm: 2.0, lift_mm: 10.0 }
    }
}

const BAUDS: [u32; 9] = [9_600, 19_200, 38_400, 57_600, 115_200, 230_400, 250_000, 500_000, 1_000_000];

impl PrinterConfig {
    pub fn validate(&self, p: &str, out: &mut Issues) {
        out.range(format!("{p}.command_timeout_ms"), self.command_timeout_ms, 1_000, 600_000);
        out.range(format!("{p}.park.retract_mm"), self.park.retract_mm, 0.0, 20.0);
        out.range(format!("{p}.park.lift_mm"), self.park.lift_mm, 0.0, 100.0);
        self.light.validate(&format!("{p}.light"), out);
        if self.light.enabled() && self.kind == PrinterKind::None {
            out.push(format!("{p}.light.method"), self.light.method.name(), "needs a printer link (printer.kind)");
        }
        match self.kind {
            PrinterKind::None => {}
            PrinterKind::Marlin => {
                if !BAUDS.contains(&self.serial.baud) {
                    out.push(
                        format!("{p}.serial.baud"),
                        self.serial.baud,
                        format!("is not a standard rate ({BAUDS:?})"),
                    );
                }
                if self.serial.path.as_os_str().is_empty() {
                    out.push(format!("{p}.serial.path"), &self.serial.path, "is required for kind = \"marlin\"");
                }
                out.range(format!("{p}.serial.read_timeout_ms"), self.serial.read_timeout_ms, 500, 600_000);
                out.range(format!("{p}.serial.poll_ms"), self.serial.poll_ms, 100, 60_000);
            }
            PrinterKind::Octoprint => {
                let o = &self.octoprint;
                check_http(out, format!("{p}.octoprint.url"), &o.url);
                out.range(format!("{p}.octoprint.request_timeout_ms"), o.request_timeout_ms, 100, 600_000);
                out.range(format!("{p}.octoprint.poll_ms"), o.poll_ms, 100, 60_000);
                out.range(format!("{p}.octoprint.reconnect_max_ms"), o.reconnect_max_ms, 250, 600_000);
                out.range(format!("{p}.octoprint.max_file_mb"), o.max_file_mb, 0, 4_096);
            }
            PrinterKind::Moonraker => {
                let m = &self.moonraker;
                check_http(out, format!("{p}.moonraker.url"), &m.url);
                out.range(format!("{p}.moonraker.request_timeout_ms"), m.request_timeout_ms, 100, 600_000);
                out.range(format!("{p}.moonraker.reconnect_max_ms"), m.reconnect_max_ms, 250, 600_000);
                out.range(format!("{p}.moonraker.max_file_mb"), m.max_file_mb, 0, 4_096);
            }
        }
    }

    pub fn resolve_paths(&mut self, base: &Path) {
        if let Some(dir) = &mut self.serial.gcode_dir {
            if dir.is_relative() && !dir.as_os_str().is_empty() {
                *dir = base.join(&*dir);
            }
        }
    }
}

fn check_http(out: &mut Issues, key: String, url: &str) {
    if !(url.starts_with("http://") || url.starts_with("https://")) {
        out.push(key, url, "must be an http:// or https:// URL");
    }
}
