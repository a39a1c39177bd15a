//! The masking rules for secrets in anything shown to a person: which keys
//! name a credential, how a token and a URL's user-info are masked, and the
//! walk that applies both to a JSON tree; and [`Secret`], a configured
//! credential that prints as `***` (alert channels, MQTT, the KServe backend).
//!
//! A leaf (no imports from the crate) and the one place these rules live:
//! `config` builds the dashboard's redacted view and `validate-config --print`
//! with [`redact_json`]; every log line, printer link name and audit-log text
//! passes through [`redact_text`].
//!
//! In a URL, masked are: the user-info (`user:password@`), the value of every
//! query parameter whose name names a credential (`?token=…`, `&api_key=…`,
//! `sig`, `auth`…), and every path segment that looks like a token (16 or more
//! characters mixing letters and digits, such as a Slack or Discord webhook's
//! last segment, or Telegram's `bot123:ABC…`).

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

/// What a masked value reads as.
pub const MASK: &str = "***";

/// Whether a key name (any case) names a credential whose value is never shown.
pub fn is_secret_key(key: &str) -> bool {
    let k = key.to_ascii_lowercase();
    k.contains("token") || k.contains("secret") || k.contains("password") || k.ends_with("key") || k == "auth"
}

/// A credential's value as shown: always [`MASK`], whatever it was.
pub fn mask_token(_value: &str) -> String {
    MASK.to_string()
}

/// `http://user:pass@host/hook/AbC123…?token=x` → `http://***@host/hook/***?token=***`;
/// `None` when the text is not a URL or has nothing to mask (it is then shown as it is).
pub fn mask_url(s: &str) -> Option<String> {
    let (scheme, rest) = s.split_once("://")?;
    if scheme.is_empty() || !scheme.bytes().all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(&b)) {
        return None;
    }
    let auth_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(auth_end);
    let host = match authority.rfind('@') {
        Some(at) => format!("{MASK}@{}", &authority[at + 1..]),
        None => authority.to_string(),
    };
    let (path_query, fragment) = match tail.find('#') {
        Some(i) => tail.split_at(i),
        None => (tail, ""),
    };
    let (path, query) = match path_query.find('?') {
        Some(i) => (&path_query[..i], Some(&path_query[i + 1..])),
        None => (path_query, None),
    };
    let path: Vec<String> =
        path.split('/').map(|seg| if looks_like_token(seg) { MASK.to_string() } else { seg.to_string() }).collect();
    let mut out = format!("{scheme}://{host}{}", path.join("/"));
    if let Some(q) = query {
        let pairs: Vec<String> = q
            .split('&')
            .map(|kv| match kv.split_once('=') {
                Some((k, v)) if !v.is_empty() && (is_secret_key(k) || is_secret_param(k) || looks_like_token(v)) => {
                    format!("{k}={MASK}")
                }
                _ => kv.to_string(),
            })
            .collect();
        out.push('?');
        out.push_str(&pairs.join("&"));
    }
    out.push_str(fragment);
    (out != s).then_some(out)
}

/// Query parameter names that carry credentials without saying `token` or `key`.
fn is_secret_param(k: &str) -> bool {
    matches!(k.to_ascii_lowercase().as_str(), "sig" | "signature" | "pass" | "pwd" | "code" | "access" | "credential")
}

/// A path segment or value that is most likely a credential: 16+ characters
/// of letters and digits mixed (and `-_:.`), or Telegram's `bot<id>:<token>`.
fn looks_like_token(seg: &str) -> bool {
    if seg.starts_with("bot") && seg.contains(':') {
        return true;
    }
    seg.len() >= 16
        && seg.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_:.".contains(&b))
        && seg.bytes().any(|b| b.is_ascii_digit())
        && seg.bytes().any(|b| b.is_ascii_alphabetic())
}

