//! `layerwatch calibrate auto`: the camera solved with no target on the bed.
//! With the printer idle and the user's yes, the nozzle is held at a grid of
//! known points (G-code through the configured link: Marlin in either serial
//! mode, Moonraker, OctoPrint); the camera's frame at each is read for the
//! nozzle tip (`geometry::nozzle`), and the points go to the solver with
//! RANSAC and to the same report and limits as `calibrate solve`.
//!
//! Safety: refused unless the printer is idle (or its last print ended), the
//! user confirms that the bed is clear (`--yes` for scripts), every move is
//! above `--heights`' lowest, Z rises before X/Y move and X/Y move before Z
//! falls, and Ctrl-C stops between moves.

use std::io::{BufRead as _, IsTerminal as _, Write as _};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, bail};
use tokio::sync::watch;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::super::dataset::parse_size_wh;
use super::{FitLimits, finish, parse_xy};
use crate::capture::FrameSource;
use crate::config::Config;
use crate::domain::{Frame, FrameImage, PrinterState};
use crate::geometry::nozzle::{self, Miss};
use crate::geometry::{BedArea, Correspondence, Grey, solve_pose};
use crate::printer::{PrinterKind, PrinterLink};

/// Grey frames are read at most this wide (the tip is found to about a pixel of it).
const MAX_GREY_WIDTH: u32 = 800;
/// The lowest nozzle height allowed (mm): never drag the nozzle over the bed.
const MIN_HEIGHT_MM: f64 = 2.0;
/// Share of the points the nozzle must be found in.
const MIN_FOUND_SHARE: f64 = 0.6;
/// ... and at least this many.
const MIN_FOUND: usize = 8;

#[derive(Debug, clap::Args)]
pub struct AutoArgs {
    /// The camera file to write (e.g. cameras/mk3.toml).
    #[arg(long)]
    pub out: PathBuf,
    /// The bed, WxD mm from --bed-origin: the grid lies on it, and the camera must see it.
    #[arg(long, value_parser = parse_size_wh)]
    pub bed: (u32, u32),
    /// Bed origin X,Y (mm).
    #[arg(long, default_value = "0,0", value_parser = parse_xy)]
    pub bed_origin: (f64, f64),
    /// Points per side of the X/Y grid.
    #[arg(long, default_value_t = 3)]
    pub grid: u32,
    /// The grid's inset from the bed's edges (mm).
    #[arg(long, default_value_t = 30.0)]
    pub margin: f64,
    /// Nozzle heights above the bed (mm), comma-separated, at least two.
    #[arg(long, default_value = "10,40,70", value_delimiter = ',')]
    pub heights: Vec<f64>,
    /// Travel speed (mm/s).
    #[arg(long, default_value_t = 50.0)]
    pub speed: f64,
    /// Wait after each move before the frame is taken (the camera's delay, a swaying toolhead), ms.
    #[arg(long, default_value_t = 1000)]
    pub settle_ms: u64,
    /// Do not home first (G28): the printer must be homed already.
    #[arg(long)]
    pub no_home: bool,
    /// Do not ask: the bed is clear and the printer may move.
    #[arg(long)]
    pub yes: bool,
    /// Also write the points found (a points file `calibrate solve` reads).
    #[arg(long)]
    pub points_out: Option<PathBuf>,
    /// Keep the frames taken (JPEG) in this folder, to check by eye.
    #[arg(long)]
    pub keep_frames: Option<PathBuf>,
    /// Seconds to wait for the printer's link and the camera's first frame.
    #[arg(long, default_value_t = 30)]
    pub connect_timeout: u64,
    #[command(flatten)]
    pub limits: FitLimits,
}

