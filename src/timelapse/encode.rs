//! JPEG frames → MP4, blocking (callers run it on `spawn_blocking`).
//!
//! Two writers: the `ffmpeg` program (H.264 `yuv420p` with `+faststart`, which
//! every browser plays), fed the JPEGs on stdin; and OpenCV's `VideoWriter`
//! through its FFmpeg backend, trying `avc1` (H.264) and then `mp4v` (MPEG-4
//! part 2, which Debian's OpenCV 4.6 always writes). Both write to a temporary
//! name and rename, so a crash never leaves half an MP4 under the final name.
//! Frames that do not decode are skipped and counted; frames of another size
//! than the first are resized to it.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use opencv::core::{Mat, MatTraitConst, Vector};
use opencv::prelude::{VideoWriterTrait, VideoWriterTraitConst};
use opencv::{imgcodecs, imgproc, videoio};

use super::EncoderChoice;

/// What went wrong writing one time-lapse.
#[derive(Debug, thiserror::Error)]
pub enum EncodeError {
    #[error("no frame of {dir} could be decoded")]
    NoFrames { dir: PathBuf },
    #[error("cannot read {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("opencv {op} for {path}: {source}")]
    Cv { op: &'static str, path: PathBuf, source: opencv::Error },
    #[error("OpenCV cannot write {path} with any of the fourcc codes {tried}")]
    NoCodec { path: PathBuf, tried: &'static str },
    #[error("ffmpeg for {path}: {reason}")]
    Ffmpeg { path: PathBuf, reason: String },
    #[error("ffmpeg is not installed (not on PATH)")]
    NoFfmpeg,
    #[error("cannot move {from} to {to}: {source}")]
    Rename { from: PathBuf, to: PathBuf, source: std::io::Error },
}

/// A written MP4.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Encoded {
    pub path: PathBuf,
    /// Frames in the video.
    pub frames: u32,
    /// Frames that did not decode and were left out.
    pub skipped: u32,
    pub bytes: u64,
    /// `ffmpeg/libx264`, `opencv/avc1` or `opencv/mp4v`.
    pub codec: String,
}

/// OpenCV fourcc codes, tried in order.
const FOURCCS: &str = "avc1, mp4v";

/// Whether the `ffmpeg` program is on `PATH`.
pub fn ffmpeg_installed() -> bool {
    find_ffmpeg().is_some()
}

fn find_ffmpeg() -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).map(|d| d.join("ffmpeg")).find(|p| p.is_file())
}

/// Encodes `frames` (JPEG files, in order) into `out` at `fps`.
pub fn encode(frames: &[PathBuf], out: &Path, fps: u32, choice: EncoderChoice) -> Result<Encoded, EncodeError> {
    let tmp = out.with_extension("tmp.mp4");
    let _ = std::fs::remove_file(&tmp);
    let ffmpeg = match choice {
        EncoderChoice::Opencv => None,
        EncoderChoice::Auto => find_ffmpeg(),
        EncoderChoice::Ffmpeg => Some(find_ffmpeg().ok_or(EncodeError::NoFfmpeg)?),
    };
    let result = match ffmpeg {
        Some(bin) => with_ffmpeg(&bin, frames, &tmp, fps),
        None => with_opencv(frames, &tmp, fps),
    };
    let (n, skipped, codec) = match result {
        Ok(r) => r,
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            return Err(e);
        }
    };
    std::fs::rename(&tmp, out).map_err(|source| EncodeError::Rename { from: tmp.clone(), to: out.into(), source })?;
    let bytes = std::fs::metadata(out).map(|m| m.len()).unwrap_or(0);
    Ok(Encoded { path: out.into(), frames: n, skipped, bytes, codec })
}

fn dir_of(frames: &[PathBuf]) -> PathBuf {
    frames.first().and_then(|p| p.parent()).map(Path::to_path_buf).unwrap_or_default()
}

/// Decodes one JPEG; `None` when it is not one.
fn decode(path: &Path) -> Result<Option<Mat>, EncodeError> {
    let bytes = std::fs::read(path).map_err(|source| EncodeError::Read { path: path.into(), source })?;
    let buf = Vector::<u8>::from_slice(&bytes);
    match imgcodecs::imdecode(&buf, imgcodecs::IMREAD_COLOR) {
        Ok(m) if !m.empty() => Ok(Some(m)),
        _ => Ok(None),
    }
}

