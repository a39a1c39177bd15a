//! Typed configuration: the TOML file the daemon and the CLI read.
//!
//! Owns loading (`Config::load`), the aggregate `Config`, and the error type
//! that names the key path and the bad value. Each stage owns the struct for its
//! own section (`capture::CameraConfig`, `printer::PrinterConfig`…), with
//! `deny_unknown_fields` and defaults on the fields; semantic checks live in each
//! section's `validate` and are collected here, so `validate-config` reports every
//! problem at once.
//!
//! The arrows run one way: `config` imports the stages' sections, and the
//! stages import only the leaf `config_issues`, never `config`. No stage
//! receives the whole `Config`; `app` hands each its own section, and `web`
//! gets the view from [`Config::redacted_json`].

mod printers;
mod redact;
mod schema;

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

pub use crate::config_issues::{ConfigError, ConfigIssue, Issues};
pub use printers::{PER_PRINTER, PrinterEntry, is_slug};

use crate::{actions, capture, decision, mqtt, printer, store, timelapse, vision, web};

/// The whole configuration file. Every section is optional.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub general: GeneralConfig,
    pub camera: capture::CameraConfig,
    pub vision: vision::VisionConfig,
    pub printer: printer::PrinterConfig,
    pub decision: decision::DecisionConfig,
    pub timelapse: timelapse::TimelapseConfig,
    pub actions: actions::ActionsConfig,
    pub alerts: actions::AlertsConfig,
    pub store: store::StoreConfig,
    pub web: web::WebConfig,
    pub mqtt: mqtt::MqttConfig,
    /// `[[printers]]`: each printer's effective configuration (see `printers.rs` for the merge);
    /// empty: one printer, the top-level sections.
    #[serde(skip)]
    pub printers: Vec<PrinterEntry>,
}

/// `[general]`: identity and where the daemon keeps its data.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GeneralConfig {
    /// Printer name used in alerts, logs and the dashboard.
    pub name: String,
    /// Directory for the database, snapshots and recordings.
    pub data_dir: PathBuf,
    /// Log filter (`tracing` env-filter syntax); `RUST_LOG` wins when set.
    pub log: String,
    /// `text` or `json` log lines.
    pub log_format: LogFormat,
}

impl Default for GeneralConfig {
    fn default() -> Self {
        GeneralConfig {
            name: "printer".into(),
            data_dir: PathBuf::from("layerwatch-data"),
            log: "info".into(),
            log_format: LogFormat::Text,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

impl Config {
    /// Reads, parses and validates a config file.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| ConfigError::Read { path: path.to_path_buf(), source: e })?;
        let mut cfg = Config::from_toml_str(&text).map_err(|e| e.with_file(path))?;
        cfg.resolve_paths(path.parent().unwrap_or(Path::new(".")));
        Ok(cfg)
    }

    /// Parses and validates TOML text (relative paths stay as written). Every
    /// problem is reported at once (schema and semantic), in file order, each
    /// with its line, key path and value; only a TOML syntax error stops early.
    pub fn from_toml_str(text: &str) -> Result<Config, ConfigError> {
        let (cfg, mut issues) = match schema::read(text) {
            Ok((cfg, issues)) => (Some(cfg), issues),
            Err(ConfigError::Invalid { issues, .. }) => (None, issues),
            Err(e) => return Err(e),
        };
        if let Some(cfg) = &cfg {
            issues.extend(cfg.issues().into_vec());
        }
        for i in &mut issues {
            if i.line.is_none() {
                i.line = schema::locate(text, &i.key);
            }
        }
        // Stable: problems on one line (or with no line) keep the order they were found in.
        issues.sort_by_key(|i| i.line.unwrap_or(usize::MAX));
        match cfg {
            Some(cfg) if issues.is_empty() => Ok(cfg),
            _ => Err(ConfigError::Invalid { file: None, issues }),
        }
    }

    /// Every semantic problem in the config, each naming its key path and value.
    pub fn issues(&self) -> Issues {
        let mut out = Issues::default();
        if self.general.name.trim().is_empty() {
            out.push("general.name", &self.general.name, "must not be empty");
        }
        if !self.printers.is_empty() {
            // With [[printers]], the top-level per-printer sections are defaults: each printer's merge is checked.
            self.vision.validate("vision", &mut out);
            self.store.validate("store", &mut out);
            self.web.validate("web", &mut out);
            self.mqtt.validate("mqtt", &mut out);
            self.printer_issues(&mut out);
            return out;
        }
        self.camera.validate("camera", &mut out);
        self.vision.validate("vision", &mut out);
        self.printer.validate("printer", &mut out);
        self.decision.validate("decision", &mut out);
        self.timelapse.validate("timelapse", &mut out);
        self.actions.validate("actions", &mut out);
        self.alerts.validate("alerts", &mut out);
        self.store.validate("store", &mut out);
        self.web.validate("web", &mut out);
        self.mqtt.validate("mqtt", &mut out);
        self.light_issue(&mut out);
        out
    }

    /// The problems of the sections a printer may set for itself (`PER_PRINTER`).
    fn section_issues(&self, out: &mut Issues) {
        self.camera.validate("camera", out);
        self.printer.validate("printer", out);
        self.decision.validate("decision", out);
        self.timelapse.validate("timelapse", out);
        self.actions.validate("actions", out);
        self.alerts.validate("alerts", out);
        self.light_issue(out);
    }

    fn light_issue(&self, out: &mut Issues) {
        if self.printer.light.method == printer::light::LightMethod::Mqtt && !self.mqtt.enabled {
            out.push("printer.light.method", "mqtt", "needs the MQTT connection: [mqtt] enabled = true");
        }
    }

    /// The printers the daemon runs: each `[[printers]]` entry, or the file itself as one printer.
    pub fn printer_list(&self) -> Vec<(String, Config)> {
        match self.printers.is_empty() {
            true => vec![(self.general.name.clone(), self.clone())],
            false => self.printers.iter().map(|p| (p.name.clone(), p.config.clone())).collect(),
        }
    }

    /// Makes relative paths relative to the config file's directory.
    fn resolve_paths(&mut self, base: &Path) {
        let fix = |p: &mut PathBuf| {
            if p.is_relative() && !p.as_os_str().is_empty() {
                *p = base.join(&*p);
            }
        };
        fix(&mut self.general.data_dir);
        self.camera.resolve_paths(base);
        self.vision.resolve_paths(base);
        self.printer.resolve_paths(base);
        self.decision.resolve_paths(base);
        self.store.resolve_paths(base);
        self.mqtt.resolve_paths(base);
        for p in &mut self.printers {
            p.config.resolve_paths(base);
        }
    }
}

#[cfg(test)]
mod tests;
