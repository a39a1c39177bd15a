//! The effective configuration as the dashboard shows it: every value whose
//! key names a credential is replaced by `***` (the `Secret` type already
//! serialises that way; plain-string keys such as `api_key` and `web.token`
//! are caught by name here). URL user-info is stripped too.

use serde_json::Value;

use crate::config::Config;

/// Key names (lower case) whose values are never shown.
fn is_secret_key(k: &str) -> bool {
    let k = k.to_ascii_lowercase();
    k.contains("token") || k.contains("secret") || k.contains("password") || k.ends_with("key") || k == "auth"
}

/// `http://user:pass@host/…` → `http://***@host/…`.
fn strip_userinfo(s: &str) -> Option<String> {
    let (scheme, rest) = s.split_once("://")?;
    let end = rest.find('/').unwrap_or(rest.len());
    let at = rest[..end].rfind('@')?;
    Some(format!("{scheme}://***@{}", &rest[at + 1..]))
}

fn scrub(v: &mut Value) {
    match v {
        Value::Object(m) => {
            for (k, v) in m.iter_mut() {
                if is_secret_key(k) && !v.is_null() {
                    *v = Value::String("***".into());
                } else {
                    scrub(v);
                }
            }
        }
        Value::Array(a) => a.iter_mut().for_each(scrub),
        Value::String(s) => {
            if let Some(clean) = strip_userinfo(s) {
                *s = clean;
            }
        }
        _ => {}
    }
}

/// The configuration as JSON with every secret replaced.
pub fn redacted(cfg: &Config) -> Value {
    let mut v = serde_json::to_value(cfg).unwrap_or_else(|e| serde_json::json!({ "error": e.to_string() }));
    scrub(&mut v);
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_never_reach_the_json() {
        let toml = r#"
[printer]
kind = "octoprint"
[printer.octoprint]
url = "http://pi:secretpw@octopi.local/"
api_key = "OCTO-KEY-1234567890"
[alerts.webhook]
url = "https://hooks.example/x"
secret = "hook-secret-value"
[alerts.sms]
account_sid = "ACxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
auth_token = "twilio-token-value"
from = "+15550000001"
to = "+15550000002"
[web]
bind = "0.0.0.0:8484"
token = "web-token-0123456789"
"#;
        let cfg = Config::from_toml_str(toml).unwrap();
        let text = serde_json::to_string(&redacted(&cfg)).unwrap();
        for secret in
            ["OCTO-KEY-1234567890", "hook-secret-value", "twilio-token-value", "web-token-0123456789", "secretpw"]
        {
            assert!(!text.contains(secret), "{secret} leaked: {text}");
        }
        let v = redacted(&cfg);
        assert_eq!(v["web"]["token"], "***");
        assert_eq!(v["web"]["bind"], "0.0.0.0:8484");
        assert_eq!(v["printer"]["octoprint"]["url"], "http://***@octopi.local/");
    }
}
