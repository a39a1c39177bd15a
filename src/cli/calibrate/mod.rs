//! `layerwatch calibrate`: the camera's pose and intrinsics, written as
//! `cameras/<printer>.toml` only when the fit is good. `solve` reads point
//! correspondences from a file (bed corners, the nozzle tip at two heights…);
//! `auto` (in `auto`) makes them itself by moving the nozzle. Both end in
//! [`finish`]: the same report, limits and checks.
//!
//! Exit codes: 0 solved and written, 1 refused (poor fit, the result does not
//! see the bed; for `auto` also a busy printer, a "no", too few nozzle
//! sightings), 2 usage or input error.

mod auto;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;

use super::Global;
use super::dataset::parse_size_wh;
use crate::geometry::{BedArea, CameraFile, Correspondence, PointsFile, Ransac, Solution, solve_pose};

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    pub command: CalibrateCommand,
}

#[derive(Debug, clap::Subcommand)]
pub enum CalibrateCommand {
    /// Solve the camera from a points file (bed mm ↔ pixel) and write the camera file.
    Solve(SolveArgs),
    /// Move the nozzle to a grid of points (idle printer, after you confirm), find it in the camera's
    /// frames and solve the camera from those points.
    Auto(auto::AutoArgs),
}

#[derive(Debug, clap::Args)]
pub struct SolveArgs {
    /// The points file: [[point]] bed_mm = [x, y, z], px = [u, v].
    #[arg(long)]
    pub points: PathBuf,
    /// Frame size WxH the pixels refer to.
    #[arg(long, value_parser = parse_size_wh)]
    pub frame_size: (u32, u32),
    /// The camera file to write (e.g. cameras/mk3.toml).
    #[arg(long)]
    pub out: PathBuf,
    /// The bed area the camera must see, WxD mm from --bed-origin; default: the box around the points at Z 0.
    #[arg(long, value_parser = parse_size_wh)]
    pub bed: Option<(u32, u32)>,
    /// Bed origin X,Y (mm) for --bed.
    #[arg(long, default_value = "0,0", value_parser = parse_xy)]
    pub bed_origin: (f64, f64),
    /// Noisy points: fit with RANSAC and leave outliers out (`calibrate auto` always does).
    #[arg(long)]
    pub ransac: bool,
    #[command(flatten)]
    pub limits: FitLimits,
}

/// The fit's RANSAC settings and the limits it must meet to be written.
#[derive(Debug, Clone, clap::Args)]
pub struct FitLimits {
    /// RANSAC: a point within this many pixels of its reprojection is an inlier.
    #[arg(long, default_value_t = 4.0)]
    pub inlier_px: f64,
    /// RANSAC: samples drawn.
    #[arg(long, default_value_t = 500)]
    pub iterations: u32,
    /// RANSAC: seed of the sampling (the same points and seed give the same pose).
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Refuse a fit whose RMS reprojection error is above this (pixels).
    #[arg(long, default_value_t = crate::geometry::DEFAULT_MAX_RMS_PX)]
    pub max_rms_px: f64,
    /// Refuse a fit whose RMS error on the bed is above this (mm).
    #[arg(long, default_value_t = crate::geometry::DEFAULT_MAX_RMS_MM)]
    pub max_rms_mm: f64,
}

impl FitLimits {
    fn ransac(&self) -> Ransac {
        Ransac { iterations: self.iterations, inlier_px: self.inlier_px, seed: self.seed }
    }
}

fn parse_xy(s: &str) -> Result<(f64, f64), String> {
    let (a, b) = s.split_once(',').ok_or_else(|| format!("expected X,Y, got {s:?}"))?;
    let p = |v: &str| v.trim().parse::<f64>().map_err(|e| format!("{v:?}: {e}"));
    Ok((p(a)?, p(b)?))
}

pub async fn run(args: Args, global: &Global) -> anyhow::Result<ExitCode> {
    let cfg = global.load_config()?;
    match args.command {
        CalibrateCommand::Solve(a) => solve(a),
        CalibrateCommand::Auto(a) => auto::run(a, &cfg).await,
    }
}

