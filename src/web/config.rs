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
    /// Seconds a client gets to send a request's headers; also how long an idle keep-alive
    /// connection stays open before the server closes it (slow or idle clients cannot pin connections).
    pub header_timeout_s: u64,
}

impl Default for WebConfig {
    fn default() -> Self {
        WebConfig { enabled: true, bind: "127.0.0.1:8484".into(), token: None, header_timeout_s: 10 }
    }
}

impl WebConfig {
    pub fn validate(&self, p: &str, out: &mut Issues) {
        out.range(format!("{p}.header_timeout_s"), self.header_timeout_s, 1, 600);
        match bind_is_loopback(&self.bind) {
            None => out.push(format!("{p}.bind"), &self.bind, "must be an address like 127.0.0.1:8484 or localhost:8484"),
            Some(false) if self.token.as_deref().is_none_or(|t| t.is_empty()) => out.push(
                format!("{p}.bind"),
                &self.bind,
                "binding beyond loopback needs web.token (at least 16 characters)",
            ),
            Some(_) => {}
        }
        if let Some(t) = self.token.as_deref().filter(|t| !t.is_empty())
            && let Some(why) = weak_token(t)
        {
            // The value itself is never printed.
            out.push(format!("{p}.token"), "***", why);
        }
    }
}

/// Whether a bind address (`IP:PORT` or `localhost:PORT`) is loopback; `None` if it is not an address.
pub fn bind_is_loopback(bind: &str) -> Option<bool> {
    if let Ok(a) = bind.parse::<std::net::SocketAddr>() {
        return Some(a.ip().is_loopback());
    }
    let (host, port) = bind.rsplit_once(':')?;
    (host.eq_ignore_ascii_case("localhost") && port.parse::<u16>().is_ok()).then_some(true)
}

/// Why `token` is too easy to guess, if it is: fewer than 16 characters, fewer
/// than 8 different ones, or mostly a run (`abcdef…`, `123456…`).
pub fn weak_token(token: &str) -> Option<String> {
    let chars: Vec<char> = token.chars().collect();
    if chars.len() < 16 {
        return Some(format!("is {} characters long; use at least 16 random characters (e.g. `openssl rand -hex 16`)", chars.len()));
    }
    let distinct: std::collections::BTreeSet<char> = chars.iter().copied().collect();
    if distinct.len() < 8 {
        return Some(format!(
            "uses only {} different characters; use at least 16 random characters (e.g. `openssl rand -hex 16`)",
            distinct.len()
        ));
    }
    let steps = chars.windows(2).filter(|w| (w[1] as i64 - w[0] as i64).abs() <= 1).count();
    if steps * 2 >= chars.len() {
        return Some("is mostly a run of neighbouring characters (like abcd or 1234); use random characters".into());
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn issues(bind: &str, token: Option<&str>) -> Vec<String> {
        let mut out = Issues::default();
        WebConfig { bind: bind.into(), token: token.map(String::from), ..WebConfig::default() }.validate("web", &mut out);
        out.into_vec().iter().map(|i| i.to_string()).collect()
    }

    /// Issue 13 item 7: `localhost:8484` was refused; tokens had no strength rule beyond length.
    #[test]
    fn binds_and_token_strength() {
        assert!(issues("localhost:8484", None).is_empty());
        assert!(issues("[::1]:8484", None).is_empty());
        assert_eq!(
            issues("0.0.0.0:8484", None),
            ["web.bind = \"0.0.0.0:8484\": binding beyond loopback needs web.token (at least 16 characters)"]
        );
        assert!(issues("0.0.0.0:8484", Some("9f86d081884c7d659a2feaa0c55ad015")).is_empty());
        let weak = [
            ("short", "web.token = \"***\": is 5 characters long"),
            ("aaaaaaaaaaaaaaaaaaaa", "web.token = \"***\": uses only 1 different characters"),
            ("abcdefghijklmnopqrstu", "web.token = \"***\": is mostly a run"),
            ("12345678901234567890", "web.token = \"***\": is mostly a run"),
        ];
        for (token, want) in weak {
            let got = issues("127.0.0.1:8484", Some(token));
            assert!(got.len() == 1 && got[0].starts_with(want), "{token}: {got:?}");
            assert!(!got[0].contains(token), "the token is never printed: {got:?}");
        }
        assert!(issues("my-host:8484", None)[0].contains("must be an address"));
    }
}