/// Masks every URL inside free text (log lines, error messages): see [`mask_url`].
/// A URL ends at white space or a quote, bracket or comma.
pub fn redact_text(text: &str) -> String {
    if !text.contains("://") {
        return text.to_string();
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find("://") {
        // Back up over the scheme.
        let start = rest[..i]
            .char_indices()
            .rev()
            .find(|(_, c)| !(c.is_ascii_alphanumeric() || "+-.".contains(*c)))
            .map_or(0, |(p, c)| p + c.len_utf8());
        let end = rest[i..].find(|c: char| c.is_whitespace() || "\"'<>()[]{},`".contains(c)).map_or(rest.len(), |p| i + p);
        out.push_str(&rest[..start]);
        let url = &rest[start..end];
        match mask_url(url) {
            Some(masked) => out.push_str(&masked),
            None => out.push_str(url),
        }
        rest = &rest[end..];
    }
    out.push_str(rest);
    out
}

/// Masks, in place, every value under a secret key and every URL's user-info.
pub fn redact_json(v: &mut Value) {
    match v {
        Value::Object(m) => {
            for (k, v) in m.iter_mut() {
                if is_secret_key(k) && !v.is_null() {
                    *v = Value::String(mask_token(&v.to_string()));
                } else {
                    redact_json(v);
                }
            }
        }
        Value::Array(a) => a.iter_mut().for_each(redact_json),
        Value::String(s) => {
            if let Some(clean) = mask_url(s) {
                *s = clean;
            }
        }
        _ => {}
    }
}

/// A credential (API token, auth token, HMAC key, bearer token) that never reaches a log line, a
/// `Debug` dump or `validate-config --print`: a string that prints as `***`. Read it with `expose`
/// where it is used, and nowhere else.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Self {
        Secret(s.into())
    }

    /// The configured value, else the environment variable `env`, else `None`.
    /// Empty strings count as unset.
    pub fn resolve(configured: Option<&Secret>, env: &str) -> Option<Secret> {
        configured
            .filter(|s| !s.0.is_empty())
            .cloned()
            .or_else(|| std::env::var(env).ok().filter(|v| !v.is_empty()).map(Secret))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Removes every occurrence of the secret from `text` (error messages that
    /// might echo a URL or a header).
    pub fn scrub(&self, text: &str) -> String {
        if self.0.len() < 4 { text.to_string() } else { text.replace(&self.0, "***") }
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl Serialize for Secret {
    /// Never writes the value: `validate-config --print` shows `***`.
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str("***")
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(Secret)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_tokens_and_urls() {
        for k in ["token", "api_key", "Auth", "secret", "bot_token", "password", "auth"] {
            assert!(is_secret_key(k), "{k}");
        }
        for k in ["url", "bind", "keyframe", "author", "monkeys"] {
            assert!(!is_secret_key(k), "{k}");
        }
        assert_eq!(mask_token("abc"), "***");
        assert_eq!(mask_url("http://pi:pw@octopi.local/x@y").as_deref(), Some("http://***@octopi.local/x@y"));
        assert_eq!(mask_url("http://octopi.local/"), None);
        assert_eq!(mask_url("not a url"), None);
    }

    /// Issue 13 item 1: `/api/config` hid URL passwords but showed tokens in a
    /// webhook URL's query or path; logs and `/api/status` showed `user:password`.
    #[test]
    fn tokens_in_url_paths_and_queries_are_masked() {
        let cases = [
            ("https://hooks.slack.com/services/T0000/B0000/XyZ1234567890abcdefGHIJ", "https://hooks.slack.com/services/T0000/B0000/***"),
            ("https://discord.com/api/webhooks/1234/AbCdEf0123456789-ghIJ_kl", "https://discord.com/api/webhooks/1234/***"),
            ("https://api.telegram.org/bot123456:ABC-def/sendMessage", "https://api.telegram.org/***/sendMessage"),
            ("https://h.example/hook?token=s3cr3t&x=1", "https://h.example/hook?token=***&x=1"),
            ("https://h.example/hook?api_key=k&sig=abc#top", "https://h.example/hook?api_key=***&sig=***#top"),
            ("http://pi:raspberry@octopi.local:5000/api", "http://***@octopi.local:5000/api"),
        ];
        for (url, want) in cases {
            assert_eq!(mask_url(url).as_deref(), Some(want), "{url}");
        }
        for plain in ["https://ntfy.sh/my-printer", "http://127.0.0.1:8484/api/status", "https://example.com/a/b?page=2"] {
            assert_eq!(mask_url(plain), None, "{plain}");
        }
        assert_eq!(
            redact_text("error sending request for url (http://pi:pw@octopi.local/api/job): refused; url=\"https://h/x?token=t\""),
            "error sending request for url (http://***@octopi.local/api/job): refused; url=\"https://h/x?token=***\""
        );
        assert_eq!(redact_text("no urls here"), "no urls here");
    }

    #[test]
    fn json_is_masked_at_any_depth() {
        let mut v = serde_json::json!({
            "a": { "api_key": "k1", "url": "https://u:p@h/" },
            "list": [{ "token": "t1" }, "http://x:y@z"],
            "token": null,
        });
        redact_json(&mut v);
        assert_eq!(
            v,
            serde_json::json!({
                "a": { "api_key": "***", "url": "https://***@h/" },
                "list": [{ "token": "***" }, "http://***@z"],
                "token": null,
            })
        );
    }

    #[test]
    fn a_secret_never_shows_its_value() {
        let s = Secret::new("hunter2-token");
        assert_eq!(format!("{s:?}"), "Secret(***)");
        assert_eq!(serde_json::to_string(&s).unwrap(), "\"***\"");
        assert_eq!(s.scrub("GET /bothunter2-token/sendPhoto failed"), "GET /bot***/sendPhoto failed");
    }
}