fn solve(a: SolveArgs) -> anyhow::Result<ExitCode> {
    let text = std::fs::read_to_string(&a.points).with_context(|| format!("cannot read {}", a.points.display()))?;
    let points = PointsFile::parse(&text, &a.points.display().to_string())?;
    let corr = points.correspondences();
    let (w, h) = a.frame_size;
    let ransac = a.ransac.then(|| a.limits.ransac());
    let sol =
        solve_pose(&corr, w, h, ransac).with_context(|| format!("{}: cannot solve the camera", a.points.display()))?;
    let bed = match a.bed {
        Some((bw, bd)) => {
            BedArea { size_mm: [f64::from(bw), f64::from(bd)], origin_mm: [a.bed_origin.0, a.bed_origin.1] }
        }
        None => {
            let flat: Vec<_> = corr.iter().filter(|c| c.bed[2].abs() < 1e-6).collect();
            anyhow::ensure!(flat.len() >= 2, "no points at Z 0 to take the bed area from: give --bed WxD");
            let (mut x0, mut y0, mut x1, mut y1) = (f64::MAX, f64::MAX, f64::MIN, f64::MIN);
            for c in flat {
                (x0, y0, x1, y1) = (x0.min(c.bed[0]), y0.min(c.bed[1]), x1.max(c.bed[0]), y1.max(c.bed[1]));
            }
            BedArea { size_mm: [x1 - x0, y1 - y0], origin_mm: [x0, y0] }
        }
    };
    let method = if a.ransac { "dlt+lm+ransac" } else { "dlt+lm" };
    finish(&corr, &sol, bed, &a.limits, method, &a.out)
}

/// Prints the fit point by point and overall, then writes the camera file when
/// the fit is within `limits` and the result sees the bed (the checks a camera
/// file meets at load); exit code 1 when refused.
fn finish(
    corr: &[Correspondence],
    sol: &Solution,
    bed: BedArea,
    limits: &FitLimits,
    method: &str,
    out: &Path,
) -> anyhow::Result<ExitCode> {
    println!("point  bed_mm                      px                 reproj_px  bed_mm_err  used");
    for (i, c) in corr.iter().enumerate() {
        println!(
            "{i:>5}  ({:>7.1}, {:>7.1}, {:>6.1})  ({:>7.1}, {:>7.1})  {:>9.2}  {:>10.2}  {}",
            c.bed[0],
            c.bed[1],
            c.bed[2],
            c.px[0],
            c.px[1],
            sol.residual_px[i],
            sol.residual_mm[i],
            if sol.inliers[i] { "yes" } else { "outlier" }
        );
    }
    let inliers = sol.inliers.iter().filter(|k| **k).count();
    let k = &sol.camera.intrinsics;
    let c = sol.camera.center();
    println!(
        "fit: {inliers}/{} points, RMS {:.2} px (max {:.2}), RMS {:.2} mm on the bed (max {:.2}); f = {:.1} px, \
         k1 = {:.4}, k2 = {:.4}{}; camera at ({:.0}, {:.0}, {:.0}) mm",
        corr.len(),
        sol.rms_px,
        sol.max_px,
        sol.rms_mm,
        sol.max_mm,
        k.fx,
        k.k1,
        k.k2,
        if sol.distortion_estimated {
            ""
        } else {
            " (no distortion: fewer than 12 points, or it did not cut the error by a fifth)"
        },
        c[0],
        c[1],
        c[2]
    );
    if sol.rms_px > limits.max_rms_px || sol.rms_mm > limits.max_rms_mm {
        eprintln!(
            "refused: the fit is poor (RMS {:.2} px > {} or {:.2} mm > {}); check the points, or use --ransac for noisy points",
            sol.rms_px, limits.max_rms_px, sol.rms_mm, limits.max_rms_mm
        );
        return Ok(ExitCode::from(1));
    }
    let file = CameraFile::new(&sol.camera, bed, Some(sol.fit(method)));
    let out_text = file.to_toml_string()?;
    // The same checks as at load: a camera that does not see the bed is not written.
    if let Err(e) = CameraFile::parse(&out_text, &out.display().to_string()) {
        eprintln!("refused: {e}");
        return Ok(ExitCode::from(1));
    }
    if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    std::fs::write(out, out_text).with_context(|| format!("cannot write {}", out.display()))?;
    println!("wrote {}", out.display());
    Ok(ExitCode::SUCCESS)
}
