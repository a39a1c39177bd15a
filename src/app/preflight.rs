//! What `run` needs from the machine, checked before anything starts: the
//! model, the ONNX Runtime library, the calibration file, the camera's
//! calibration (`camera.geometry`), the data folder, the serial port, the
//! camera's file or folder; each must exist and be usable by
//! this user. `validate-config` reports these with the file's own problems;
//! `run` stops with all of them at once instead of crash-looping a stage.
//!
//! Each problem is a `ConfigIssue` (`key = value: message`), like the file's.
//! With `[vision] backend = "kserve"`, [`check_inference_server`] asks the server
//! for its model: a model that does not fit is a problem; a server that does not
//! answer is one only with `fallback = "none"`, else a warning.

use std::path::Path;

use crate::capture::SourceKind;
use crate::config::{Config, ConfigIssue, Issues};
use crate::printer::PrinterKind;
use crate::vision::kserve::RemoteError;
use crate::vision::{Backend, Fallback};

/// Every problem found (empty: `run` can start). With `[[printers]]`, each printer's, its keys
/// named `printers[i].…` (the shared model and runtime once).
pub fn check(cfg: &Config) -> Vec<ConfigIssue> {
    if cfg.printers.is_empty() {
        return check_one(cfg);
    }
    let mut out: Vec<ConfigIssue> = Vec::new();
    for (i, p) in cfg.printers.iter().enumerate() {
        for mut issue in check_one(&p.config) {
            if !issue.key.starts_with("vision.") && !issue.key.starts_with("ONNX") {
                issue.key = format!("printers[{i}].{}", issue.key);
            }
            if !out.contains(&issue) {
                out.push(issue);
            }
        }
    }
    out
}

/// With several printers, a problem with one printer's serial port or camera that `run` only
/// warns about: that printer's stages keep retrying it, and the other printers run.
pub fn is_one_printers_device(issue: &ConfigIssue) -> bool {
    issue.key.starts_with("printers[")
        && ["printer.serial.path", "camera.path", "camera.device"].iter().any(|k| issue.key.ends_with(k))
}

fn check_one(cfg: &Config) -> Vec<ConfigIssue> {
    let mut out = Issues::default();
    if let Some(p) = &cfg.vision.model {
        if let Some(why) = unreadable_file(p) {
            out.push("vision.model", p, why);
        } else if let Err(e) = crate::vision::Model::load(Some(p)) {
            out.push("vision.model", p, format!("cannot be loaded: {e}"));
        }
    }
    // A remote backend without a local fallback never loads ONNX Runtime.
    let remote_only = cfg.vision.backend == Backend::Kserve && cfg.vision.remote.fallback == Fallback::None;
    let inputs = crate::vision::runtime::SearchInputs::from_process(cfg.vision.ort_library.as_deref());
    match crate::vision::runtime::locate(&inputs) {
        _ if remote_only => {}
        Ok((lib, _)) => {
            if let Some(why) = unreadable_file(&lib) {
                let key = if cfg.vision.ort_library.is_some() { "vision.ort_library" } else { "ONNX Runtime library" };
                out.push(key, &lib, why);
            }
        }
        Err(e) => out.push("vision.ort_library", cfg.vision.ort_library.as_deref().unwrap_or(Path::new("")), e.to_string()),
    }
    if let Some(p) = &cfg.decision.calibration {
        match std::fs::read_to_string(p) {
            Err(e) => out.push("decision.calibration", p, format!("cannot be read: {}", io_words(&e))),
            Ok(text) => {
                if let Err(e) = crate::decision::Calibration::parse(&text, &p.display().to_string()) {
                    out.push("decision.calibration", p, format!("is not a valid calibration: {e}"));
                }
            }
        }
    }
    if let Some(p) = &cfg.camera.geometry {
        match std::fs::read_to_string(p) {
            Err(e) => out.push("camera.geometry", p, format!("cannot be read: {}", io_words(&e))),
            Ok(text) => {
                if let Err(e) = crate::geometry::CameraFile::parse(&text, &p.display().to_string()) {
                    out.push("camera.geometry", p, format!("is not a valid camera calibration: {e}"));
                }
            }
        }
    }
    if let Some(why) = unusable_data_dir(&cfg.general.data_dir) {
        out.push("general.data_dir", &cfg.general.data_dir, why);
    }
    if cfg.printer.kind == PrinterKind::Marlin {
        let p = &cfg.printer.serial.path;
        if let Some(why) = unusable_device(p) {
            out.push("printer.serial.path", p, why);
        }
        if let Some(d) = &cfg.printer.serial.gcode_dir
            && !d.is_dir()
        {
            out.push("printer.serial.gcode_dir", d, "is not a folder");
        }
    }
    match cfg.camera.source {
        SourceKind::Folder if !cfg.camera.path.is_dir() => {
            out.push("camera.path", &cfg.camera.path, "is not a folder (source = \"folder\")");
        }
        SourceKind::Video => {
            if let Some(why) = unreadable_file(&cfg.camera.path) {
                out.push("camera.path", &cfg.camera.path, why);
            }
        }
        SourceKind::V4l2 if cfg.camera.device.starts_with('/') => {
            if let Some(why) = unusable_device(Path::new(&cfg.camera.device)) {
                out.push("camera.device", &cfg.camera.device, why);
            }
        }
        _ => {}
    }
    out.into_vec()
}

