//! The points file `layerwatch calibrate solve` reads: bed points (mm) and
//! where they are seen in the frame (px). Clicks on the dashboard and the
//! automatic nozzle finder both produce it; it is the interface between them
//! and the solver.
//!
//! ```toml
//! [[point]]
//! bed_mm = [0.0, 0.0, 0.0]    # a bed corner
//! px = [212.5, 402.0]
//! [[point]]
//! bed_mm = [110.0, 110.0, 50.0] # the nozzle tip, raised
//! px = [330.0, 190.5]
//! note = "nozzle at Z50"       # optional
//! ```

use serde::{Deserialize, Serialize};

use super::solve::Correspondence;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PointRow {
    pub bed_mm: [f64; 3],
    pub px: [f64; 2],
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub note: String,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PointsFile {
    #[serde(default)]
    pub point: Vec<PointRow>,
}

#[derive(Debug, thiserror::Error)]
#[error("{source_name}: {}{}{message}", key.as_deref().map(|k| format!("{k}: ")).unwrap_or_default(), line.map(|l| format!("line {l}: ")).unwrap_or_default())]
pub struct PointsError {
    pub source_name: String,
    pub key: Option<String>,
    pub line: Option<usize>,
    pub message: String,
}

impl PointsFile {
    pub fn parse(text: &str, source_name: &str) -> Result<PointsFile, PointsError> {
        let err = |e: toml::de::Error, key: Option<String>| {
            let line = e.span().map(|s| text[..s.start.min(text.len())].matches('\n').count() + 1);
            PointsError {
                source_name: source_name.to_string(),
                key: key.filter(|k| !k.is_empty() && k != "."),
                line,
                message: e.message().trim_end_matches('\n').to_string(),
            }
        };
        let de = toml::Deserializer::parse(text).map_err(|e| err(e, None))?;
        serde_path_to_error::deserialize(de).map_err(|e| {
            let key = e.path().to_string();
            err(e.into_inner(), Some(key))
        })
    }

    pub fn correspondences(&self) -> Vec<Correspondence> {
        self.point.iter().map(|p| Correspondence { bed: p.bed_mm, px: p.px }).collect()
    }

    pub fn to_toml_string(&self) -> Result<String, toml::ser::Error> {
        toml::to_string(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn points_parse_and_errors_name_the_key() {
        let p = PointsFile::parse("[[point]]\nbed_mm = [0, 0, 0]\npx = [1.5, 2]\n", "p.toml").unwrap();
        assert_eq!(p.correspondences()[0].px, [1.5, 2.0]);
        let e = PointsFile::parse("[[point]]\nbed_mm = [0, 0]\npx = [1.5, 2]\n", "p.toml").unwrap_err();
        assert_eq!(e.to_string(), "p.toml: point[0].bed_mm: line 2: invalid length 2, expected an array of length 3");
    }
}
