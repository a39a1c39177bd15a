//! `layerwatch record --out DIR`: records the configured camera (`[camera]`)
//! and, when one is configured and `--no-printer` is not given, the printer's
//! status stream (`[printer]`) into a sequence directory (format b in
//! `datasets/README.md`), one frame per `--interval`, with retention limits.
//! Ctrl-C or SIGTERM stop it cleanly with a valid manifest.
//!
//! Exit codes: 0 recorded, 2 usage or setup error.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use tokio_util::sync::CancellationToken;

use super::Global;
use crate::capture::{self, PumpConfig};
use crate::eval::record::{RecordOptions, record};
use crate::printer::PrinterKind;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The new sequence folder.
    #[arg(long)]
    pub out: PathBuf,
    /// Sequence name (default: the folder's name).
    #[arg(long)]
    pub name: Option<String>,
    /// One frame per interval: 2s, 500ms, 1m.
    #[arg(long, default_value = "2s", value_parser = parse_duration)]
    pub interval: Duration,
    /// Keep at most this many frames (oldest dropped).
    #[arg(long)]
    pub max_frames: Option<u64>,
    /// Keep at most this many bytes of frames: 500M, 2G, 100000.
    #[arg(long, value_parser = parse_size)]
    pub max_bytes: Option<u64>,
    /// Keep frames at most this old: 12h, 30m.
    #[arg(long, value_parser = parse_duration)]
    pub max_age: Option<Duration>,
    /// Stop by itself after this long.
    #[arg(long, value_parser = parse_duration)]
    pub duration: Option<Duration>,
    /// Record the camera only, even if a printer is configured.
    #[arg(long)]
    pub no_printer: bool,
    /// The G-code file being printed (copied into the sequence for G-code-aware replays).
    #[arg(long)]
    pub gcode: Option<PathBuf>,
    /// The camera in words, for the manifest (default: from [camera]).
    #[arg(long)]
    pub camera_note: Option<String>,
    /// The printer in words, for the manifest (default: from [printer]).
    #[arg(long)]
    pub printer_note: Option<String>,
}

/// `500ms`, `2s`, `1.5m`, `12h`, `1d`, or plain seconds.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let (n, mult) = if let Some(n) = s.strip_suffix("ms") {
        (n, 0.001)
    } else if let Some(n) = s.strip_suffix('s') {
        (n, 1.0)
    } else if let Some(n) = s.strip_suffix('m') {
        (n, 60.0)
    } else if let Some(n) = s.strip_suffix('h') {
        (n, 3600.0)
    } else if let Some(n) = s.strip_suffix('d') {
        (n, 86_400.0)
    } else {
        (s, 1.0)
    };
    let v: f64 = n.trim().parse().map_err(|_| format!("{s:?} is not a duration (e.g. 2s, 500ms, 10m, 12h)"))?;
    if !(v.is_finite() && v > 0.0) {
        return Err(format!("{s:?} must be positive"));
    }
    Ok(Duration::from_secs_f64(v * mult))
}

/// `100000`, `500K`, `500M`, `2G` (binary multiples).
pub fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim().trim_end_matches(['B', 'b']);
    let (n, mult) = match t.chars().last() {
        Some('K' | 'k') => (&t[..t.len() - 1], 1u64 << 10),
        Some('M' | 'm') => (&t[..t.len() - 1], 1 << 20),
        Some('G' | 'g') => (&t[..t.len() - 1], 1 << 30),
        _ => (t, 1),
    };
    let v: f64 = n.trim().parse().map_err(|_| format!("{s:?} is not a size (e.g. 500M, 2G)"))?;
    if !(v.is_finite() && v > 0.0) {
        return Err(format!("{s:?} must be positive"));
    }
    Ok((v * mult as f64) as u64)
}

pub async fn run(a: Args, g: &Global) -> anyhow::Result<ExitCode> {
    let cfg = g.load_config()?;
    let cancel = CancellationToken::new();
    let c2 = cancel.clone();
    tokio::spawn(async move {
        wait_for_signal().await;
        c2.cancel();
    });
    let mut cam = cfg.camera.clone();
    cam.interval_ms = a.interval.as_millis().max(1) as u64;
    let source = capture::build_source(&cam).context("cannot open the camera")?;
    let frames = capture::spawn(source, PumpConfig { sample_interval: Some(a.interval), queue: 2 }, cancel.clone());
    let (printer, printer_note) = if a.no_printer || cfg.printer.kind == PrinterKind::None {
        (None, "none recorded".to_string())
    } else {
        let link = crate::printer::connect(&cfg.printer, cancel.clone()).context("cannot connect to the printer")?;
        let note = format!("{} ({:?})", link.name(), cfg.printer.kind);
        (Some(link.status()), note)
    };
    let name = a.name.clone().unwrap_or_else(|| {
        a.out.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "recording".into())
    });
    let opts = RecordOptions {
        dir: a.out.clone(),
        name,
        interval: a.interval,
        max_frames: a.max_frames,
        max_bytes: a.max_bytes,
        max_age: a.max_age,
        max_duration: a.duration,
        camera: a
            .camera_note
            .clone()
            .unwrap_or_else(|| format!("{} ({:?} {}x{})", cam.name, cam.source, cam.width, cam.height)),
        printer: a.printer_note.clone().unwrap_or(printer_note),
        gcode: a.gcode.clone(),
        command: std::env::args().collect::<Vec<_>>().join(" "),
    };
    eprintln!("recording to {} (Ctrl-C to stop)", a.out.display());
    let stats = record(&frames, printer, opts, cancel.clone()).await?;
    cancel.cancel();
    println!(
        "stopped ({}): {} frames written, {} dropped by retention, {} kept ({} bytes), {} printer updates{}",
        stats.stop.name(),
        stats.frames_written,
        stats.frames_dropped,
        stats.frames_kept,
        stats.bytes_kept,
        stats.printer_updates,
        if stats.clock_went_back > 0 {
            format!(", {} frame(s) with a clock that went back", stats.clock_went_back)
        } else {
            String::new()
        }
    );
    Ok(ExitCode::SUCCESS)
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_and_sizes() {
        assert_eq!(parse_duration("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(parse_duration("2s").unwrap(), Duration::from_secs(2));
        assert_eq!(parse_duration("1.5m").unwrap(), Duration::from_secs(90));
        assert_eq!(parse_duration("12h").unwrap(), Duration::from_secs(43_200));
        assert!(parse_duration("-1s").is_err() && parse_duration("soon").is_err());
        assert_eq!(parse_size("500M").unwrap(), 500 << 20);
        assert_eq!(parse_size("2G").unwrap(), 2 << 30);
        assert_eq!(parse_size("1000").unwrap(), 1000);
        assert!(parse_size("lots").is_err());
    }
}
