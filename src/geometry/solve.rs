//! Solving a camera from point correspondences (bed mm ↔ pixel): the direct
//! linear transform for a first guess, then Levenberg–Marquardt on the
//! reprojection error, optionally inside RANSAC for noisy automatic points.
//!
//! The model solved: square pixels (`fx = fy`), the principal point at the
//! frame centre, the pose (6 values), and radial distortion `k1, k2` only when
//! there are at least [`MIN_POINTS_FOR_DISTORTION`] points and the distortion
//! cuts the error by a fifth ([`DISTORTION_GAIN`]). The DLT needs
//! at least 6 points that do not all lie in one plane (bed corners at Z = 0
//! plus the nozzle tip at two heights).
//!
//! The fit is reported in pixels and in bed millimetres: each observed pixel
//! is cast back onto the horizontal plane at its point's height and compared
//! with the point.

use super::camera::{Camera, Intrinsics, Pose};
use super::linalg::{M3, V3, cross, det, dot, norm, rotation_vector, scale, solve, sub, symmetric_eigen};

/// Points needed before k1 and k2 are estimated.
pub const MIN_POINTS_FOR_DISTORTION: usize = 12;
/// ... and kept only when they cut the RMS reprojection error to this share of the fit without.
pub const DISTORTION_GAIN: f64 = 0.8;
/// A fit is refused (not written) above this RMS reprojection error (px) ...
pub const DEFAULT_MAX_RMS_PX: f64 = 3.0;
/// ... or this RMS error on the bed (mm): `calibrate solve|auto`'s defaults and the dashboard's limits.
pub const DEFAULT_MAX_RMS_MM: f64 = 2.0;
const MIN_POINTS: usize = 6;
const LM_ITERATIONS: usize = 200;

/// One bed point and where it is seen.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Correspondence {
    pub bed: V3,
    pub px: [f64; 2],
}

/// RANSAC settings (automatic calibration: some nozzle detections are wrong).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Ransac {
    pub iterations: u32,
    /// A point is an inlier when it reprojects within this many pixels.
    pub inlier_px: f64,
    /// The sampling is seeded: the same points give the same pose.
    pub seed: u64,
}