fn with_opencv(frames: &[PathBuf], tmp: &Path, fps: u32) -> Result<(u32, u32, String), EncodeError> {
    let cv = |op: &'static str| move |source| EncodeError::Cv { op, path: tmp.into(), source };
    let mut skipped = 0u32;
    let mut first = None;
    let mut rest = frames.iter();
    for p in rest.by_ref() {
        match decode(p)? {
            Some(m) => {
                first = Some(m);
                break;
            }
            None => skipped += 1,
        }
    }
    let Some(first) = first else { return Err(EncodeError::NoFrames { dir: dir_of(frames) }) };
    let size = first.size().map_err(cv("size"))?;
    let name = tmp.to_string_lossy().into_owned();
    let mut chosen = None;
    for code in ["avc1", "mp4v"] {
        let c: Vec<char> = code.chars().collect();
        let fourcc = videoio::VideoWriter::fourcc(c[0], c[1], c[2], c[3]).map_err(cv("fourcc"))?;
        // A fourcc the build cannot write is an Err or an unopened writer, depending on the build.
        if let Ok(w) = videoio::VideoWriter::new(&name, fourcc, f64::from(fps), size, true)
            && w.is_opened().unwrap_or(false)
        {
            chosen = Some((w, code));
            break;
        }
        let _ = std::fs::remove_file(tmp);
    }
    let Some((mut writer, code)) = chosen else {
        return Err(EncodeError::NoCodec { path: tmp.into(), tried: FOURCCS });
    };
    writer.write(&first).map_err(cv("write"))?;
    let mut n = 1u32;
    for p in rest {
        let Some(m) = decode(p)? else {
            skipped += 1;
            continue;
        };
        let m = if m.size().map_err(cv("size"))? == size {
            m
        } else {
            let mut r = Mat::default();
            imgproc::resize(&m, &mut r, size, 0.0, 0.0, imgproc::INTER_AREA).map_err(cv("resize"))?;
            r
        };
        writer.write(&m).map_err(cv("write"))?;
        n += 1;
    }
    writer.release().map_err(cv("release"))?;
    Ok((n, skipped, format!("opencv/{code}")))
}

fn with_ffmpeg(bin: &Path, frames: &[PathBuf], tmp: &Path, fps: u32) -> Result<(u32, u32, String), EncodeError> {
    let fail = |reason: String| EncodeError::Ffmpeg { path: tmp.into(), reason };
    // Only JPEGs that decode go in: one bad frame would stop ffmpeg's whole stream.
    let mut good = Vec::with_capacity(frames.len());
    let mut skipped = 0u32;
    for p in frames {
        let bytes = std::fs::read(p).map_err(|source| EncodeError::Read { path: p.clone(), source })?;
        let ok = imgcodecs::imdecode(&Vector::<u8>::from_slice(&bytes), imgcodecs::IMREAD_REDUCED_GRAYSCALE_8)
            .is_ok_and(|m| !m.empty());
        if ok { good.push(p) } else { skipped += 1 }
    }
    if good.is_empty() {
        return Err(EncodeError::NoFrames { dir: dir_of(frames) });
    }
    let mut child = Command::new(bin)
        .args(["-nostdin", "-hide_banner", "-loglevel", "error", "-y", "-f", "image2pipe", "-c:v", "mjpeg"])
        .args(["-framerate", &fps.to_string(), "-i", "-"])
        // Even sizes for yuv420p; the first frame's size for all.
        .args(["-vf", "scale=trunc(iw/2)*2:trunc(ih/2)*2,format=yuv420p"])
        .args(["-c:v", "libx264", "-preset", "veryfast", "-crf", "23", "-movflags", "+faststart"])
        .arg(tmp)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| fail(format!("cannot start {}: {e}", bin.display())))?;
    let mut stdin = child.stdin.take().ok_or_else(|| fail("no stdin".into()))?;
    // stderr is read after stdin closes; with `-loglevel error` it stays far below a pipe's buffer.
    let mut write_err = None;
    for p in &good {
        let bytes = std::fs::read(p).map_err(|source| EncodeError::Read { path: (*p).clone(), source })?;
        if let Err(e) = stdin.write_all(&bytes) {
            write_err = Some(e);
            break;
        }
    }
    drop(stdin);
    let out = child.wait_with_output().map_err(|e| fail(format!("waiting for ffmpeg: {e}")))?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        let last = err.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("").trim().to_string();
        return Err(fail(format!("{} ({last})", out.status)));
    }
    if let Some(e) = write_err {
        return Err(fail(format!("writing frames: {e}")));
    }
    Ok((good.len() as u32, skipped, "ffmpeg/libx264".into()))
}