pub async fn run(a: AutoArgs, cfg: &Config) -> anyhow::Result<ExitCode> {
    let plan = plan(&a)?;
    let timeout = Duration::from_secs(a.connect_timeout.max(1));
    let cancel = CancellationToken::new();
    let ctrl_c = cancel.clone();
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            ctrl_c.cancel();
        }
    });
    let guard = cancel.clone().drop_guard();

    // The camera first: cheap to fail, and its frame size is the calibration's.
    let source = crate::capture::build_source(&cfg.camera).context("[camera]")?;
    let frames = Latest::start(source, cancel.child_token());
    let first = frames.after(Instant::now(), timeout).await.context("[camera]")?;
    let (w, h) = frame_size(&first)?;
    println!("camera {:?}: {w}x{h} frames", cfg.camera.name);

    if cfg.printer.kind == PrinterKind::None {
        bail!(
            "printer.kind = \"none\": calibrate auto moves the nozzle through the printer's link; configure [printer]"
        );
    }
    let link = crate::printer::connect(&cfg.printer, cancel.child_token()).map_err(|e| anyhow::anyhow!(e))?;
    super::super::printer::connected(&*link, timeout).await?;
    // Monitor mode learns of an SD print from the printer's first reports: give them a moment.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let status = link.status().borrow().clone();
    if !matches!(status.state, PrinterState::Idle | PrinterState::Finished { .. } | PrinterState::Cancelled { .. }) {
        eprintln!(
            "refused: the printer is {}: calibrate auto moves the nozzle, so only while the printer is idle",
            status.state.name()
        );
        return Ok(ExitCode::from(1));
    }
    let (lo, hi) = plan.iter().fold((f64::MAX, f64::MIN), |(l, h), p| (l.min(p[2]), h.max(p[2])));
    println!(
        "{}: will {}move the nozzle to {} points over the bed, X/Y {:.0}..{:.0} × {:.0}..{:.0} mm at Z {lo:.0}..{hi:.0} mm, \
         at {:.0} mm/s. The bed must be clear.",
        link.name(),
        if a.no_home { "" } else { "home (G28), then " },
        plan.len(),
        plan.iter().map(|p| p[0]).fold(f64::MAX, f64::min),
        plan.iter().map(|p| p[0]).fold(f64::MIN, f64::max),
        plan.iter().map(|p| p[1]).fold(f64::MAX, f64::min),
        plan.iter().map(|p| p[1]).fold(f64::MIN, f64::max),
        a.speed
    );
    if !a.yes && !confirm()? {
        eprintln!("refused: not confirmed (answer y, or pass --yes)");
        return Ok(ExitCode::from(1));
    }

    let taken = match take_frames(&a, &plan, &*link, cfg.printer.kind, &frames, timeout, &cancel).await? {
        Some(t) => t,
        None => {
            eprintln!("stopped (Ctrl-C) before every point was visited: nothing written");
            return Ok(ExitCode::from(1));
        }
    };
    if let Some(dir) = &a.keep_frames {
        keep(dir, &taken)?;
    }
    drop(guard);

    // Find the tip in each frame, in grey frames at most MAX_GREY_WIDTH wide.
    let div = w.div_ceil(MAX_GREY_WIDTH).max(1);
    let (gw, gh) = (w / div, h / div);
    let greys = taken
        .iter()
        .enumerate()
        .map(|(i, f)| {
            crate::vision::grey_for_checks(&f.image, (w, h), (gw, gh)).with_context(|| format!("frame at point {i}"))
        })
        .collect::<anyhow::Result<Vec<Grey>>>()?;
    let tips = nozzle::find_tips(&greys, &plan)?;
    let (sx, sy) = (f64::from(w) / f64::from(gw), f64::from(h) / f64::from(gh));
    let mut corr = Vec::new();
    println!("point  nozzle_mm                   nozzle_px");
    for (i, (p, t)) in plan.iter().zip(&tips.tips).enumerate() {
        match t {
            Ok(t) => {
                // A grey pixel's centre in full-frame pixels.
                let px = [(t.px[0] + 0.5) * sx - 0.5, (t.px[1] + 0.5) * sy - 0.5];
                println!("{i:>5}  ({:>7.1}, {:>7.1}, {:>6.1})  ({:>7.1}, {:>7.1})", p[0], p[1], p[2], px[0], px[1]);
                corr.push(Correspondence { bed: *p, px });
            }
            Err(m) => println!("{i:>5}  ({:>7.1}, {:>7.1}, {:>6.1})  not found: {m}", p[0], p[1], p[2]),
        }
    }
    println!(
        "\"down\" in the picture: ({:.2}, {:.2}){}",
        tips.down[0],
        tips.down[1],
        if tips.down_from_moves { ", from the moves" } else { ", assumed (no usable moves at one X/Y)" }
    );
    let need = MIN_FOUND.max((MIN_FOUND_SHARE * plan.len() as f64).ceil() as usize);
    if corr.len() < need {
        let still = tips.tips.iter().filter(|t| matches!(t, Err(Miss::NothingMoved))).count();
        eprintln!(
            "refused: the nozzle was found at {} of {} points (at least {need} needed){}",
            corr.len(),
            plan.len(),
            if still * 2 > plan.len() {
                "; most frames did not change: is this camera looking at this printer, and is its picture live?"
            } else {
                "; check the light, and that nothing else moves in the picture"
            }
        );
        return Ok(ExitCode::from(1));
    }
    if let Some(path) = &a.points_out {
        write_points(path, &corr)?;
    }
    let sol = solve_pose(&corr, w, h, Some(a.limits.ransac())).context("cannot solve the camera from the nozzle")?;
    let bed =
        BedArea { size_mm: [f64::from(a.bed.0), f64::from(a.bed.1)], origin_mm: [a.bed_origin.0, a.bed_origin.1] };
    finish(&corr, &sol, bed, &a.limits, "auto: nozzle+dlt+lm+ransac", &a.out)
}