/// What [`solve_pose`] found.
#[derive(Debug, Clone, PartialEq)]
pub struct Solution {
    pub camera: Camera,
    /// Reprojection error of each point (px), in input order.
    pub residual_px: Vec<f64>,
    /// Distance on the bed plane at each point's height (mm), in input order.
    pub residual_mm: Vec<f64>,
    /// Which points the fit used (all, without RANSAC).
    pub inliers: Vec<bool>,
    pub rms_px: f64,
    pub max_px: f64,
    pub rms_mm: f64,
    pub max_mm: f64,
    pub distortion_estimated: bool,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SolveError {
    #[error("{0} points given; at least 6 are needed (bed corners and the nozzle tip at two heights)")]
    TooFewPoints(usize),
    #[error("all points lie in one plane (Z from {0} to {1} mm); add points at another height (the nozzle tip raised)")]
    Coplanar(f64, f64),
    #[error("point {index}: {what} is not a finite number")]
    NotFinite { index: usize, what: &'static str },
    #[error("the points do not determine a camera (degenerate layout or inconsistent clicks)")]
    Degenerate,
    #[error("RANSAC found no pose with at least 6 points within {0} px")]
    NoConsensus(f64),
}

/// Solves the camera for a `width`×`height` frame.
pub fn solve_pose(
    points: &[Correspondence],
    width: u32,
    height: u32,
    ransac: Option<Ransac>,
) -> Result<Solution, SolveError> {
    check(points)?;
    let inliers = match ransac {
        None => vec![true; points.len()],
        Some(r) => consensus(points, width, height, r)?,
    };
    let used: Vec<Correspondence> = points.iter().zip(&inliers).filter(|(_, k)| **k).map(|(p, _)| *p).collect();
    let guess = dlt_camera(&used, width, height).ok_or(SolveError::Degenerate)?;
    let plain = refine(&used, guess.clone(), false, LM_ITERATIONS);
    // Distortion only where it explains the points: with noisy points spread over part of the
    // frame, k1 and k2 fit the noise and bend the frame's edges (the bed's corners) far off.
    let (camera, distortion) = if used.len() >= MIN_POINTS_FOR_DISTORTION {
        let bent = refine(&used, guess, true, LM_ITERATIONS);
        if rms_px(&used, &bent) < DISTORTION_GAIN * rms_px(&used, &plain) { (bent, true) } else { (plain, false) }
    } else {
        (plain, false)
    };
    Ok(report(points, camera, inliers, distortion))
}

impl Solution {
    /// The fit as the camera file records it; `method` says how the points were found and fitted.
    pub fn fit(&self, method: &str) -> super::file::Fit {
        super::file::Fit {
            points: self.inliers.len() as u32,
            inliers: self.inliers.iter().filter(|k| **k).count() as u32,
            rms_px: self.rms_px,
            max_px: self.max_px,
            rms_mm: self.rms_mm,
            max_mm: self.max_mm,
            method: method.into(),
        }
    }
}

fn rms_px(points: &[Correspondence], camera: &Camera) -> f64 {
    (points.iter().map(|p| reprojection(camera, p).powi(2)).sum::<f64>() / points.len().max(1) as f64).sqrt()
}

fn check(points: &[Correspondence]) -> Result<(), SolveError> {
    if points.len() < MIN_POINTS {
        return Err(SolveError::TooFewPoints(points.len()));
    }
    for (index, p) in points.iter().enumerate() {
        if !p.bed.iter().all(|v| v.is_finite()) {
            return Err(SolveError::NotFinite { index, what: "bed_mm" });
        }
        if !p.px.iter().all(|v| v.is_finite()) {
            return Err(SolveError::NotFinite { index, what: "px" });
        }
    }
    let (lo, hi) = points.iter().fold((f64::MAX, f64::MIN), |(lo, hi), p| (lo.min(p.bed[2]), hi.max(p.bed[2])));
    if hi - lo < 1.0 {
        return Err(SolveError::Coplanar(lo, hi));
    }
    Ok(())
}

/// Residuals and the fit figures of `camera` on all points.
fn report(points: &[Correspondence], camera: Camera, inliers: Vec<bool>, distortion: bool) -> Solution {
    let residual_px: Vec<f64> = points.iter().map(|p| reprojection(&camera, p)).collect();
    let residual_mm: Vec<f64> = points
        .iter()
        .map(|p| match camera.back_project_to_plane(p.px, p.bed[2]) {
            Some(b) => ((b[0] - p.bed[0]).powi(2) + (b[1] - p.bed[1]).powi(2)).sqrt(),
            None => f64::INFINITY,
        })
        .collect();
    let stats = |v: &[f64]| {
        let used: Vec<f64> = v.iter().zip(&inliers).filter(|(_, k)| **k).map(|(x, _)| *x).collect();
        let rms = (used.iter().map(|x| x * x).sum::<f64>() / used.len().max(1) as f64).sqrt();
        (rms, used.iter().copied().fold(0.0, f64::max))
    };
    let (rms_px, max_px) = stats(&residual_px);
    let (rms_mm, max_mm) = stats(&residual_mm);
    Solution {
        camera,
        residual_px,
        residual_mm,
        inliers,
        rms_px,
        max_px,
        rms_mm,
        max_mm,
        distortion_estimated: distortion,
    }
}

fn reprojection(camera: &Camera, p: &Correspondence) -> f64 {
    match camera.project(p.bed) {
        Some(q) => ((q[0] - p.px[0]).powi(2) + (q[1] - p.px[1]).powi(2)).sqrt(),
        None => 1e9,
    }
}

/// RANSAC over 6-point samples (DLT plus a short refinement each); returns the largest inlier set.
fn consensus(points: &[Correspondence], width: u32, height: u32, r: Ransac) -> Result<Vec<bool>, SolveError> {
    let mut state = r.seed ^ 0x9E37_79B9_7F4A_7C15;
    let mut next = |n: usize| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state % n as u64) as usize
    };
    let mut best: Vec<bool> = vec![];
    let mut best_count = 0usize;
    let mut best_err = f64::MAX;
    for _ in 0..r.iterations.max(1) {
        let mut idx: Vec<usize> = Vec::with_capacity(MIN_POINTS);
        while idx.len() < MIN_POINTS {
            let i = next(points.len());
            if !idx.contains(&i) {
                idx.push(i);
            }
        }
        let sample: Vec<Correspondence> = idx.iter().map(|&i| points[i]).collect();
        if check(&sample).is_err() {
            continue;
        }
        let Some(guess) = dlt_camera(&sample, width, height) else { continue };
        let cam = refine(&sample, guess, false, 15);
        let errs: Vec<f64> = points.iter().map(|p| reprojection(&cam, p)).collect();
        let inl: Vec<bool> = errs.iter().map(|e| *e <= r.inlier_px).collect();
        let count = inl.iter().filter(|k| **k).count();
        let err: f64 = errs.iter().zip(&inl).filter(|(_, k)| **k).map(|(e, _)| e * e).sum();
        if count > best_count || (count == best_count && err < best_err) {
            best_count = count;
            best_err = err;
            best = inl;
        }
    }
    if best_count < MIN_POINTS {
        return Err(SolveError::NoConsensus(r.inlier_px));
    }
    // Grow the set once with the pose refined on all its inliers.
    let used: Vec<Correspondence> = points.iter().zip(&best).filter(|(_, k)| **k).map(|(p, _)| *p).collect();
    if let Some(guess) = dlt_camera(&used, width, height) {
        let cam = refine(&used, guess, false, 50);
        let grown: Vec<bool> = points.iter().map(|p| reprojection(&cam, p) <= r.inlier_px).collect();
        if grown.iter().filter(|k| **k).count() >= best_count {
            best = grown;
        }
    }
    Ok(best)
}

