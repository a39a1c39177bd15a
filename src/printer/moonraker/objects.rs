//! Klipper's printer objects as Moonraker relays them: the subscription's
//! first full answer, then `notify_status_update` diffs merged in, read back
//! as a typed `View` of what layerwatch uses.

use serde_json::{Map, Value};

/// The objects (all fields) layerwatch subscribes to.
pub(crate) const SUBSCRIBED: [&str; 9] = [
    "print_stats",
    "virtual_sdcard",
    "pause_resume",
    "webhooks",
    "display_status",
    "toolhead",
    "extruder",
    "heater_bed",
    "idle_timeout",
];

/// The subscription request's `objects` parameter.
pub(crate) fn subscription() -> Value {
    Value::Object(SUBSCRIBED.iter().map(|o| (o.to_string(), Value::Null)).collect())
}

/// Klippy's own state (`server.info` `klippy_state`, `webhooks.state`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Klippy {
    Ready,
    Startup,
    Shutdown,
    Error,
    Disconnected,
}

impl Klippy {
    pub(crate) fn parse(s: &str) -> Klippy {
        match s {
            "ready" => Klippy::Ready,
            "startup" => Klippy::Startup,
            "shutdown" => Klippy::Shutdown,
            "error" => Klippy::Error,
            // "disconnected", and anything a future Moonraker invents.
            _ => Klippy::Disconnected,
        }
    }
}

/// `print_stats.state`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum JobState {
    Standby,
    Printing,
    Paused,
    Complete,
    Cancelled,
    Error,
}

impl JobState {
    pub(crate) fn parse(s: &str) -> Option<JobState> {
        Some(match s {
            "standby" => JobState::Standby,
            "printing" => JobState::Printing,
            "paused" => JobState::Paused,
            "complete" => JobState::Complete,
            "cancelled" => JobState::Cancelled,
            "error" => JobState::Error,
            _ => return None,
        })
    }
}

/// The merged object tree.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Objects {
    tree: Map<String, Value>,
}

impl Objects {
    /// Replaces everything (a fresh subscription answer's `status`).
    pub(crate) fn reset(&mut self, status: &Value) {
        self.tree = status.as_object().cloned().unwrap_or_default();
    }

    pub(crate) fn clear(&mut self) {
        self.tree.clear();
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.tree.is_empty()
    }

    /// Merges a diff: objects field by field, and nested objects
    /// (`print_stats.info`) one level deeper, as Klipper sends only what changed.
    pub(crate) fn merge(&mut self, diff: &Value) {
        let Some(diff) = diff.as_object() else { return };
        for (name, fields) in diff {
            let slot = self.tree.entry(name.clone()).or_insert_with(|| Value::Object(Map::new()));
            match (slot.as_object_mut(), fields.as_object()) {
                (Some(have), Some(new)) => {
                    for (k, v) in new {
                        match (have.get_mut(k).and_then(Value::as_object_mut), v.as_object()) {
                            (Some(inner), Some(newer)) => {
                                for (ik, iv) in newer {
                                    inner.insert(ik.clone(), iv.clone());
                                }
                            }
                            _ => {
                                have.insert(k.clone(), v.clone());
                            }
                        }
                    }
                }
                _ => *slot = fields.clone(),
            }
        }
    }

    fn get(&self, obj: &str, field: &str) -> Option<&Value> {
        self.tree.get(obj)?.get(field)
    }

    fn f64_at(&self, obj: &str, field: &str) -> Option<f64> {
        self.get(obj, field).and_then(Value::as_f64).filter(|v| v.is_finite())
    }

    fn str_at(&self, obj: &str, field: &str) -> Option<&str> {
        self.get(obj, field).and_then(Value::as_str)
    }

    pub(crate) fn view(&self) -> View {
        let info = self.get("print_stats", "info");
        let info_u32 =
            |k: &str| info.and_then(|i| i.get(k)).and_then(Value::as_u64).map(|v| v.min(u32::MAX as u64) as u32);
        // A finite f64 can still overflow an f32 (Klipper's JSON may say anything): such a reading is absent.
        let f32_at = |obj: &str, field: &str| self.f64_at(obj, field).map(|v| v as f32).filter(|v| v.is_finite());
        let heater = |obj: &str| match (f32_at(obj, "temperature"), f32_at(obj, "target")) {
            (Some(t), target) => Some((t, target.unwrap_or(0.0))),
            _ => None,
        };
        View {
            webhooks_state: self.str_at("webhooks", "state").map(Klippy::parse),
            state_message: self.str_at("webhooks", "state_message").map(str::to_owned),
            job_state: self.str_at("print_stats", "state").and_then(JobState::parse),
            job_message: self.str_at("print_stats", "message").filter(|m| !m.is_empty()).map(str::to_owned),
            filename: self.str_at("print_stats", "filename").filter(|f| !f.is_empty()).map(str::to_owned),
            print_duration: self.f64_at("print_stats", "print_duration"),
            current_layer: info_u32("current_layer"),
            total_layer: info_u32("total_layer"),
            sd_progress: self.f64_at("virtual_sdcard", "progress"),
            file_position: self.f64_at("virtual_sdcard", "file_position").map(|v| v.max(0.0) as u64),
            file_size: self.f64_at("virtual_sdcard", "file_size").map(|v| v.max(0.0) as u64).filter(|s| *s > 0),
            is_paused: self.get("pause_resume", "is_paused").and_then(Value::as_bool).unwrap_or(false),
            display_progress: self.f64_at("display_status", "progress"),
            z: self
                .get("toolhead", "position")
                .and_then(|p| p.get(2))
                .and_then(Value::as_f64)
                .map(|z| z as f32)
                .filter(|z| z.is_finite()),
            extruder: heater("extruder"),
            bed: heater("heater_bed"),
        }
    }
}

/// What layerwatch reads from the objects.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct View {
    pub webhooks_state: Option<Klippy>,
    pub state_message: Option<String>,
    pub job_state: Option<JobState>,
    pub job_message: Option<String>,
    pub filename: Option<String>,
    pub print_duration: Option<f64>,
    /// 1-based, as `SET_PRINT_STATS_INFO CURRENT_LAYER=` sets it; 0 before the first layer.
    pub current_layer: Option<u32>,
    pub total_layer: Option<u32>,
    pub sd_progress: Option<f64>,
    pub file_position: Option<u64>,
    pub file_size: Option<u64>,
    pub is_paused: bool,
    pub display_progress: Option<f64>,
    pub z: Option<f32>,
    /// (actual, target) °C.
    pub extruder: Option<(f32, f32)>,
    pub bed: Option<(f32, f32)>,
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::Objects;

    /// Found by the `moonraker_json` fuzz target: a temperature (or Z) too large for an `f32` became infinity.
    #[test]
    fn readings_too_large_for_an_f32_are_absent_not_infinite() {
        let mut o = Objects::default();
        o.reset(&json!({"extruder": {"temperature": 210.0, "target": 1e300}, "toolhead": {"position": [0, 0, 1e300]}}));
        o.merge(&json!({"heater_bed": {"temperature": 2.1e65, "target": 60.0}}));
        let v = o.view();
        assert_eq!((v.extruder, v.bed, v.z), (Some((210.0, 0.0)), None, None));
    }
}
