//! Format (b), `manifest.toml`: what a recorded sequence is (camera, printer,
//! frame rate, provenance, synthetic or real) and its labels (whether a
//! failure happens, when it became visible, its kind, notes).
//!
//! Owns the serde types, parsing with errors that name the file, line and key,
//! atomic writing, and the onset syntax of `layerwatch label`
//! (`12:34`, `1:02:03.5`, `754000`, `754s`, `frame:42`). Times in the label
//! are milliseconds after `start_ms` (the sequence's time zero), so dropping
//! old frames never moves an onset.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::eval::error::EvalError;

/// The manifest format version this build reads and writes.
pub const MANIFEST_FORMAT: u32 = 1;
/// File name of the manifest inside a sequence directory.
pub const MANIFEST_FILE: &str = "manifest.toml";

/// `manifest.toml`. Unknown keys are errors (typos must not silently drop a label).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// Always 1 for now.
    pub format: u32,
    pub name: String,
    /// The camera, in words (model, mount, resolution, lighting).
    #[serde(default)]
    pub camera: String,
    /// The printer, in words (model, firmware, host).
    #[serde(default)]
    pub printer: String,
    /// Nominal frames per second (0.5 = one frame every 2 s); used for timestamps when there is no `frames.csv`.
    pub fps: f64,
    #[serde(default)]
    pub notes: String,
    /// Assembled by a generator rather than recorded from a real print.
    #[serde(default)]
    pub synthetic: bool,
    /// Time zero of the sequence (Unix epoch ms): label times count from here.
    /// When absent, the first frame's timestamp.
    #[serde(default)]
    pub start_ms: Option<i64>,
    /// The printed G-code file, relative to the sequence directory (optional).
    #[serde(default)]
    pub gcode: Option<String>,
    /// Which split of an image set the frames were drawn from (synthetic sequences).
    #[serde(default)]
    pub split: Option<String>,
    /// The camera calibration file (`geometry::CameraFile`), relative to the sequence (optional):
    /// with it and the G-code, `eval` runs the geometry checks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub camera_pose: Option<String>,
    #[serde(default)]
    pub label: SequenceLabel,
    #[serde(default)]
    pub provenance: Provenance,
    /// Filled in by `layerwatch record`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recording: Option<RecordingInfo>,
    /// Every generator parameter (synthetic sequences), as given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generator: Option<toml::Table>,
}

/// `[label]`: ground truth for the sequence.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SequenceLabel {
    /// A failure happens in this sequence.
    #[serde(default)]
    pub failure: bool,
    /// When it became visible, ms after `start_ms`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub onset_ms: Option<i64>,
    /// `spaghetti`, `stringing`, `surface`, `other` or a dataset label such as `blobs`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    #[serde(default)]
    pub notes: String,
}

/// `[provenance]`: where the frames came from and under which terms.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Provenance {
    /// RFC 3339 time the sequence was written.
    #[serde(default)]
    pub created: String,
    /// What wrote it (`layerwatch 0.1.0 record`, `layerwatch 0.1.0 dataset synth`).
    #[serde(default)]
    pub tool: String,
    /// The exact command line, so the sequence can be made again.
    #[serde(default)]
    pub command: String,
    /// Licence(s) of the frames.
    #[serde(default)]
    pub licence: String,
    /// Attribution the licences require.
    #[serde(default)]
    pub attribution: String,
    /// Where the source images are listed (e.g. the `source` column of `frames/frames.csv`).
    #[serde(default)]
    pub sources: String,
}

/// `[recording]`: what `layerwatch record` did.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecordingInfo {
    pub interval_ms: u64,
    /// RFC 3339.
    pub started: String,
    /// RFC 3339; empty while recording.
    #[serde(default)]
    pub stopped: String,
    /// `signal`, `camera_ended`, `max_duration`…; empty while recording.
    #[serde(default)]
    pub stop_reason: String,
    pub frames_written: u64,
    /// Frames removed by the retention limits (oldest first).
    pub frames_dropped: u64,
    pub printer_updates: u64,
    pub max_frames: Option<u64>,
    pub max_bytes: Option<u64>,
    pub max_age_s: Option<u64>,
}