/// With `[vision] backend = "kserve"`: whether the inference server answers with a model that fits the model
/// description. Returns the problems (a model that does not fit; a server that does not answer with
/// `fallback = "none"`) and a warning (a server that does not answer, with `fallback = "local"`).
pub async fn check_inference_server(cfg: &Config) -> (Vec<ConfigIssue>, Option<String>) {
    let mut out = Issues::default();
    let v = &cfg.vision;
    if v.backend != Backend::Kserve {
        return (Vec::new(), None);
    }
    let spec = match crate::vision::Model::load_with(v.model.as_deref(), v.precision) {
        Ok(m) => m.spec,
        Err(_) => return (Vec::new(), None), // reported by `check`
    };
    let url = crate::secret::mask_url(&v.remote.url).unwrap_or_else(|| v.remote.url.clone());
    let warning = match crate::vision::kserve::probe(&v.remote, &spec).await {
        Ok(()) => None,
        Err(RemoteError::Mismatch(m)) => {
            out.push("vision.remote.model", &v.remote.model, m);
            None
        }
        Err(e) if v.remote.fallback == Fallback::None => {
            let why = format!("the inference server cannot be used ({e}) and fallback = \"none\"");
            out.push("vision.remote.url", &url, why);
            None
        }
        Err(e) => Some(format!(
            "vision.remote.url = {url:?}: the inference server cannot be used now ({e}); frames are scored locally \
             (fallback = \"local\") until it answers"
        )),
    };
    (out.into_vec(), warning)
}

/// `does not exist`, `permission denied`… in words, without the OS error number.
fn io_words(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "it does not exist".into(),
        std::io::ErrorKind::PermissionDenied => "permission denied for this user".into(),
        _ => e.to_string(),
    }
}

fn unreadable_file(p: &Path) -> Option<String> {
    match std::fs::metadata(p) {
        Err(e) => Some(format!("cannot be used: {}", io_words(&e))),
        Ok(m) if !m.is_file() => Some("is not a file".into()),
        Ok(_) => std::fs::File::open(p).err().map(|e| format!("cannot be read: {}", io_words(&e))),
    }
}

/// The data folder must be writable, or creatable in a writable parent.
fn unusable_data_dir(dir: &Path) -> Option<String> {
    if dir.exists() {
        if !dir.is_dir() {
            return Some("is not a folder".into());
        }
        return (!access(dir, libc::W_OK | libc::X_OK)).then(|| "is not writable by this user".into());
    }
    let mut parent = dir.parent();
    while let Some(p) = parent {
        let p = if p.as_os_str().is_empty() { Path::new(".") } else { p };
        if p.exists() {
            return (!p.is_dir() || !access(p, libc::W_OK | libc::X_OK))
                .then(|| format!("does not exist and cannot be created: {} is not writable by this user", p.display()));
        }
        parent = p.parent();
    }
    None
}