/// The nozzle's points: heights from the highest down, a serpentine grid at each.
fn plan(a: &AutoArgs) -> anyhow::Result<Vec<[f64; 3]>> {
    let mut heights = a.heights.clone();
    heights.sort_by(|x, y| y.total_cmp(x));
    heights.dedup_by(|x, y| (*x - *y).abs() < 1e-9);
    if heights.len() < 2 {
        bail!("--heights: at least two different heights are needed (the solver needs points off the bed's plane)");
    }
    if let Some(z) = heights.iter().find(|z| !z.is_finite() || **z < MIN_HEIGHT_MM || **z > 1000.0) {
        bail!("--heights: {z} mm: each height must be between {MIN_HEIGHT_MM} and 1000 mm");
    }
    if !(2..=10).contains(&a.grid) {
        bail!("--grid: {}: between 2 and 10 points per side", a.grid);
    }
    if !(a.speed.is_finite() && a.speed > 0.0 && a.speed <= 500.0) {
        bail!("--speed: {} mm/s: between 0 and 500", a.speed);
    }
    let (bw, bd) = (f64::from(a.bed.0), f64::from(a.bed.1));
    if !(a.margin >= 0.0 && 2.0 * a.margin < bw.min(bd)) {
        bail!("--margin: {} mm leaves no room on a {bw}x{bd} mm bed", a.margin);
    }
    let n = a.grid as usize;
    let at = |i: usize, size: f64, origin: f64| origin + a.margin + (size - 2.0 * a.margin) * i as f64 / (n - 1) as f64;
    let mut out = Vec::new();
    for z in heights {
        for row in 0..n {
            for k in 0..n {
                let col = if row % 2 == 0 { k } else { n - 1 - k };
                out.push([at(col, bw, a.bed_origin.0), at(row, bd, a.bed_origin.1), z]);
            }
        }
    }
    Ok(out)
}

/// Asks on the terminal; `false` for anything but yes, and when there is no terminal to ask on.
fn confirm() -> anyhow::Result<bool> {
    if !std::io::stdin().is_terminal() {
        eprintln!("stdin is not a terminal: pass --yes to confirm that the printer may move");
        return Ok(false);
    }
    print!("Move the printer now? [y/N] ");
    std::io::stdout().flush()?;
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    Ok(matches!(line.trim(), "y" | "Y" | "yes" | "Yes"))
}