/// Hartley normalisation: centroid to the origin, mean distance √dim.
fn normaliser<const N: usize>(pts: &[[f64; N]]) -> ([f64; N], f64) {
    let n = pts.len().max(1) as f64;
    let mut c = [0.0; N];
    for p in pts {
        for k in 0..N {
            c[k] += p[k] / n;
        }
    }
    let mean: f64 = pts.iter().map(|p| (0..N).map(|k| (p[k] - c[k]).powi(2)).sum::<f64>().sqrt()).sum::<f64>() / n;
    (c, if mean > 1e-12 { (N as f64).sqrt() / mean } else { 1.0 })
}

/// The DLT projection matrix, decomposed into a camera (square pixels, centred principal point).
fn dlt_camera(points: &[Correspondence], width: u32, height: u32) -> Option<Camera> {
    let bed: Vec<[f64; 3]> = points.iter().map(|p| p.bed).collect();
    let px: Vec<[f64; 2]> = points.iter().map(|p| p.px).collect();
    let (cb, sb) = normaliser(&bed);
    let (cp, sp) = normaliser(&px);
    let mut ata = vec![vec![0.0; 12]; 12];
    for (b, q) in bed.iter().zip(&px) {
        let x = [(b[0] - cb[0]) * sb, (b[1] - cb[1]) * sb, (b[2] - cb[2]) * sb, 1.0];
        let (u, v) = ((q[0] - cp[0]) * sp, (q[1] - cp[1]) * sp);
        let mut r1 = [0.0; 12];
        let mut r2 = [0.0; 12];
        for k in 0..4 {
            r1[k] = x[k];
            r1[8 + k] = -u * x[k];
            r2[4 + k] = x[k];
            r2[8 + k] = -v * x[k];
        }
        for i in 0..12 {
            for j in 0..12 {
                ata[i][j] += r1[i] * r1[j] + r2[i] * r2[j];
            }
        }
    }
    let (vals, vecs) = symmetric_eigen(ata);
    let k = (0..12).min_by(|&a, &b| vals[a].total_cmp(&vals[b]))?;
    let h = &vecs[k];
    // Denormalise: P = Tp⁻¹ · Pn · Tb.
    let pn = [[h[0], h[1], h[2], h[3]], [h[4], h[5], h[6], h[7]], [h[8], h[9], h[10], h[11]]];
    let tp_inv = [[1.0 / sp, 0.0, cp[0]], [0.0, 1.0 / sp, cp[1]], [0.0, 0.0, 1.0]];
    let tb =
        [[sb, 0.0, 0.0, -sb * cb[0]], [0.0, sb, 0.0, -sb * cb[1]], [0.0, 0.0, sb, -sb * cb[2]], [0.0, 0.0, 0.0, 1.0]];
    let mut a = [[0.0; 4]; 3];
    for i in 0..3 {
        for j in 0..4 {
            a[i][j] = (0..3).map(|m| tp_inv[i][m] * (0..4).map(|n| pn[m][n] * tb[n][j]).sum::<f64>()).sum();
        }
    }
    decompose(&a, points, width, height)
}

