//! Home Assistant MQTT discovery (pure): the entities layerwatch offers, their
//! topics, and the retained config payload of each, published under
//! `<discovery_prefix>/<component>/<node_id>/<object_id>/config`.
//!
//! Each payload carries the `device` block (one device per printer), a
//! `unique_id`, the availability topic (the connection's last will says
//! `offline`), and either a `state_topic` with a `value_template` over the one
//! JSON state message, an `image_topic` (raw JPEG bytes), or a
//! `command_topic` (buttons). Keys are Home Assistant's full names; the
//! schema facts they follow are checked by `tests/peers/mqtt_ha_check.py`.

use serde_json::{Map, Value, json};

/// Online/offline payloads on the availability topic.
pub const ONLINE: &str = "online";
pub const OFFLINE: &str = "offline";
/// What a button sends when pressed (Home Assistant's default `payload_press`).
pub const PRESS: &str = "PRESS";

/// The owner's buttons, carried out through the action engine like the dashboard's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Button {
    Pause,
    Resume,
    /// Mute pauses and alerts for the rest of this print.
    MutePrint,
    /// The open incident is a false alarm.
    NotAFailure,
}

impl Button {
    pub const ALL: [Button; 4] = [Button::Pause, Button::Resume, Button::MutePrint, Button::NotAFailure];

    /// The topic level and object id.
    pub fn key(self) -> &'static str {
        match self {
            Button::Pause => "pause",
            Button::Resume => "resume",
            Button::MutePrint => "mute_print",
            Button::NotAFailure => "not_a_failure",
        }
    }

    fn label(self) -> &'static str {
        match self {
            Button::Pause => "Pause print",
            Button::Resume => "Resume print",
            Button::MutePrint => "Mute for this print",
            Button::NotAFailure => "Not a failure",
        }
    }

    fn icon(self) -> &'static str {
        match self {
            Button::Pause => "mdi:pause",
            Button::Resume => "mdi:play",
            Button::MutePrint => "mdi:bell-off",
            Button::NotAFailure => "mdi:thumb-up",
        }
    }

    pub fn from_key(k: &str) -> Option<Button> {
        Button::ALL.into_iter().find(|b| b.key() == k)
    }
}

/// Where everything lives for one printer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Topics {
    /// `layerwatch/<printer>` (the config's `base_topic`).
    pub base: String,
    pub discovery_prefix: String,
    /// Discovery's node id and the device's identifier, e.g. `layerwatch_prusa`.
    pub node_id: String,
}

impl Topics {
    pub fn new(base: &str, discovery_prefix: &str) -> Topics {
        let node: String =
            base.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '_' }).collect();
        let node_id = if node.starts_with("layerwatch") { node } else { format!("layerwatch_{node}") };
        Topics { base: base.to_string(), discovery_prefix: discovery_prefix.to_string(), node_id }
    }
    pub fn availability(&self) -> String {
        format!("{}/availability", self.base)
    }
    /// The one JSON state message every sensor reads.
    pub fn state(&self) -> String {
        format!("{}/state", self.base)
    }
    pub fn live_image(&self) -> String {
        format!("{}/image/live", self.base)
    }
    pub fn incident_image(&self) -> String {
        format!("{}/image/incident", self.base)
    }
    pub fn command(&self, b: Button) -> String {
        format!("{}/command/{}", self.base, b.key())
    }
    /// Subscribed: every button's command topic.
    pub fn command_filter(&self) -> String {
        format!("{}/command/+", self.base)
    }
    /// Home Assistant's birth message (`online` when it starts): states are sent again.
    pub fn ha_status(&self) -> String {
        format!("{}/status", self.discovery_prefix)
    }
    pub fn config(&self, component: &str, object_id: &str) -> String {
        format!("{}/{component}/{}/{object_id}/config", self.discovery_prefix, self.node_id)
    }
}

/// One entity's discovery message.
#[derive(Debug, Clone, PartialEq)]
pub struct Discovery {
    pub topic: String,
    pub payload: Value,
}

/// A sensor read from the JSON state: (object id, name, JSON field, unit, device class, state class, icon).
struct SensorSpec {
    id: &'static str,
    name: &'static str,
    field: &'static str,
    unit: Option<&'static str>,
    device_class: Option<&'static str>,
    state_class: Option<&'static str>,
    icon: Option<&'static str>,
    precision: Option<u8>,
}

const fn sensor(id: &'static str, name: &'static str, field: &'static str) -> SensorSpec {
    SensorSpec { id, name, field, unit: None, device_class: None, state_class: None, icon: None, precision: None }
}

const fn temp(id: &'static str, name: &'static str, field: &'static str) -> SensorSpec {
    SensorSpec {
        id,
        name,
        field,
        unit: Some("°C"),
        device_class: Some("temperature"),
        state_class: Some("measurement"),
        icon: None,
        precision: Some(1),
    }
}