/// A device node (serial port, camera) must exist and be readable and writable.
fn unusable_device(p: &Path) -> Option<String> {
    if let Err(e) = std::fs::metadata(p) {
        return Some(format!("cannot be used: {} (is the printer plugged in?)", io_words(&e)));
    }
    (!access(p, libc::R_OK | libc::W_OK)).then(|| {
        "is not readable and writable by this user (add the user to the device's group, e.g. `dialout`)".into()
    })
}

/// `access(2)`: what this process's real user may do with `p`.
fn access(p: &Path, mode: libc::c_int) -> bool {
    use std::os::unix::ffi::OsStrExt;
    let Ok(c) = std::ffi::CString::new(p.as_os_str().as_bytes()) else { return false };
    // SAFETY: `c` is a valid NUL-terminated string that lives across the call.
    unsafe { libc::access(c.as_ptr(), mode) == 0 }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Issue 13 item 5: `validate-config` passed all of these and `run` crash-looped.
    #[test]
    fn missing_files_folders_and_ports_are_reported_together() {
        let d = tempfile::tempdir().unwrap();
        let ro = d.path().join("ro");
        std::fs::create_dir(&ro).unwrap();
        let mut cfg = Config::default();
        cfg.vision.model = Some(d.path().join("missing/classifier.toml"));
        cfg.vision.ort_library = Some(d.path().join("libonnxruntime.so"));
        cfg.decision.calibration = Some(d.path().join("cal.toml"));
        std::fs::write(d.path().join("cal.toml"), "not = [valid").unwrap();
        cfg.camera.geometry = Some(d.path().join("cameras/mk3.toml"));
        std::fs::create_dir(d.path().join("cameras")).unwrap();
        std::fs::write(d.path().join("cameras/mk3.toml"), "format = 1\n[frame]\nwidth = \"wide\"\n").unwrap();
        cfg.general.data_dir = d.path().join("file-not-dir");
        std::fs::write(&cfg.general.data_dir, "x").unwrap();
        cfg.printer.kind = PrinterKind::Marlin;
        cfg.printer.serial.path = d.path().join("ttyUSB9");
        cfg.camera.source = SourceKind::Folder;
        cfg.camera.path = d.path().join("frames");
        let got: Vec<String> =
            check(&cfg).iter().map(|i| i.to_string().replace(&d.path().display().to_string(), "$TMP")).collect();
        let keys: Vec<&str> = got.iter().map(|l| l.split(" = ").next().unwrap()).collect();
        assert_eq!(
            keys,
            [
                "vision.model",
                "vision.ort_library",
                "decision.calibration",
                "camera.geometry",
                "general.data_dir",
                "printer.serial.path",
                "camera.path"
            ],
            "{got:#?}"
        );
        assert_eq!(got[0], "vision.model = \"$TMP/missing/classifier.toml\": cannot be used: it does not exist");
        assert!(got[2].contains("is not a valid calibration"), "{}", got[2]);
        assert_eq!(
            got[3],
            "camera.geometry = \"$TMP/cameras/mk3.toml\": is not a valid camera calibration: \
             $TMP/cameras/mk3.toml: frame.width: line 3: invalid type: string \"wide\", expected u32"
        );
        assert_eq!(got[4], "general.data_dir = \"$TMP/file-not-dir\": is not a folder");
        assert_eq!(
            got[5],
            "printer.serial.path = \"$TMP/ttyUSB9\": cannot be used: it does not exist (is the printer plugged in?)"
        );
        assert!(!got.iter().any(|l| l.contains("os error")), "{got:#?}");
    }

    #[test]
    fn a_data_dir_that_can_be_created_is_fine() {
        let d = tempfile::tempdir().unwrap();
        assert_eq!(unusable_data_dir(&d.path().join("a/b")), None);
        assert_eq!(unusable_data_dir(d.path()), None);
    }
}