/// `P = λ·K·[R | t]` → camera, with the sign that puts the points in front.
fn decompose(p: &[[f64; 4]; 3], points: &[Correspondence], width: u32, height: u32) -> Option<Camera> {
    let m: M3 = [[p[0][0], p[0][1], p[0][2]], [p[1][0], p[1][1], p[1][2]], [p[2][0], p[2][1], p[2][2]]];
    let n3 = norm(m[2]);
    if n3.is_nan() || n3 <= 1e-300 {
        return None;
    }
    let depth0 = dot(m[2], points[0].bed) + p[2][3];
    let lambda = if depth0 >= 0.0 { 1.0 / n3 } else { -1.0 / n3 };
    let m: M3 = [scale(m[0], lambda), scale(m[1], lambda), scale(m[2], lambda)];
    let p4 = [p[0][3] * lambda, p[1][3] * lambda, p[2][3] * lambda];
    let r3 = m[2];
    let cy = dot(m[1], r3);
    let v2 = sub(m[1], scale(r3, cy));
    let fy = norm(v2);
    let r2 = scale(v2, 1.0 / fy);
    let cx = dot(m[0], r3);
    let skew = dot(m[0], r2);
    let v1 = sub(sub(m[0], scale(r3, cx)), scale(r2, skew));
    let fx = norm(v1);
    let mut r1 = scale(v1, 1.0 / fx);
    if det(&[r1, r2, r3]) < 0.0 {
        r1 = scale(r1, -1.0);
    }
    let r = [r1, r2, r3];
    if !(fx.is_finite() && fy.is_finite() && fx > 0.0 && fy > 0.0) {
        return None;
    }
    // t = K⁻¹ p4 with K = [[fx, s, cx], [0, fy, cy], [0, 0, 1]].
    let tz = p4[2];
    let ty = (p4[1] - cy * tz) / fy;
    let tx = (p4[0] - skew * ty - cx * tz) / fx;
    let f = (fx + fy) / 2.0;
    let intr = Intrinsics {
        fx: f,
        fy: f,
        cx: f64::from(width) / 2.0 - 0.5,
        cy: f64::from(height) / 2.0 - 0.5,
        k1: 0.0,
        k2: 0.0,
    };
    let _ = cross;
    Some(Camera::new(width, height, intr, Pose { rotation_rad: rotation_vector(&r), translation_mm: [tx, ty, tz] }))
}

fn params_of(c: &Camera, distortion: bool) -> Vec<f64> {
    let mut v = vec![c.intrinsics.fx];
    v.extend(c.pose.rotation_rad);
    v.extend(c.pose.translation_mm);
    if distortion {
        v.extend([c.intrinsics.k1, c.intrinsics.k2]);
    }
    v
}

fn camera_of(base: &Camera, v: &[f64]) -> Camera {
    let mut intr = base.intrinsics;
    intr.fx = v[0];
    intr.fy = v[0];
    if v.len() > 7 {
        intr.k1 = v[7];
        intr.k2 = v[8];
    }
    Camera::new(
        base.width,
        base.height,
        intr,
        Pose { rotation_rad: [v[1], v[2], v[3]], translation_mm: [v[4], v[5], v[6]] },
    )
}

