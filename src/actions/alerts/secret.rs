//! `Secret`: a credential (API token, auth token, HMAC key) that never reaches
//! a log line, a `Debug` dump or `validate-config --print`.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A string that prints as `***`. Read it with `expose` where it is used, and nowhere else.
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
    fn never_shows_its_value() {
        let s = Secret::new("hunter2-token");
        assert_eq!(format!("{s:?}"), "Secret(***)");
        assert_eq!(serde_json::to_string(&s).unwrap(), "\"***\"");
        assert_eq!(s.scrub("GET /bothunter2-token/sendPhoto failed"), "GET /bot***/sendPhoto failed");
    }
}
