//! The demo's embedded assets (see `build.rs`): the print, the camera frames
//! in playing order, and where the failure starts.
//!
//! The recorded sequence (`datasets/demo/frames/` + `frames.csv` +
//! `manifest.toml`) is used when the build found it; otherwise a sequence is
//! made from the licence-clean stills of `datasets/samples/`: a few normal
//! prints, then spaghetti, each still shown as slightly shifted crops so that
//! consecutive frames differ like a live camera's (identical frames are not
//! evidence to the decision layer).

use bytes::Bytes;

mod embedded {
    include!(concat!(env!("OUT_DIR"), "/demo_assets.rs"));
}

/// Why the demo cannot run with this build.
#[derive(Debug, thiserror::Error)]
pub enum AssetError {
    #[error("this build has no demo print (datasets/demo/print.gcode was missing when it was built)")]
    NoPrint,
    #[error("this build has no demo frames (neither datasets/demo/frames nor datasets/samples was there)")]
    NoFrames,
    #[error("demo frames: {0}")]
    Bad(String),
    #[error("cannot prepare demo frames: {0}")]
    Image(String),
}

/// What the demo plays.
#[derive(Debug, Clone)]
pub struct DemoAssets {
    pub gcode: &'static [u8],
    /// JPEG frames in playing order.
    pub frames: Vec<Bytes>,
    /// Index of the first frame that shows the failure.
    pub onset: usize,
    /// `recorded` or `samples`.
    pub origin: &'static str,
}

impl DemoAssets {
    pub fn load() -> Result<DemoAssets, AssetError> {
        let gcode = embedded::GCODE.ok_or(AssetError::NoPrint)?;
        if !embedded::FRAMES.is_empty() {
            let (frames, onset) = recorded(embedded::FRAMES, embedded::FRAMES_CSV, embedded::MANIFEST)?;
            return Ok(DemoAssets { gcode, frames, onset, origin: "recorded" });
        }
        let (frames, onset) = from_samples()?;
        Ok(DemoAssets { gcode, frames, onset, origin: "samples" })
    }
}

