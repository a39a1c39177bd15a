//! Dataset labels → model classes.
//!
//! Datasets name failures their own way (`blobs`, `under_extrusion`, `fail`,
//! `OK`…); the model has a fixed list of classes. A `LabelMap` says which
//! model class each dataset label counts as, and whether it is a failure.
//! The built-in map is the development set's taxonomy
//! (`/work/shared/datasets/print-failures/README.md`, mirrored in
//! `datasets/README.md`); `--map LABEL=CLASS` adds or overrides entries.
//! Matching ignores case and treats `-`, ` ` and `_` alike.

use std::collections::BTreeMap;

use super::error::EvalError;

/// The model class of "no failure" in the built-in map.
pub const NORMAL: &str = "normal";

/// Dataset label → model class, plus which classes are "normal".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabelMap {
    map: BTreeMap<String, String>,
    normal: String,
}

impl Default for LabelMap {
    /// The development set's labels onto the v1 model's classes:
    /// `blobs`, `under_extrusion`, `cracks` → `surface`; `failure` → `other_failure`.
    fn default() -> Self {
        let pairs = [
            ("normal", "normal"),
            ("spaghetti", "spaghetti"),
            ("stringing", "stringing"),
            ("surface", "surface"),
            ("blobs", "surface"),
            ("under_extrusion", "surface"),
            ("cracks", "surface"),
            ("failure", "other_failure"),
            ("other_failure", "other_failure"),
        ];
        LabelMap { map: pairs.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect(), normal: NORMAL.into() }
    }
}

/// Lower-case, with `-` and spaces as `_`, trimmed.
pub fn normalise(label: &str) -> String {
    label.trim().to_ascii_lowercase().replace(['-', ' '], "_")
}

impl LabelMap {
    /// The built-in map with `LABEL=CLASS` overrides (as given to `--map`).
    pub fn with_overrides<S: AsRef<str>>(overrides: &[S]) -> Result<LabelMap, EvalError> {
        let mut m = LabelMap::default();
        for o in overrides {
            let o = o.as_ref();
            let Some((from, to)) = o.split_once('=') else {
                return Err(EvalError::invalid(
                    format!("--map {o:?}"),
                    "expected LABEL=CLASS, e.g. fail=other_failure",
                ));
            };
            let (from, to) = (normalise(from), normalise(to));
            if from.is_empty() || to.is_empty() {
                return Err(EvalError::invalid(format!("--map {o:?}"), "label and class must not be empty"));
            }
            m.map.insert(from, to);
        }
        Ok(m)
    }

    /// The model class of "no failure" (what `normal` maps to).
    pub fn normal_class(&self) -> &str {
        &self.normal
    }

    /// Sets the model's normal label: dataset labels mapped to the old one follow.
    pub fn with_normal_class(mut self, normal: &str) -> LabelMap {
        let old = std::mem::replace(&mut self.normal, normal.to_string());
        for v in self.map.values_mut() {
            if *v == old {
                *v = normal.to_string();
            }
        }
        self
    }

    /// The model class a dataset label counts as, or `None` when unknown.
    pub fn class_of(&self, label: &str) -> Option<&str> {
        self.map.get(&normalise(label)).map(String::as_str)
    }

    /// Whether a model class means "no failure".
    pub fn is_normal_class(&self, class: &str) -> bool {
        class == self.normal
    }

    /// Known dataset labels, for error messages.
    pub fn known_labels(&self) -> Vec<&str> {
        self.map.keys().map(String::as_str).collect()
    }

    /// Every `(dataset label, model class)` pair, for the report.
    pub fn pairs(&self) -> Vec<(String, String)> {
        self.map.iter().map(|(a, b)| (a.clone(), b.clone())).collect()
    }

    /// Checks that every mapped class is one of the model's labels.
    pub fn check_against(&self, model_labels: &[std::sync::Arc<str>]) -> Result<(), EvalError> {
        let missing: Vec<&str> = self
            .map
            .values()
            .map(String::as_str)
            .filter(|c| !model_labels.iter().any(|l| &**l == *c))
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect();
        if missing.is_empty() {
            return Ok(());
        }
        let labels: Vec<&str> = model_labels.iter().map(|l| &**l).collect();
        Err(EvalError::invalid(
            "label map",
            format!("classes {missing:?} are not model labels {labels:?}; map them with --map LABEL=CLASS"),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_map_and_overrides() {
        let m = LabelMap::with_overrides(&["fail=other_failure", "OK=normal"]).unwrap();
        assert_eq!(m.class_of("Under-Extrusion"), Some("surface"));
        assert_eq!(m.class_of("blobs"), Some("surface"));
        assert_eq!(m.class_of("failure"), Some("other_failure"));
        assert_eq!(m.class_of("fail"), Some("other_failure"));
        assert_eq!(m.class_of("ok"), Some("normal"));
        assert_eq!(m.class_of("warping"), None);
        assert!(LabelMap::with_overrides(&["nonsense"]).is_err());
        assert!(LabelMap::with_overrides(&["=x"]).is_err());
    }

    #[test]
    fn classes_must_exist_in_the_model() {
        let labels: Vec<std::sync::Arc<str>> =
            ["normal", "spaghetti", "stringing", "surface", "other_failure"].iter().map(|l| (*l).into()).collect();
        assert!(LabelMap::default().check_against(&labels).is_ok());
        let m = LabelMap::with_overrides(&["warping=warp"]).unwrap();
        let e = m.check_against(&labels).unwrap_err().to_string();
        assert!(e.contains("\"warp\""), "{e}");
        let m = LabelMap::default().with_normal_class("ok");
        assert_eq!(m.class_of("normal"), Some("ok"));
    }
}
