//! `crate::mqtt`: `[mqtt]`.

#[path = "../../../src/mqtt/config.rs"]
pub mod config;

pub use config::{ENV_MQTT_PASSWORD, MqttConfig};