impl Manifest {
    /// A manifest with the required fields and everything else empty.
    pub fn new(name: &str, fps: f64) -> Manifest {
        Manifest {
            format: MANIFEST_FORMAT,
            name: name.to_string(),
            camera: String::new(),
            printer: String::new(),
            fps,
            notes: String::new(),
            synthetic: false,
            start_ms: None,
            gcode: None,
            split: None,
            camera_pose: None,
            label: SequenceLabel::default(),
            provenance: Provenance::default(),
            recording: None,
            generator: None,
        }
    }

    /// Parses and checks; errors name `path`, the line and the key.
    pub fn parse(text: &str, path: &Path) -> Result<Manifest, EvalError> {
        let m: Manifest = toml::from_str(text).map_err(|e| {
            let line = e.span().map(|s| text[..s.start.min(text.len())].matches('\n').count() as u64 + 1);
            EvalError::format(path, line, e.message().trim_end().to_string())
        })?;
        m.check().map_err(|msg| EvalError::format(path, None, msg))?;
        Ok(m)
    }

    /// Reads `dir/manifest.toml`.
    pub fn read(dir: &Path) -> Result<Manifest, EvalError> {
        let path = dir.join(MANIFEST_FILE);
        let text = std::fs::read_to_string(&path).map_err(|e| EvalError::io(&path, e))?;
        Manifest::parse(&text, &path)
    }

    fn check(&self) -> Result<(), String> {
        if self.format != MANIFEST_FORMAT {
            return Err(format!("format = {}: this build reads format {MANIFEST_FORMAT}", self.format));
        }
        if self.name.trim().is_empty() {
            return Err("name must not be empty".into());
        }
        if !(self.fps.is_finite() && self.fps > 0.0 && self.fps <= 1000.0) {
            return Err(format!("fps = {}: must be above 0 and at most 1000", self.fps));
        }
        if let Some(o) = self.label.onset_ms {
            if o < 0 {
                return Err(format!("label.onset_ms = {o}: must not be negative"));
            }
            if !self.label.failure {
                return Err(format!(
                    "label.onset_ms = {o} but label.failure = false: set failure = true or drop the onset"
                ));
            }
        }
        Ok(())
    }

    /// The TOML text (with a header comment).
    pub fn to_toml(&self) -> Result<String, EvalError> {
        let body = toml::to_string_pretty(self)
            .map_err(|e| EvalError::invalid("manifest", format!("cannot serialise: {e}")))?;
        Ok(format!("# layerwatch recorded sequence (format: datasets/README.md, \"Recorded sequences\")\n{body}"))
    }

    /// Writes `dir/manifest.toml` atomically (temporary file + rename), so a
    /// crash or signal never leaves a half-written manifest.
    pub fn write(&self, dir: &Path) -> Result<(), EvalError> {
        let text = self.to_toml()?;
        write_atomic(&dir.join(MANIFEST_FILE), text.as_bytes())
    }
}

/// Writes `path` through a temporary file in the same folder and a rename.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), EvalError> {
    let tmp = path.with_extension("tmp~");
    std::fs::write(&tmp, bytes).map_err(|e| EvalError::io(&tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| EvalError::io(path, e))
}