/// Visits every point and takes a frame there; `None` when stopped by Ctrl-C.
async fn take_frames(
    a: &AutoArgs,
    plan: &[[f64; 3]],
    link: &dyn PrinterLink,
    kind: PrinterKind,
    frames: &Latest,
    timeout: Duration,
    cancel: &CancellationToken,
) -> anyhow::Result<Option<Vec<Frame>>> {
    let feed = a.speed * 60.0;
    let mut setup = vec![];
    if !a.no_home {
        setup.push("G28".to_string());
    }
    setup.extend(["G90".to_string(), "M400".to_string()]);
    gcode(link, &setup).await?;
    // After homing Z may be at the bed: rise first.
    let mut at: Option<[f64; 3]> = None;
    let mut taken = Vec::with_capacity(plan.len());
    for (i, p) in plan.iter().enumerate() {
        if cancel.is_cancelled() {
            return Ok(None);
        }
        let mut lines = vec![];
        let z_now = at.map(|q| q[2]).unwrap_or(0.0);
        let z_move = format!("G0 Z{:.2} F{:.0}", p[2], feed);
        let xy_move = format!("G0 X{:.2} Y{:.2} F{:.0}", p[0], p[1], feed);
        if p[2] > z_now || at.is_none() {
            lines.extend([z_move, xy_move]);
        } else {
            lines.extend([xy_move, z_move]);
        }
        lines.push("M400".into());
        gcode(link, &lines).await.with_context(|| format!("moving to point {i}"))?;
        // OctoPrint confirms once the lines are queued, not run: add the move's own time.
        let travel = match (kind, at) {
            (PrinterKind::Octoprint, Some(q)) => {
                let d = ((p[0] - q[0]).powi(2) + (p[1] - q[1]).powi(2) + (p[2] - q[2]).powi(2)).sqrt();
                Duration::from_secs_f64(d / a.speed + 0.5)
            }
            (PrinterKind::Octoprint, None) => Duration::from_secs(5),
            _ => Duration::ZERO,
        };
        at = Some(*p);
        let ready = Instant::now() + travel + Duration::from_millis(a.settle_ms);
        tokio::select! {
            _ = cancel.cancelled() => return Ok(None),
            _ = tokio::time::sleep_until(ready) => {}
        }
        let frame = frames.after(ready, timeout).await.with_context(|| format!("the camera at point {i}"))?;
        tracing::debug!(point = i, x = p[0], y = p[1], z = p[2], "frame taken");
        taken.push(frame);
    }
    // Leave the nozzle up, out of the way.
    let top = plan.iter().map(|p| p[2]).fold(f64::MIN, f64::max);
    gcode(link, &[format!("G0 Z{top:.2} F{:.0}", feed)]).await?;
    Ok(Some(taken))
}

async fn gcode(link: &dyn PrinterLink, lines: &[String]) -> anyhow::Result<()> {
    link.run_gcode("calibrate", lines).await.map(|_| ()).map_err(|e| anyhow::anyhow!("{}: {e}", link.name()))
}

fn frame_size(f: &Frame) -> anyhow::Result<(u32, u32)> {
    match &f.image {
        FrameImage::Jpeg(b) => {
            let h = crate::images::check_header(b, crate::images::DEFAULT_MAX_PIXELS)
                .map_err(|e| anyhow::anyhow!("the camera's frame: {e}"))?;
            Ok((h.width, h.height))
        }
        FrameImage::Rgb(i) => Ok((i.width, i.height)),
    }
}

fn keep(dir: &std::path::Path, frames: &[Frame]) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    for (i, f) in frames.iter().enumerate() {
        if let FrameImage::Jpeg(b) = &f.image {
            let p = dir.join(format!("point-{i:03}.jpg"));
            std::fs::write(&p, b).with_context(|| format!("cannot write {}", p.display()))?;
        }
    }
    println!("frames kept in {}", dir.display());
    Ok(())
}

