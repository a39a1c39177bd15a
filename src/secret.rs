//! The masking rules for secrets in anything shown to a person: which keys
//! name a credential, how a token and a URL's user-info are masked, and the
//! walk that applies both to a JSON tree.
//!
//! A leaf (no imports from the crate) and the one place these rules live:
//! `config` builds the dashboard's redacted view with [`redact_json`].

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

/// `http://user:pass@host/…` → `http://***@host/…`; `None` when the text is
/// not a URL with user-info (it is then shown as it is).
pub fn mask_url(s: &str) -> Option<String> {
    let (scheme, rest) = s.split_once("://")?;
    let end = rest.find('/').unwrap_or(rest.len());
    let at = rest[..end].rfind('@')?;
    Some(format!("{scheme}://{MASK}@{}", &rest[at + 1..]))
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
}