/// Parses an onset as given to `layerwatch label --onset`: `MM:SS[.fff]`,
/// `H:MM:SS[.fff]`, milliseconds (`754000`), seconds or minutes with a unit
/// (`754s`, `12.5m`, `754000ms`), or `frame:N` (the N-th frame, 0-based, in
/// `frames_ms`, which holds absolute frame timestamps). Returns ms after `t0`.
pub fn parse_onset(s: &str, frames_ms: &[i64], t0: i64) -> Result<i64, String> {
    let s = s.trim();
    if let Some(n) = s.strip_prefix("frame:") {
        let n: usize = n.trim().parse().map_err(|_| format!("{s:?}: frame:N needs a frame number"))?;
        let Some(t) = frames_ms.get(n) else {
            return Err(format!(
                "{s:?}: the sequence has {} frames (0..{})",
                frames_ms.len(),
                frames_ms.len().saturating_sub(1)
            ));
        };
        return Ok(t - t0);
    }
    let bad = || format!("{s:?}: expected MM:SS, H:MM:SS, milliseconds, a number with s/m/ms, or frame:N");
    if s.contains(':') {
        let parts: Vec<&str> = s.split(':').collect();
        if parts.len() > 3 {
            return Err(bad());
        }
        let mut secs = 0.0f64;
        for (i, p) in parts.iter().enumerate() {
            let v: f64 = p.trim().parse().map_err(|_| bad())?;
            let last = i + 1 == parts.len();
            if !(v.is_finite() && v >= 0.0) || (!last && v.fract() != 0.0) || (i > 0 && v >= 60.0) {
                return Err(bad());
            }
            secs = secs * 60.0 + v;
        }
        return Ok((secs * 1000.0).round() as i64);
    }
    let (num, scale) = if let Some(n) = s.strip_suffix("ms") {
        (n, 1.0)
    } else if let Some(n) = s.strip_suffix('s') {
        (n, 1000.0)
    } else if let Some(n) = s.strip_suffix('m') {
        (n, 60_000.0)
    } else {
        (s, 1.0)
    };
    let v: f64 = num.trim().parse().map_err(|_| bad())?;
    if !(v.is_finite() && v >= 0.0) {
        return Err(bad());
    }
    Ok((v * scale).round() as i64)
}

/// `754000` → `12:34.000`.
pub fn format_ms(ms: i64) -> String {
    let sign = if ms < 0 { "-" } else { "" };
    let ms = ms.unsigned_abs();
    let (h, m, s, f) = (ms / 3_600_000, ms / 60_000 % 60, ms / 1000 % 60, ms % 1000);
    if h > 0 { format!("{sign}{h}:{m:02}:{s:02}.{f:03}") } else { format!("{sign}{m}:{s:02}.{f:03}") }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn onsets() {
        let frames = [1000, 3000, 5000];
        let cases =
            ["12:34", "1:02:03.5", "754000", "754s", "12.5m", "20ms", "frame:2", "frame:9", "1:75", "-3", "soon"];
        let out: Vec<String> = cases
            .iter()
            .map(|c| match parse_onset(c, &frames, 1000) {
                Ok(v) => format!("{c} -> {v}"),
                Err(e) => format!("{c} -> error {e}"),
            })
            .collect();
        expect_test::expect![[r#"
            12:34 -> 754000
            1:02:03.5 -> 3723500
            754000 -> 754000
            754s -> 754000
            12.5m -> 750000
            20ms -> 20
            frame:2 -> 4000
            frame:9 -> error "frame:9": the sequence has 3 frames (0..2)
            1:75 -> error "1:75": expected MM:SS, H:MM:SS, milliseconds, a number with s/m/ms, or frame:N
            -3 -> error "-3": expected MM:SS, H:MM:SS, milliseconds, a number with s/m/ms, or frame:N
            soon -> error "soon": expected MM:SS, H:MM:SS, milliseconds, a number with s/m/ms, or frame:N"#]]
        .assert_eq(&out.join("\n"));
        assert_eq!(format_ms(754_000), "12:34.000");
        assert_eq!(format_ms(3_723_500), "1:02:03.500");
    }

    #[test]
    fn manifest_round_trip_and_errors_name_line_and_key() {
        let mut m = Manifest::new("seq", 0.5);
        m.label =
            SequenceLabel { failure: true, onset_ms: Some(60_000), kind: Some("spaghetti".into()), notes: "x".into() };
        let text = m.to_toml().unwrap();
        assert_eq!(Manifest::parse(&text, Path::new("m.toml")).unwrap(), m);
        let e = Manifest::parse("format = 1\nname = \"a\"\nfps = 1\n[label]\nfailur = true\n", Path::new("m.toml"));
        let e = e.unwrap_err().to_string();
        assert!(e.starts_with("m.toml:5: unknown field `failur`"), "{e}");
        let e = Manifest::parse("format = 1\nname = \"a\"\nfps = 0\n", Path::new("m.toml")).unwrap_err();
        assert_eq!(e.to_string(), "m.toml: fps = 0: must be above 0 and at most 1000");
        let e = Manifest::parse("format = 1\nname = \"a\"\nfps = 1\n[label]\nonset_ms = 5\n", Path::new("m.toml"));
        assert!(e.unwrap_err().to_string().contains("label.failure = false"));
    }
}