const SENSORS: &[SensorSpec] = &[
    SensorSpec { icon: Some("mdi:printer-3d"), ..sensor("printer_state", "Printer state", "printer_state") },
    SensorSpec {
        unit: Some("%"),
        state_class: Some("measurement"),
        icon: Some("mdi:alert-decagram"),
        precision: Some(0),
        ..sensor("failure_score", "Failure score", "failure_score")
    },
    SensorSpec { icon: Some("mdi:check-decagram"), ..sensor("verdict", "Verdict", "verdict") },
    SensorSpec { icon: Some("mdi:layers"), ..sensor("layer", "Layer", "layer") },
    SensorSpec { icon: Some("mdi:layers-triple"), ..sensor("layer_count", "Total layers", "layer_count") },
    SensorSpec {
        unit: Some("%"),
        state_class: Some("measurement"),
        icon: Some("mdi:progress-clock"),
        precision: Some(0),
        ..sensor("progress", "Progress", "progress")
    },
    SensorSpec {
        unit: Some("s"),
        device_class: Some("duration"),
        icon: Some("mdi:timer-sand"),
        ..sensor("time_left", "Time left", "time_left_s")
    },
    SensorSpec { icon: Some("mdi:file-outline"), ..sensor("file", "File", "file") },
    SensorSpec { icon: Some("mdi:gesture-tap-button"), ..sensor("last_command", "Last command", "last_command") },
    temp("hotend_temperature", "Hotend temperature", "hotend"),
    temp("hotend_target", "Hotend target", "hotend_target"),
    temp("bed_temperature", "Bed temperature", "bed"),
    temp("bed_target", "Bed target", "bed_target"),
];

/// Every entity's discovery message for this printer.
pub fn messages(t: &Topics, printer_name: &str, sw_version: &str) -> Vec<Discovery> {
    let device = json!({
        "identifiers": [t.node_id],
        "name": printer_name,
        "manufacturer": "layerwatch",
        "model": "layerwatch print monitor",
        "sw_version": sw_version,
    });
    let origin = json!({ "name": "layerwatch", "sw_version": sw_version });
    let base = |id: &str, name: &str| -> Map<String, Value> {
        let mut m = Map::new();
        m.insert("name".into(), json!(name));
        m.insert("unique_id".into(), json!(format!("{}_{id}", t.node_id)));
        m.insert("availability_topic".into(), json!(t.availability()));
        m.insert("payload_available".into(), json!(ONLINE));
        m.insert("payload_not_available".into(), json!(OFFLINE));
        m.insert("device".into(), device.clone());
        m.insert("origin".into(), origin.clone());
        m
    };
    let mut out = Vec::new();
    for s in SENSORS {
        let mut m = base(s.id, s.name);
        m.insert("state_topic".into(), json!(t.state()));
        m.insert("value_template".into(), json!(format!("{{{{ value_json.{} }}}}", s.field)));
        if let Some(u) = s.unit {
            m.insert("unit_of_measurement".into(), json!(u));
        }
        if let Some(d) = s.device_class {
            m.insert("device_class".into(), json!(d));
        }
        if let Some(c) = s.state_class {
            m.insert("state_class".into(), json!(c));
        }
        if let Some(i) = s.icon {
            m.insert("icon".into(), json!(i));
        }
        if let Some(p) = s.precision {
            m.insert("suggested_display_precision".into(), json!(p));
        }
        if s.id == "printer_state" {
            m.insert("json_attributes_topic".into(), json!(t.state()));
        }
        out.push(Discovery { topic: t.config("sensor", s.id), payload: Value::Object(m) });
    }
    let binaries = [
        ("failure", "Failure", "failure", Some("problem"), None),
        ("muted", "Muted", "muted", None, Some("mdi:bell-off")),
    ];
    for (id, name, field, class, icon) in binaries {
        let mut m = base(id, name);
        m.insert("state_topic".into(), json!(t.state()));
        m.insert("value_template".into(), json!(format!("{{{{ 'ON' if value_json.{field} else 'OFF' }}}}")));
        m.insert("payload_on".into(), json!("ON"));
        m.insert("payload_off".into(), json!("OFF"));
        if let Some(c) = class {
            m.insert("device_class".into(), json!(c));
        }
        if let Some(i) = icon {
            m.insert("icon".into(), json!(i));
        }
        out.push(Discovery { topic: t.config("binary_sensor", id), payload: Value::Object(m) });
    }
    for (id, name, topic) in
        [("live", "Live picture", t.live_image()), ("incident_snapshot", "Incident snapshot", t.incident_image())]
    {
        let mut m = base(id, name);
        m.insert("image_topic".into(), json!(topic));
        m.insert("content_type".into(), json!("image/jpeg"));
        out.push(Discovery { topic: t.config("image", id), payload: Value::Object(m) });
    }
    for b in Button::ALL {
        let mut m = base(b.key(), b.label());
        m.insert("command_topic".into(), json!(t.command(b)));
        m.insert("payload_press".into(), json!(PRESS));
        m.insert("icon".into(), json!(b.icon()));
        out.push(Discovery { topic: t.config("button", b.key()), payload: Value::Object(m) });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_entity_is_unique_and_names_its_device() {
        let t = Topics::new("layerwatch/voron", "homeassistant");
        assert_eq!(t.node_id, "layerwatch_voron");
        let msgs = messages(&t, "Voron", "0.1.0");
        let mut ids: Vec<&str> = msgs.iter().map(|m| m.payload["unique_id"].as_str().unwrap()).collect();
        let n = ids.len();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), n, "unique_id repeats");
        assert_eq!(n, 13 + 2 + 2 + 4);
        for m in &msgs {
            assert!(m.topic.starts_with("homeassistant/") && m.topic.ends_with("/config"), "{}", m.topic);
            assert_eq!(m.payload["device"]["identifiers"][0], "layerwatch_voron");
            assert_eq!(m.payload["availability_topic"], "layerwatch/voron/availability");
        }
        let pause = msgs.iter().find(|m| m.topic == "homeassistant/button/layerwatch_voron/pause/config").unwrap();
        assert_eq!(pause.payload["command_topic"], "layerwatch/voron/command/pause");
        assert_eq!(Button::from_key("not_a_failure"), Some(Button::NotAFailure));
        assert_eq!(Button::from_key("cancel"), None);
    }
}
