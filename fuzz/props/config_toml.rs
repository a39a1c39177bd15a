//! The config file: TOML text to the typed `Config`, schema errors and every section's validation.
//!
//! Properties: no input panics; a refused file names at least one problem, each on a line of the file (when it has
//! one) and with a key path; a value under a secret key (`token`, `api_key`, `password`…) is never shown; an accepted
//! config written back to TOML is accepted again (what `validate-config --print` shows can be loaded).

use crate::config::{Config, ConfigError};
use crate::secret::{MASK, is_secret_key};

pub fn check(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    match Config::from_toml_str(text) {
        Ok(cfg) => {
            let again = toml::to_string(&cfg).expect("an accepted config serializes");
            if let Err(e) = Config::from_toml_str(&again) {
                panic!("an accepted config, written back, is refused: {e}\n--- input\n{text}\n--- written\n{again}");
            }
        }
        Err(ConfigError::Invalid { issues, .. }) => {
            assert!(!issues.is_empty(), "refused without a reason");
            let lines = text.lines().count().max(1);
            for i in &issues {
                assert!(i.line.is_none_or(|l| l >= 1 && l <= lines + 1), "line {:?} of {lines}: {i}", i.line);
                let last = i.key.rsplit('.').next().unwrap_or("");
                if is_secret_key(last) {
                    let shown = i.value.trim_matches('"');
                    assert!(shown == MASK || shown.is_empty(), "a secret shown: {i}");
                }
            }
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }
}
