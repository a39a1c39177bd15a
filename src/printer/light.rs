//! `[printer.light]`: the printer's light, switched for the camera: what to
//! send for each method (`M355` on Marlin, a Klipper `output_pin` through
//! `SET_PIN`, or the user's own G-code or macro) and the settings of when.
//! Deciding when, and sending, is `actions::light`'s.

use serde::{Deserialize, Serialize};

use crate::config_issues::Issues;

/// How the light is switched.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum LightMethod {
    /// No light control (the default).
    #[default]
    None,
    /// Marlin's case light, `M355 S1 P<0–255>` / `M355 S0`.
    M355,
    /// A Klipper `[output_pin]`, `SET_PIN PIN=<pin> VALUE=<0–1>` through Moonraker.
    KlipperPin,
    /// The user's own lines (`on_gcode` / `off_gcode`): any firmware's command, or a Klipper macro.
    Gcode,
    /// A light on the MQTT bus (a Home Assistant or Zigbee2MQTT light): `mqtt_payload_on` /
    /// `mqtt_payload_off` published on `mqtt_topic` through the `[mqtt]` connection.
    Mqtt,
}

impl LightMethod {
    /// The name the config file uses.
    pub fn name(self) -> &'static str {
        match self {
            LightMethod::None => "none",
            LightMethod::M355 => "m355",
            LightMethod::KlipperPin => "klipper_pin",
            LightMethod::Gcode => "gcode",
            LightMethod::Mqtt => "mqtt",
        }
    }
}

/// When the light is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum LightWhen {
    /// From the start of each print (heating included) until `off_after_s` after it ends.
    #[default]
    Printing,
    /// Only once the camera's picture is too dark to judge during a print
    /// (`decision.health.dark_brightness`), until `off_after_s` after the print ends.
    Dark,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LightConfig {
    pub method: LightMethod,
    pub when: LightWhen,
    /// Brightness when on, 0–1 (`M355 P` is this × 255; `SET_PIN VALUE` is this).
    pub brightness: f32,
    /// The Klipper `[output_pin]` name, for `method = "klipper_pin"`.
    pub pin: String,
    /// Lines that switch the light on / off, for `method = "gcode"`.
    pub on_gcode: Vec<String>,
    pub off_gcode: Vec<String>,
    /// For `method = "mqtt"`: the light's command topic (e.g. `zigbee2mqtt/printer_light/set`)
    /// and what switches it on and off.
    pub mqtt_topic: String,
    pub mqtt_payload_on: String,
    pub mqtt_payload_off: String,
    /// Seconds after a print ends (finished, cancelled, failed) before the light goes off.
    pub off_after_s: u64,
    /// Seconds between tries when the printer refused or did not confirm a switch.
    pub retry_s: u64,
}

impl Default for LightConfig {
    fn default() -> Self {
        LightConfig {
            method: LightMethod::None,
            when: LightWhen::Printing,
            brightness: 1.0,
            pin: String::new(),
            on_gcode: Vec::new(),
            off_gcode: Vec::new(),
            mqtt_topic: String::new(),
            mqtt_payload_on: r#"{"state":"ON"}"#.into(),
            mqtt_payload_off: r#"{"state":"OFF"}"#.into(),
            off_after_s: 120,
            retry_s: 30,
        }
    }
}

impl LightConfig {
    pub fn enabled(&self) -> bool {
        self.method != LightMethod::None
    }

    /// The message that switches an MQTT light `on` or off.
    pub fn mqtt_payload(&self, on: bool) -> &str {
        if on { &self.mqtt_payload_on } else { &self.mqtt_payload_off }
    }

    /// The lines that switch the light `on` or off (empty with `method = "none"` or `"mqtt"`).
    pub fn lines(&self, on: bool) -> Vec<String> {
        let b = self.brightness.clamp(0.0, 1.0);
        match (self.method, on) {
            (LightMethod::None | LightMethod::Mqtt, _) => Vec::new(),
            (LightMethod::M355, true) => vec![format!("M355 S1 P{}", (b * 255.0).round() as u32)],
            (LightMethod::M355, false) => vec!["M355 S0".into()],
            (LightMethod::KlipperPin, true) => vec![format!("SET_PIN PIN={} VALUE={:.2}", self.pin, b)],
            (LightMethod::KlipperPin, false) => vec![format!("SET_PIN PIN={} VALUE=0", self.pin)],
            (LightMethod::Gcode, true) => self.on_gcode.clone(),
            (LightMethod::Gcode, false) => self.off_gcode.clone(),
        }
    }

    pub fn validate(&self, p: &str, out: &mut Issues) {
        out.range(format!("{p}.brightness"), self.brightness, 0.0, 1.0);
        out.range(format!("{p}.off_after_s"), self.off_after_s, 0, 86_400);
        out.range(format!("{p}.retry_s"), self.retry_s, 1, 3_600);
        match self.method {
            LightMethod::KlipperPin => {
                let ok = !self.pin.is_empty() && self.pin.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
                if !ok {
                    out.push(
                        format!("{p}.pin"),
                        &self.pin,
                        "must name the Klipper [output_pin] (letters, digits and _) for method = \"klipper_pin\"",
                    );
                }
            }
            LightMethod::Gcode => {
                for (key, lines) in [("on_gcode", &self.on_gcode), ("off_gcode", &self.off_gcode)] {
                    if let Err(why) = super::user_gcode::check(lines) {
                        out.push(format!("{p}.{key}"), lines, format!("is not usable G-code: {why}"));
                    }
                }
            }
            LightMethod::Mqtt => {
                let t = &self.mqtt_topic;
                if t.is_empty() || t.contains(['#', '+', '\0']) || t.ends_with('/') {
                    out.push(
                        format!("{p}.mqtt_topic"),
                        t,
                        "must name the light's command topic (no + or #) for method = \"mqtt\", \
                         e.g. \"zigbee2mqtt/printer_light/set\"",
                    );
                }
                for (key, v) in
                    [("mqtt_payload_on", &self.mqtt_payload_on), ("mqtt_payload_off", &self.mqtt_payload_off)]
                {
                    if v.is_empty() {
                        out.push(format!("{p}.{key}"), v, "must not be empty for method = \"mqtt\"");
                    }
                }
                if self.mqtt_payload_on == self.mqtt_payload_off {
                    out.push(
                        format!("{p}.mqtt_payload_off"),
                        &self.mqtt_payload_off,
                        "must differ from mqtt_payload_on",
                    );
                }
            }
            LightMethod::None | LightMethod::M355 => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_method_sends_its_own_lines() {
        let mut c = LightConfig { method: LightMethod::M355, brightness: 0.5, ..LightConfig::default() };
        assert_eq!(c.lines(true), ["M355 S1 P128"]);
        assert_eq!(c.lines(false), ["M355 S0"]);
        c.method = LightMethod::KlipperPin;
        c.pin = "caselight".into();
        assert_eq!(c.lines(true), ["SET_PIN PIN=caselight VALUE=0.50"]);
        assert_eq!(c.lines(false), ["SET_PIN PIN=caselight VALUE=0"]);
        c.method = LightMethod::Gcode;
        c.on_gcode = vec!["LIGHTS_ON".into()];
        c.off_gcode = vec!["LIGHTS_OFF".into(), "M118 off".into()];
        assert_eq!(c.lines(true), ["LIGHTS_ON"]);
        assert_eq!(c.lines(false), ["LIGHTS_OFF", "M118 off"]);
        c.method = LightMethod::None;
        assert!(c.lines(true).is_empty() && !c.enabled());
    }
}
