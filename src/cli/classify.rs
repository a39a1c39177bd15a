//! `layerwatch classify <image|folder>`: score images with the classifier and summarise.
//!
//! Owns the command's arguments, walking a folder, the per-image lines (text or
//! JSON), the progress bar and the summary. Images are scored on the vision
//! worker thread, exactly as the daemon does; a file that cannot be read or
//! decoded is reported and counted, never fatal. Exit code 1 if any image failed.

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde::Serialize;

use crate::domain::{Frame, FrameImage, FrameScore, Timestamp};
use crate::images::{HeaderError, IMAGE_EXTENSIONS};
use crate::vision::{AnyClassifier, DecodeKind, Roi, VisionError, VisionWorker};

/// How deep `classify` looks into sub-folders.
const MAX_DEPTH: usize = 32;

#[derive(Debug, clap::Args)]
#[command(after_long_help = JSON_HELP)]
pub struct Args {
    /// An image file, or a folder (searched recursively for .jpg/.jpeg/.png/.bmp/.webp/.tif).
    pub path: PathBuf,
    /// Print one JSON object per image, then one summary object (fields below).
    #[arg(long)]
    pub json: bool,
    /// Model description (classifier.toml) instead of the built-in model (overrides vision.model).
    #[arg(long, value_name = "PATH")]
    pub model: Option<PathBuf>,
    /// Region of interest as fractions of the image: x,y,w,h (overrides vision.roi), e.g. 0.2,0.1,0.6,0.8.
    #[arg(long, value_name = "X,Y,W,H", value_parser = parse_roi)]
    pub roi: Option<Roi>,
    /// Failure probability at or above which an image counts as a failure in the summary.
    #[arg(long, default_value_t = 0.5)]
    pub threshold: f32,
    /// Images with more pixels (read from the file header, before decoding) are skipped as bad_size
    /// (default: camera.max_pixels, 50000000).
    #[arg(long, value_name = "N")]
    pub max_pixels: Option<u64>,
}

