//! `[mqtt]`: the broker, its credentials and TLS, the topics, and how often
//! states and pictures are published. Off unless `enabled = true`.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::actions::alerts::Secret;
use crate::config_issues::Issues;

/// The environment variable read for the password when `password` is unset.
pub const ENV_MQTT_PASSWORD: &str = "LAYERWATCH_MQTT_PASSWORD";

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MqttConfig {
    /// Connect to the broker at all (off by default).
    pub enabled: bool,
    pub host: String,
    /// 1883 for plain MQTT, usually 8883 with `tls = true`.
    pub port: u16,
    /// Empty: connect without a user name (and without a password).
    pub username: String,
    /// The user's password; unset: `LAYERWATCH_MQTT_PASSWORD` from the environment.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub password: Option<Secret>,
    /// MQTT over TLS (rustls). The broker's certificate is checked against `ca_file`, or
    /// the system's roots when `ca_file` is empty.
    pub tls: bool,
    pub ca_file: PathBuf,
    /// A client certificate and its key (PEM), for brokers that require one; both or neither.
    pub client_cert_file: PathBuf,
    pub client_key_file: PathBuf,
    /// Empty: `layerwatch-<general.name>`. Must be unique on the broker.
    pub client_id: String,
    /// Where states go and commands come from; empty: `layerwatch/<general.name>`.
    pub base_topic: String,
    /// Publish Home Assistant MQTT discovery configs (retained).
    pub discovery: bool,
    pub discovery_prefix: String,
    pub keepalive_s: u64,
    /// Seconds between state publications (a change of printer state or verdict is sent at once).
    pub publish_interval_s: u64,
    /// Seconds between two live pictures on the image topic; 0: no live picture.
    pub live_image_interval_s: u64,
    /// Quality of service for states and discovery (0 or 1).
    pub qos: u8,
}

impl Default for MqttConfig {
    fn default() -> Self {
        MqttConfig {
            enabled: false,
            host: "localhost".into(),
            port: 1883,
            username: String::new(),
            password: None,
            tls: false,
            ca_file: PathBuf::new(),
            client_cert_file: PathBuf::new(),
            client_key_file: PathBuf::new(),
            client_id: String::new(),
            base_topic: String::new(),
            discovery: true,
            discovery_prefix: "homeassistant".into(),
            keepalive_s: 30,
            publish_interval_s: 5,
            live_image_interval_s: 30,
            qos: 1,
        }
    }
}

/// A topic segment made from a printer's name: lower case, `[a-z0-9_-]`.
pub fn slug(name: &str) -> String {
    let s: String = name
        .trim()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c.to_ascii_lowercase() } else { '_' })
        .collect();
    if s.is_empty() { "printer".into() } else { s }
}

/// Whether `t` may be published to: not empty, no wildcard, no NUL, not ending in `/`.
fn publishable(t: &str) -> bool {
    !t.is_empty() && !t.contains(['#', '+', '\0']) && !t.ends_with('/') && t.len() < 60_000
}

impl MqttConfig {
    /// The base topic in use (`base_topic`, or `layerwatch/<name>`).
    pub fn base(&self, printer_name: &str) -> String {
        match self.base_topic.trim_end_matches('/') {
            "" => format!("layerwatch/{}", slug(printer_name)),
            b => b.to_string(),
        }
    }

    /// The client id in use (`client_id`, or `layerwatch-<name>`).
    pub fn client_id_for(&self, printer_name: &str) -> String {
        match self.client_id.as_str() {
            "" => format!("layerwatch-{}", slug(printer_name)),
            c => c.to_string(),
        }
    }

    /// The password in use: the configured one, else the environment's.
    pub fn password(&self) -> Option<Secret> {
        Secret::resolve(self.password.as_ref(), ENV_MQTT_PASSWORD)
    }

    pub fn validate(&self, p: &str, out: &mut Issues) {
        let host_ok = !self.host.trim().is_empty() && !self.host.contains(['/', ' ', '@']);
        if self.enabled && !host_ok {
            out.push(format!("{p}.host"), &self.host, "must be the broker's host name or address (no scheme, no path)");
        }
        if self.port == 0 {
            out.push(format!("{p}.port"), self.port, "must be between 1 and 65535");
        }
        if self.username.is_empty() && self.password.as_ref().is_some_and(|s| !s.expose().is_empty()) {
            out.push(
                format!("{p}.username"),
                &self.username,
                "is needed with a password (MQTT sends no password alone)",
            );
        }
        if !self.tls {
            for (key, path) in [
                ("ca_file", &self.ca_file),
                ("client_cert_file", &self.client_cert_file),
                ("client_key_file", &self.client_key_file),
            ] {
                if !path.as_os_str().is_empty() {
                    out.push(format!("{p}.{key}"), path.display().to_string(), "is used only with tls = true");
                }
            }
        }
        if self.client_cert_file.as_os_str().is_empty() != self.client_key_file.as_os_str().is_empty() {
            out.push(
                format!("{p}.client_key_file"),
                self.client_key_file.display().to_string(),
                "give client_cert_file and client_key_file together, or neither",
            );
        }
        if self.client_id.len() > 64 || self.client_id.contains(['\0', '/', '#', '+']) {
            out.push(format!("{p}.client_id"), &self.client_id, "must be at most 64 characters without / # +");
        }
        if !self.base_topic.is_empty() && !publishable(&self.base_topic) {
            out.push(format!("{p}.base_topic"), &self.base_topic, "must be a topic without the wildcards + and #");
        }
        if !publishable(&self.discovery_prefix) || self.discovery_prefix.contains('/') {
            out.push(
                format!("{p}.discovery_prefix"),
                &self.discovery_prefix,
                "must be one topic level without / + # (Home Assistant's default is \"homeassistant\")",
            );
        }
        out.range(format!("{p}.keepalive_s"), self.keepalive_s, 5, 3_600);
        out.range(format!("{p}.publish_interval_s"), self.publish_interval_s, 1, 3_600);
        if self.live_image_interval_s != 0 {
            out.range(format!("{p}.live_image_interval_s"), self.live_image_interval_s, 1, 86_400);
        }
        out.range(format!("{p}.qos"), self.qos, 0, 1);
    }

    pub fn resolve_paths(&mut self, base: &Path) {
        for p in [&mut self.ca_file, &mut self.client_cert_file, &mut self.client_key_file] {
            if p.is_relative() && !p.as_os_str().is_empty() {
                *p = base.join(&*p);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topics_and_ids_come_from_the_printer_name() {
        let c = MqttConfig::default();
        assert_eq!(c.base("Prusa MK4 #2"), "layerwatch/prusa_mk4__2");
        assert_eq!(c.client_id_for("Voron"), "layerwatch-voron");
        let c = MqttConfig { base_topic: "farm/p1/".into(), client_id: "x".into(), ..c };
        assert_eq!(c.base("Voron"), "farm/p1");
        assert_eq!(c.client_id_for("Voron"), "x");
    }

    #[test]
    fn a_password_never_shows() {
        let c = MqttConfig { password: Some(Secret::new("hunter2-mqtt")), ..MqttConfig::default() };
        assert!(!format!("{c:?}").contains("hunter2"));
        assert!(!serde_json::to_string(&c).unwrap().contains("hunter2"));
    }
}