fn write_points(path: &std::path::Path, corr: &[Correspondence]) -> anyhow::Result<()> {
    let file = crate::geometry::PointsFile {
        point: corr
            .iter()
            .map(|c| crate::geometry::PointRow { bed_mm: c.bed, px: c.px, note: format!("nozzle at Z{:.0}", c.bed[2]) })
            .collect(),
    };
    std::fs::write(path, file.to_toml_string()?).with_context(|| format!("cannot write {}", path.display()))?;
    println!("points written to {}", path.display());
    Ok(())
}

/// The camera read on its own task, so that a frame asked for after a move is
/// one captured after it (a stream's buffered frames are read and dropped as
/// they come).
struct Latest {
    rx: watch::Receiver<Seen>,
}

#[derive(Clone)]
enum Seen {
    Nothing,
    Frame(Instant, Arc<Frame>),
    Failed(String),
}

impl Latest {
    fn start(mut source: Box<dyn FrameSource>, cancel: CancellationToken) -> Latest {
        let (tx, rx) = watch::channel(Seen::Nothing);
        tokio::spawn(async move {
            loop {
                let got = tokio::select! {
                    _ = cancel.cancelled() => return,
                    got = source.next_frame() => got,
                };
                match got {
                    Ok(f) => {
                        tx.send_replace(Seen::Frame(Instant::now(), Arc::new(f)));
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "camera");
                        tx.send_replace(Seen::Failed(e.to_string()));
                        tokio::select! {
                            _ = cancel.cancelled() => return,
                            _ = tokio::time::sleep(Duration::from_millis(200)) => {}
                        }
                    }
                }
            }
        });
        Latest { rx }
    }

    /// The first frame that arrives after `t`.
    async fn after(&self, t: Instant, timeout: Duration) -> anyhow::Result<Frame> {
        let mut rx = self.rx.clone();
        let wait = rx.wait_for(|s| matches!(s, Seen::Frame(at, _) if *at > t));
        match tokio::time::timeout(timeout, wait).await {
            Ok(Ok(s)) => match &*s {
                Seen::Frame(_, f) => Ok((**f).clone()),
                _ => bail!("no frame"),
            },
            Ok(Err(_)) => bail!("the camera stopped"),
            Err(_) => {
                let why = match &*self.rx.borrow() {
                    Seen::Failed(e) => format!(": {e}"),
                    _ => String::new(),
                };
                bail!("no new frame within {} s{why}", timeout.as_secs())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser as _;

    #[derive(clap::Parser)]
    struct Cli {
        #[command(flatten)]
        a: AutoArgs,
    }

    fn args(extra: &[&str]) -> AutoArgs {
        let mut v = vec!["x", "--out", "c.toml", "--bed", "200x180"];
        v.extend(extra);
        Cli::parse_from(v).a
    }

    #[test]
    fn the_plan_starts_high_snakes_over_the_grid_and_stays_inside_the_margin() {
        let p = plan(&args(&[])).unwrap();
        assert_eq!(p.len(), 27);
        assert_eq!(p[0], [30.0, 30.0, 70.0]);
        assert_eq!(p[2], [170.0, 30.0, 70.0]);
        assert_eq!(p[3], [170.0, 90.0, 70.0], "the second row runs back");
        assert_eq!(p[26][2], 10.0);
        assert!(p.iter().all(|q| (30.0..=170.0).contains(&q[0]) && (30.0..=150.0).contains(&q[1])));
    }

    #[test]
    fn unsafe_or_useless_plans_are_refused_with_the_flag_named() {
        for (extra, want) in [
            (vec!["--heights", "10"], "--heights"),
            (vec!["--heights", "0.5,40"], "--heights"),
            (vec!["--grid", "1"], "--grid"),
            (vec!["--margin", "95"], "--margin"),
            (vec!["--speed", "0"], "--speed"),
        ] {
            let e = plan(&args(&extra)).unwrap_err().to_string();
            assert!(e.starts_with(want), "{extra:?}: {e}");
        }
    }
}