/// The recorded sequence: `frames.csv` order (else name order) and the manifest's onset.
fn recorded(
    files: &[(&str, &'static [u8])],
    csv: Option<&str>,
    manifest: Option<&str>,
) -> Result<(Vec<Bytes>, usize), AssetError> {
    let order: Vec<String> = match csv {
        Some(text) => text
            .lines()
            .skip(1)
            .filter_map(|l| l.split(',').next())
            .map(|f| f.trim().trim_matches('"').to_string())
            .filter(|f| !f.is_empty())
            .collect(),
        None => files.iter().map(|(n, _)| n.to_string()).collect(),
    };
    let mut frames = Vec::with_capacity(order.len());
    for name in &order {
        let base = name.rsplit('/').next().unwrap_or(name);
        let Some((_, bytes)) = files.iter().find(|(n, _)| *n == base) else {
            return Err(AssetError::Bad(format!("frames.csv names {name}, which is not in the frames folder")));
        };
        frames.push(Bytes::from_static(bytes));
    }
    if frames.is_empty() {
        return Err(AssetError::NoFrames);
    }
    let onset = manifest.and_then(|m| onset_index(m, &order)).ok_or_else(|| {
        AssetError::Bad("manifest.toml does not say where the failure starts (an `onset` frame or file)".into())
    })?;
    let last = frames.len() - 1;
    Ok((frames, onset.min(last)))
}

/// The onset from the manifest: the first key containing `onset` that is an
/// integer frame index or a frame file name.
fn onset_index(manifest: &str, order: &[String]) -> Option<usize> {
    let v: toml::Value = toml::from_str(manifest).ok()?;
    fn find(v: &toml::Value, order: &[String]) -> Option<usize> {
        let t = v.as_table()?;
        for (k, v) in t {
            if k.contains("onset") {
                if let Some(i) = v.as_integer().filter(|i| *i >= 0 && !k.ends_with("_ms")) {
                    return Some(i as usize);
                }
                if let Some(s) = v.as_str() {
                    let base = s.rsplit('/').next().unwrap_or(s);
                    if let Some(i) = order.iter().position(|o| o.rsplit('/').next() == Some(base)) {
                        return Some(i);
                    }
                }
            }
        }
        t.values().find_map(|v| find(v, order))
    }
    find(&v, order)
}

/// Stills of `datasets/samples` the built-in model scores as clearly normal and
/// clearly failed (with spaghetti or an unspecified failure dominating, so the
/// default policy pauses).
const SAMPLE_NORMAL: [&str; 3] = ["OK2_46_", "OK2_94_", "OK2_9_"];
const SAMPLE_FAILURE: [&str; 2] = ["spaghetti_32_", "spaghetti_31_"];
/// Normal frames before the failure, and failure frames after it.
const NORMAL_FRAMES: usize = 24;
const FAILURE_FRAMES: usize = 40;

fn from_samples() -> Result<(Vec<Bytes>, usize), AssetError> {
    let pick = |stems: &[&str]| -> Result<Vec<&'static [u8]>, AssetError> {
        stems
            .iter()
            .map(|stem| {
                embedded::SAMPLES
                    .iter()
                    .find(|(path, _)| path.rsplit('/').next().is_some_and(|n| n.starts_with(stem)))
                    .map(|(_, b)| *b)
                    .ok_or(AssetError::NoFrames)
            })
            .collect()
    };
    let normal = pick(&SAMPLE_NORMAL)?;
    let failure = pick(&SAMPLE_FAILURE)?;
    let mut frames = Vec::with_capacity(NORMAL_FRAMES + FAILURE_FRAMES);
    frames.extend(variants(&normal, NORMAL_FRAMES)?);
    frames.extend(variants(&failure, FAILURE_FRAMES)?);
    Ok((frames, NORMAL_FRAMES))
}

/// `n` frames cycling through `stills`, each a slightly shifted crop (up to
/// 8 px) re-encoded as JPEG, so no two consecutive frames are identical.
pub fn variants(stills: &[&[u8]], n: usize) -> Result<Vec<Bytes>, AssetError> {
    use opencv::core::{Mat, Rect, Vector};
    use opencv::imgcodecs;
    use opencv::prelude::*;

    let err = |e: opencv::Error| AssetError::Image(e.to_string());
    let decoded: Vec<Mat> = stills
        .iter()
        .map(|b| {
            let m = imgcodecs::imdecode(&Vector::<u8>::from_slice(b), imgcodecs::IMREAD_COLOR).map_err(err)?;
            if m.empty() || m.cols() < 32 || m.rows() < 32 {
                return Err(AssetError::Image("a still is not a usable JPEG".into()));
            }
            Ok(m)
        })
        .collect::<Result<_, _>>()?;
    if decoded.is_empty() {
        return Err(AssetError::NoFrames);
    }
    let params = Vector::<i32>::from_slice(&[imgcodecs::IMWRITE_JPEG_QUALITY, 90]);
    (0..n)
        .map(|i| {
            let m = &decoded[i % decoded.len()];
            let k = (i / decoded.len()) as i32;
            let (dx, dy) = ((k * 3) % 9, (k * 5) % 9);
            let crop = Mat::roi(m, Rect::new(dx, dy, m.cols() - 9, m.rows() - 9)).map_err(err)?;
            let mut buf = Vector::<u8>::new();
            imgcodecs::imencode(".jpg", &crop, &mut buf, &params).map_err(err)?;
            Ok(Bytes::from(buf.to_vec()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn onset_is_found_by_index_or_file_name() {
        let order: Vec<String> = ["a.jpg", "b.jpg", "c.jpg"].iter().map(|s| s.to_string()).collect();
        assert_eq!(onset_index("onset_frame = 2", &order), Some(2));
        assert_eq!(onset_index("[failure]\nonset_file = \"frames/b.jpg\"", &order), Some(1));
        assert_eq!(onset_index("[failure]\nonset_ms = 123", &order), None);
        assert_eq!(onset_index("nothing = 1", &order), None);
    }

    #[test]
    fn sample_sequence_has_distinct_consecutive_frames() {
        let a = DemoAssets::load().expect("demo assets in this build");
        assert!(a.onset > 0 && a.onset < a.frames.len(), "{} of {}", a.onset, a.frames.len());
        assert!(a.frames.windows(2).all(|w| w[0] != w[1]), "consecutive frames differ");
        assert!(a.frames.iter().all(|f| f.starts_with(&[0xff, 0xd8])), "all JPEG");
    }
}
