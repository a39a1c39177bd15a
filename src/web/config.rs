//! `[web]` section.

use serde::{Deserialize, Serialize};

use crate::config_issues::Issues;

/// `[web]`: the dashboard's address and access control.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WebConfig {
    pub enabled: bool,
    /// Address to listen on; anything but loopback needs `token`.
    pub bind: String,
    /// Access token required for state-changing requests (and for any non-loopback bind).
    pub token: Option<String>,
}

impl Default for WebConfig {
    fn default() -> Self {
        WebConfig { enabled: true, bind: "127.0.0.1:8484".into(), token: None }
    }
}

impl WebConfig {
    pub fn validate(&self, p: &str, out: &mut Issues) {
        match self.bind.parse::<std::net::SocketAddr>() {
            Err(_) => out.push(format!("{p}.bind"), &self.bind, "must be an address like 127.0.0.1:8484"),
            Ok(a) if !a.ip().is_loopback() && self.token.as_deref().is_none_or(|t| t.len() < 16) => out.push(
                format!("{p}.bind"),
                &self.bind,
                "binding beyond loopback needs web.token (at least 16 characters)",
            ),
            Ok(_) => {}
        }
    }
}
