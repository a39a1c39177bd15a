//! `layerwatch calibrate solve`: the camera's pose and intrinsics from point
//! correspondences (a points file: bed corners, the nozzle tip at two
//! heights…), written as `cameras/<printer>.toml` only when the fit is good.
//!
//! Exit codes: 0 solved and written, 1 solved but refused (poor fit, or the
//! result does not see the bed), 2 usage or input error.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;

use super::Global;
use super::dataset::parse_size_wh;
use crate::geometry::{BedArea, CameraFile, Fit, PointsFile, Ransac, solve_pose};

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    pub command: CalibrateCommand,
}

#[derive(Debug, clap::Subcommand)]
pub enum CalibrateCommand {
    /// Solve the camera from a points file (bed mm ↔ pixel) and write the camera file.
    Solve(SolveArgs),
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
    /// Noisy points (automatic calibration): fit with RANSAC and leave outliers out.
    #[arg(long)]
    pub ransac: bool,
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
    #[arg(long, default_value_t = 3.0)]
    pub max_rms_px: f64,
    /// Refuse a fit whose RMS error on the bed is above this (mm).
    #[arg(long, default_value_t = 2.0)]
    pub max_rms_mm: f64,
}

fn parse_xy(s: &str) -> Result<(f64, f64), String> {
    let (a, b) = s.split_once(',').ok_or_else(|| format!("expected X,Y, got {s:?}"))?;
    let p = |v: &str| v.trim().parse::<f64>().map_err(|e| format!("{v:?}: {e}"));
    Ok((p(a)?, p(b)?))
}

pub async fn run(args: Args, global: &Global) -> anyhow::Result<ExitCode> {
    let _ = global.load_config()?;
    match args.command {
        CalibrateCommand::Solve(a) => solve(a),
    }
}

fn solve(a: SolveArgs) -> anyhow::Result<ExitCode> {
    let text = std::fs::read_to_string(&a.points).with_context(|| format!("cannot read {}", a.points.display()))?;
    let points = PointsFile::parse(&text, &a.points.display().to_string())?;
    let corr = points.correspondences();
    let (w, h) = a.frame_size;
    let ransac = a.ransac.then_some(Ransac { iterations: a.iterations, inlier_px: a.inlier_px, seed: a.seed });
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
        if sol.distortion_estimated { "" } else { " (distortion not estimated: fewer than 12 points)" },
        c[0],
        c[1],
        c[2]
    );
    if sol.rms_px > a.max_rms_px || sol.rms_mm > a.max_rms_mm {
        eprintln!(
            "refused: the fit is poor (RMS {:.2} px > {} or {:.2} mm > {}); check the clicks, or use --ransac for noisy points",
            sol.rms_px, a.max_rms_px, sol.rms_mm, a.max_rms_mm
        );
        return Ok(ExitCode::from(1));
    }
    let fit = Fit {
        points: corr.len() as u32,
        inliers: inliers as u32,
        rms_px: sol.rms_px,
        max_px: sol.max_px,
        rms_mm: sol.rms_mm,
        max_mm: sol.max_mm,
        method: if a.ransac { "dlt+lm+ransac".into() } else { "dlt+lm".into() },
    };
    let file = CameraFile::new(&sol.camera, bed, Some(fit));
    let out_text = file.to_toml_string()?;
    // The same checks as at load: a camera that does not see the bed is not written.
    if let Err(e) = CameraFile::parse(&out_text, &a.out.display().to_string()) {
        eprintln!("refused: {e}");
        return Ok(ExitCode::from(1));
    }
    if let Some(dir) = a.out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    std::fs::write(&a.out, out_text).with_context(|| format!("cannot write {}", a.out.display()))?;
    println!("wrote {}", a.out.display());
    Ok(ExitCode::SUCCESS)
}