const JSON_HELP: &str = "\
JSON OUTPUT (--json): one object per line.
  Per image: {\"type\":\"image\", \"path\", \"ok\":true, \"failure\" (1 - p(normal)), \"top_class\", \"top_p\",
              \"classes\" {label: p, in model order}, \"width\", \"height\", \"brightness\" (0-255),
              \"fingerprint\" (16 hex digits), \"latency_ms\" (decode + preprocess + inference)}
         or  {\"type\":\"image\", \"path\", \"ok\":false, \"error_kind\" (empty, not_jpeg, truncated, corrupt,
              bad_size, decoder, unsupported, unreadable), \"error\"}
  Summary:   {\"type\":\"summary\", \"images\", \"decoded\", \"skipped\", \"skip_reasons\" {kind: count},
              \"failures\" (decoded images with failure >= threshold), \"threshold\", \"mean_latency_ms\",
              \"model\", \"model_sha256\", and with [vision] backend = \"kserve\" \"remote\" {\"remote_ok\",
              \"remote_failed\", \"fell_back\"} (frames scored by the server, failed round trips, scored locally)}
EXIT CODES: 0 all images scored, 1 at least one image could not be read or decoded, 2 usage or setup error.";

fn parse_roi(s: &str) -> Result<Roi, String> {
    let v: Vec<f32> = s
        .split(',')
        .map(|p| p.trim().parse::<f32>().map_err(|_| format!("{p:?} is not a number")))
        .collect::<Result<_, _>>()?;
    let [x, y, w, h] = v[..] else {
        return Err(format!("expected 4 comma-separated fractions x,y,w,h, got {}", v.len()));
    };
    let roi = Roi { x, y, w, h };
    let mut issues = crate::config::Issues::default();
    crate::vision::VisionConfig {
        roi: Some(roi),
        ..Default::default()
    }
    .validate("roi", &mut issues);
    if issues.is_empty() {
        Ok(roi)
    } else {
        Err("must be fractions with x+w <= 1, y+h <= 1 and w, h > 0.01".into())
    }
}

#[derive(Serialize)]
struct ImageLine<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    path: &'a str,
    ok: bool,
    #[serde(flatten)]
    body: ImageBody,
}

#[derive(Serialize)]
#[serde(untagged)]
enum ImageBody {
    Scored {
        failure: f32,
        top_class: String,
        top_p: f32,
        classes: serde_json::Map<String, serde_json::Value>,
        width: u32,
        height: u32,
        brightness: f32,
        fingerprint: String,
        latency_ms: f32,
    },
    Failed {
        error_kind: DecodeKind,
        error: String,
    },
}

#[derive(Serialize, Default)]
struct Summary {
    #[serde(rename = "type")]
    kind: &'static str,
    images: usize,
    decoded: usize,
    skipped: usize,
    skip_reasons: BTreeMap<DecodeKind, usize>,
    failures: usize,
    threshold: f32,
    mean_latency_ms: f32,
    model: String,
    model_sha256: String,
    /// With `[vision] backend = "kserve"`: frames the server scored, failed round trips, frames scored locally.
    #[serde(skip_serializing_if = "Option::is_none")]
    remote: Option<crate::vision::RemoteCounts>,
}

pub async fn run(args: Args, global: &super::Global) -> anyhow::Result<ExitCode> {
    let cfg = global.load_config()?;
    let mut vision = cfg.vision.clone();
    if let Some(m) = &args.model {
        vision.model = Some(m.clone());
    }
    if let Some(r) = args.roi {
        vision.roi = Some(r);
    }
    let max_pixels = args.max_pixels.unwrap_or(cfg.camera.max_pixels);
    let files = list_images(&args.path)?;
    let classifier = tokio::task::spawn_blocking(move || AnyClassifier::from_config(&vision))
        .await
        .context("model loading thread failed")??;
    let mut summary = Summary {
        kind: "summary",
        threshold: args.threshold,
        model: classifier.spec().name.clone(),
        model_sha256: classifier.spec().sha256.clone(),
        ..Summary::default()
    };
    let normal = classifier.spec().normal_label.clone();
    let worker = VisionWorker::spawn(classifier)?;
    let bar = progress_bar(files.len());
    let mut latency_sum = 0f64;
    for (seq, file) in files.iter().enumerate() {
        summary.images += 1;
        let shown = file.display().to_string();
        let (result, size) = match load_frame(seq as u64, file, max_pixels).await {
            Ok((frame, size)) => (worker.classify(frame).await, size),
            Err(e) => (Err(e), (0, 0)),
        };
        let body = match result {
            Ok(score) => {
                summary.decoded += 1;
                latency_sum += f64::from(score.latency_ms);
                if score.scores.failure >= args.threshold {
                    summary.failures += 1;
                }
                scored_body(&score, size)
            }
            Err(VisionError::Decode { kind, reason, .. }) => {
                *summary.skip_reasons.entry(kind).or_default() += 1;
                summary.skipped += 1;
                tracing::debug!(path = %shown, kind = kind.as_str(), error = %reason, "image skipped");
                ImageBody::Failed {
                    error_kind: kind,
                    error: reason,
                }
            }
            Err(e) => {
                bar.finish_and_clear();
                return Err(anyhow::Error::new(e).context(format!("classifying {shown}")));
            }
        };
        let line = if args.json {
            serde_json::to_string(&ImageLine {
                kind: "image",
                path: &shown,
                ok: matches!(body, ImageBody::Scored { .. }),
                body,
            })?
        } else {
            text_line(&shown, &body, &normal)
        };
        bar.suspend(|| println!("{line}"));
        bar.inc(1);
    }
    bar.finish_and_clear();
    summary.remote = worker.health().remote;
    worker.shutdown().await;
    summary.mean_latency_ms = if summary.decoded > 0 {
        (latency_sum / summary.decoded as f64) as f32
    } else {
        0.0
    };
    if args.json {
        println!("{}", serde_json::to_string(&summary)?);
    } else {
        print_summary(&summary);
    }
    Ok(if summary.skipped > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// The file itself, or every image under the folder (`images::walk`: each real
/// folder once, so symbolic-link loops neither hang nor count an image twice).
fn list_images(path: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let meta = std::fs::metadata(path).with_context(|| format!("{}: cannot read", path.display()))?;
    if !meta.is_dir() {
        return Ok(vec![path.to_path_buf()]);
    }
    let walk = crate::images::walk(path, MAX_DEPTH).with_context(|| format!("{}: cannot list", path.display()))?;
    for s in &walk.skipped {
        tracing::warn!(folder = %s.path.display(), why = %s.why, "folder not searched");
    }
    let out = walk.images();
    if out.is_empty() {
        anyhow::bail!("{}: no images (.{}) in this folder", path.display(), IMAGE_EXTENSIONS.join(", ."));
    }
    Ok(out)
}

/// Reads a file into a frame. Every format's size is read from its header first
/// and refused over `max_pixels`; JPEG bytes then stay encoded (the vision worker
/// checks and decodes them, as for camera frames) and other formats are decoded
/// here with `capture::cv`, the folder camera's and `eval`'s decoder.
async fn load_frame(seq: u64, path: &Path, max_pixels: u64) -> Result<(Frame, (u32, u32)), VisionError> {
    let fail = |kind: DecodeKind, reason: String| VisionError::Decode { seq, kind, reason };
    let len = tokio::fs::metadata(path).await.map(|m| m.len()).unwrap_or(0);
    if len > crate::images::MAX_FILE_BYTES {
        return Err(fail(DecodeKind::BadSize, format!("file is {len} bytes, over the limit for an image")));
    }
    let bytes = tokio::fs::read(path).await.map_err(|e| fail(DecodeKind::Unreadable, format!("cannot read: {e}")))?;
    let is_jpeg = bytes.is_empty() || bytes.starts_with(&[0xFF, 0xD8]);
    let header = match crate::images::check_header(&bytes, max_pixels) {
        Ok(h) => Some(h),
        // A broken JPEG is the vision worker's to describe (empty, truncated, corrupt).
        Err(HeaderError::Empty | HeaderError::Corrupt { .. }) if is_jpeg => None,
        Err(e) => {
            let kind = match e {
                HeaderError::Empty => DecodeKind::Empty,
                HeaderError::Unknown(_) => DecodeKind::Unsupported,
                HeaderError::Corrupt { .. } => DecodeKind::Corrupt,
                HeaderError::Zero { .. } | HeaderError::TooLarge { .. } => DecodeKind::BadSize,
            };
            return Err(fail(kind, e.to_string()));
        }
    };
    let image = if is_jpeg {
        FrameImage::Jpeg(bytes.into())
    } else {
        let rgb = tokio::task::spawn_blocking(move || crate::capture::cv::decode_to_rgb(&bytes, max_pixels))
            .await
            .map_err(|e| VisionError::Runtime(format!("decoder thread failed: {e}")))?
            .map_err(|e| fail(DecodeKind::Decoder, e))?;
        FrameImage::Rgb(Arc::new(rgb))
    };
    let size = header.map(|h| (h.width, h.height)).unwrap_or((0, 0));
    let source: Arc<str> = Arc::from(path.display().to_string());
    Ok((
        Frame {
            seq,
            captured_at: Timestamp::now(),
            source,
            image,
        },
        size,
    ))
}

fn scored_body(s: &FrameScore, size: (u32, u32)) -> ImageBody {
    let top = s.scores.classes.iter().max_by(|a, b| a.p.total_cmp(&b.p));
    ImageBody::Scored {
        failure: s.scores.failure,
        top_class: top.map(|c| c.label.to_string()).unwrap_or_default(),
        top_p: top.map_or(0.0, |c| c.p),
        classes: s
            .scores
            .classes
            .iter()
            .map(|c| (c.label.to_string(), serde_json::json!(c.p)))
            .collect(),
        width: size.0,
        height: size.1,
        brightness: s.brightness,
        fingerprint: format!("{:016x}", s.fingerprint),
        latency_ms: s.latency_ms,
    }
}

fn text_line(path: &str, body: &ImageBody, normal: &str) -> String {
    match body {
        ImageBody::Scored {
            failure,
            top_class,
            top_p,
            classes,
            latency_ms,
            ..
        } => {
            let dist: Vec<String> = classes
                .iter()
                .filter(|(l, _)| l.as_str() != normal)
                .map(|(l, p)| format!("{l} {:.2}", p.as_f64().unwrap_or(0.0)))
                .collect();
            format!(
                "{path}  failure {failure:.2}  top {top_class} {top_p:.2}  [{}]  {latency_ms:.1} ms",
                dist.join(", ")
            )
        }
        ImageBody::Failed { error_kind, error } => format!("{path}  SKIPPED ({}): {error}", error_kind.as_str()),
    }
}

fn print_summary(s: &Summary) {
    let reasons: Vec<String> = s
        .skip_reasons
        .iter()
        .map(|(k, n)| format!("{}: {n}", k.as_str()))
        .collect();
    let reasons = if reasons.is_empty() {
        String::new()
    } else {
        format!("  ({})", reasons.join(", "))
    };
    println!();
    println!(
        "model          {} (sha256 {}…)",
        s.model,
        s.model_sha256.get(..12).unwrap_or(&s.model_sha256)
    );
    println!("images         {:>6}", s.images);
    println!("decoded        {:>6}", s.decoded);
    println!("skipped        {:>6}{reasons}", s.skipped);
    println!("failures       {:>6}  (failure >= {})", s.failures, s.threshold);
    println!(
        "mean latency   {:>6.1} ms  (decode + preprocess + inference)",
        s.mean_latency_ms
    );
    if let Some(r) = s.remote {
        println!(
            "remote         {:>6}  (scored by the server; {} failed round trips, {} scored locally)",
            r.remote_ok, r.remote_failed, r.fell_back
        );
    }
}

fn progress_bar(len: usize) -> ProgressBar {
    if len < 2 || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(Some(len as u64), ProgressDrawTarget::stderr());
    if let Ok(style) = ProgressStyle::with_template("{bar:30} {pos}/{len} images  {per_sec}  eta {eta}") {
        bar.set_style(style);
    }
    bar.enable_steady_tick(Duration::from_millis(200));
    bar
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roi_argument() {
        let cases = [
            "0.1,0.2,0.5,0.5",
            "0,0,1,1",
            "0.5,0.5,0.6,0.1",
            "1,2,3",
            "a,b,c,d",
            "0,0,0.001,0.5",
        ];
        let out: Vec<String> = cases.iter().map(|c| format!("{c}: {:?}", parse_roi(c))).collect();
        expect_test::expect![[r#"
            0.1,0.2,0.5,0.5: Ok(Roi { x: 0.1, y: 0.2, w: 0.5, h: 0.5 })
            0,0,1,1: Ok(Roi { x: 0.0, y: 0.0, w: 1.0, h: 1.0 })
            0.5,0.5,0.6,0.1: Err("must be fractions with x+w <= 1, y+h <= 1 and w, h > 0.01")
            1,2,3: Err("expected 4 comma-separated fractions x,y,w,h, got 3")
            a,b,c,d: Err("\"a\" is not a number")
            0,0,0.001,0.5: Err("must be fractions with x+w <= 1, y+h <= 1 and w, h > 0.01")"#]]
        .assert_eq(&out.join("\n"));
    }
}