fn residuals(points: &[Correspondence], cam: &Camera) -> Vec<f64> {
    let mut r = Vec::with_capacity(points.len() * 2);
    for p in points {
        match cam.project(p.bed) {
            Some(q) => r.extend([q[0] - p.px[0], q[1] - p.px[1]]),
            None => r.extend([1e4, 1e4]),
        }
    }
    r
}

/// Levenberg–Marquardt with a forward-difference Jacobian.
fn refine(points: &[Correspondence], start: Camera, distortion: bool, iterations: usize) -> Camera {
    let mut x = params_of(&start, distortion);
    let mut cam = start;
    let mut r = residuals(points, &cam);
    let mut cost: f64 = r.iter().map(|v| v * v).sum();
    let mut lambda = 1e-3;
    let n = x.len();
    for _ in 0..iterations {
        let mut jac = vec![vec![0.0; n]; r.len()];
        for k in 0..n {
            let h = 1e-6 * x[k].abs().max(1e-3);
            let mut xk = x.clone();
            xk[k] += h;
            let rk = residuals(points, &camera_of(&cam, &xk));
            for (i, row) in jac.iter_mut().enumerate() {
                row[k] = (rk[i] - r[i]) / h;
            }
        }
        let mut jtj = vec![vec![0.0; n]; n];
        let mut jtr = vec![0.0; n];
        for (row, ri) in jac.iter().zip(&r) {
            for a in 0..n {
                jtr[a] += row[a] * ri;
                for b in 0..n {
                    jtj[a][b] += row[a] * row[b];
                }
            }
        }
        let mut improved = false;
        for _ in 0..10 {
            let mut m = jtj.clone();
            for (a, row) in m.iter_mut().enumerate() {
                row[a] += lambda * jtj[a][a].max(1e-9);
            }
            let Some(step) = solve(m, jtr.iter().map(|v| -v).collect()) else {
                lambda *= 10.0;
                continue;
            };
            let xn: Vec<f64> = x.iter().zip(&step).map(|(a, b)| a + b).collect();
            let cn = camera_of(&cam, &xn);
            let rn = residuals(points, &cn);
            let cn_cost: f64 = rn.iter().map(|v| v * v).sum();
            if cn_cost < cost {
                let rel = (cost - cn_cost) / cost.max(1e-300);
                x = xn;
                cam = cn;
                r = rn;
                cost = cn_cost;
                lambda = (lambda / 10.0).max(1e-12);
                improved = rel > 1e-12;
                break;
            }
            lambda *= 10.0;
        }
        if !improved {
            break;
        }
    }
    cam
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Bed corners, a grid on the bed, and nozzle points at two heights.
    fn layout(with_grid: bool) -> Vec<V3> {
        let mut pts = vec![[0.0, 0.0, 0.0], [220.0, 0.0, 0.0], [220.0, 220.0, 0.0], [0.0, 220.0, 0.0]];
        for z in [20.0, 80.0] {
            pts.push([60.0, 80.0, z]);
            pts.push([160.0, 140.0, z]);
        }
        if with_grid {
            for x in [40.0, 110.0, 180.0] {
                for y in [40.0, 110.0, 180.0] {
                    pts.push([x, y, if (x + y) as i32 % 3 == 0 { 0.0 } else { 40.0 }]);
                }
            }
        }
        pts
    }

    fn truth(k1: f64) -> Camera {
        let mut c = Camera::look_at(1280, 720, [100.0, -240.0, 230.0], [115.0, 105.0, 15.0], 66.0);
        c.intrinsics.k1 = k1;
        c
    }

    /// A small deterministic Gaussian-ish noise (sum of uniforms).
    fn noise(seed: &mut u64) -> f64 {
        let mut s = 0.0;
        for _ in 0..4 {
            *seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            s += ((*seed >> 11) as f64 / (1u64 << 53) as f64) - 0.5;
        }
        s * 1.7
    }

    fn observe(cam: &Camera, pts: &[V3], sigma: f64, seed: u64) -> Vec<Correspondence> {
        let mut s = seed;
        pts.iter()
            .map(|&bed| {
                let q = cam.project(bed).unwrap();
                Correspondence { bed, px: [q[0] + sigma * noise(&mut s), q[1] + sigma * noise(&mut s)] }
            })
            .collect()
    }

    fn center_error(a: &Camera, b: &Camera) -> f64 {
        norm(sub(a.center(), b.center()))
    }

    #[test]
    fn six_exact_points_recover_the_pose() {
        let cam = truth(0.0);
        let sol = solve_pose(&observe(&cam, &layout(false)[..6], 0.0, 1), 1280, 720, None).unwrap();
        assert!(sol.rms_px < 1e-3, "{sol:?}");
        assert!(center_error(&sol.camera, &cam) < 0.1, "{:?} vs {:?}", sol.camera.center(), cam.center());
        assert!((sol.camera.intrinsics.fx - cam.intrinsics.fx).abs() < 0.1);
    }

    #[test]
    fn noisy_points_recover_the_pose_within_millimetres() {
        let cam = truth(0.0);
        let sol = solve_pose(&observe(&cam, &layout(false), 0.5, 7), 1280, 720, None).unwrap();
        assert!(sol.rms_px < 1.0, "rms {} px", sol.rms_px);
        assert!(sol.rms_mm < 1.0, "rms {} mm", sol.rms_mm);
        assert!(center_error(&sol.camera, &cam) < 15.0, "camera centre off by {} mm", center_error(&sol.camera, &cam));
        // Where the bed's centre lands in the picture: within a couple of pixels.
        let (a, b) = (sol.camera.project([110.0, 110.0, 0.0]).unwrap(), cam.project([110.0, 110.0, 0.0]).unwrap());
        assert!((a[0] - b[0]).hypot(a[1] - b[1]) < 2.0, "{a:?} vs {b:?}");
    }

    #[test]
    fn distortion_is_estimated_with_enough_points() {
        let cam = truth(-0.15);
        let sol = solve_pose(&observe(&cam, &layout(true), 0.3, 3), 1280, 720, None).unwrap();
        assert!(sol.distortion_estimated);
        assert!(sol.rms_px < 0.6, "rms {} px", sol.rms_px);
        // k1 trades off against the focal length on so few points; the picture it gives is what matters.
        assert!((sol.camera.intrinsics.k1 + 0.15).abs() < 0.1, "k1 {}", sol.camera.intrinsics.k1);
        let undistorted = solve_pose(&observe(&cam, &layout(true)[..11], 0.3, 3), 1280, 720, None).unwrap();
        assert!(!undistorted.distortion_estimated && undistorted.rms_px > sol.rms_px, "{}", undistorted.rms_px);
    }

    #[test]
    fn ransac_ignores_wrong_detections() {
        let cam = truth(0.0);
        let mut pts = observe(&cam, &layout(true), 0.5, 11);
        pts[5].px[0] += 80.0;
        pts[9].px[1] -= 120.0;
        let plain = solve_pose(&pts, 1280, 720, None).unwrap();
        assert!(plain.rms_px > 5.0, "outliers must spoil a plain fit: {}", plain.rms_px);
        let r = Ransac { iterations: 300, inlier_px: 4.0, seed: 5 };
        let sol = solve_pose(&pts, 1280, 720, Some(r)).unwrap();
        assert_eq!(sol.inliers.iter().filter(|k| !**k).count(), 2, "{:?}", sol.inliers);
        assert!(!sol.inliers[5] && !sol.inliers[9]);
        assert!(sol.rms_px < 1.0 && center_error(&sol.camera, &cam) < 15.0, "{} px", sol.rms_px);
    }

    #[test]
    fn bad_layouts_are_refused_with_a_reason() {
        let cam = truth(0.0);
        let flat: Vec<V3> = layout(false).into_iter().map(|p| [p[0], p[1], 0.0]).collect();
        let e = solve_pose(&observe(&cam, &flat, 0.0, 1), 1280, 720, None).unwrap_err();
        assert_eq!(
            e.to_string(),
            "all points lie in one plane (Z from 0 to 0 mm); add points at another height (the nozzle tip raised)"
        );
        let e = solve_pose(&observe(&cam, &layout(false)[..5], 0.0, 1), 1280, 720, None).unwrap_err();
        assert_eq!(e, SolveError::TooFewPoints(5));
    }
}
