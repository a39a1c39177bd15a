//! The effective configuration as a person may see it (the dashboard's
//! `/api/config`): every value under a key that names a credential is masked
//! and URL user-info is stripped, by the rules in `crate::secret`. The
//! `Secret` type already serialises as `***`; plain-string keys such as
//! `api_key` and `web.token` are caught by name.

use serde_json::Value;

use super::Config;

impl Config {
    /// The configuration as JSON with every secret masked.
    pub fn redacted_json(&self) -> Value {
        let mut v = serde_json::to_value(self).unwrap_or_else(|e| serde_json::json!({ "error": e.to_string() }));
        crate::secret::redact_json(&mut v);
        v
    }
}
