//! Finding the nozzle tip in frames taken while the printer holds the nozzle
//! at known points (`layerwatch calibrate auto`): no target on the bed, only
//! the toolhead moving over a still background.
//!
//! The background is the per-pixel median of all the frames (the toolhead is
//! elsewhere in most of them). In each frame, the pixels that differ from it
//! by more than the frame's noise allows form regions; the largest is the
//! toolhead. The tip is the toolhead's lowest point, "down" being the way the
//! toolhead moves in the picture when the same X/Y is held at a lower Z (so a
//! camera mounted sideways or upside down works too); without such pairs, down
//! is the picture's down. Detections can still be wrong (a hand, a shadow):
//! the solver's RANSAC leaves those out.
//!
//! Pure: grey frames and commanded positions in, pixels out.

use super::image::Grey;
use super::linalg::V3;

/// Frames needed: the median needs the toolhead away from each pixel in most of them.
pub const MIN_FRAMES: usize = 6;
/// A pixel differs when it is this many grey levels off the background, at least.
const MIN_DIFF: u8 = 18;
/// ... or this many times the frame's median difference (its noise), if more.
const NOISE_FACTOR: u32 = 6;
/// A median difference above this is not noise: the whole picture changed.
const MAX_NOISE: u8 = 15;
/// The toolhead covers at least this share of the frame ...
const MIN_AREA_SHARE: f64 = 0.0004;
/// ... and at most this share (more is a light change or a hand, not the toolhead).
const MAX_AREA_SHARE: f64 = 0.25;
/// The tip is the lowest pixel along "down", centred across on the pixels within this
/// distance (px) of it (a nozzle's flat end or a blurred cone).
const TIP_BAND_PX: f64 = 3.0;
/// Same X/Y (mm) for the pairs that say which way is down.
const SAME_XY_MM: f64 = 0.5;
/// ... at heights at least this far apart (mm).
const MIN_DZ_MM: f64 = 5.0;

/// The tip found in one frame.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Tip {
    /// Pixel (in the frames' coordinates).
    pub px: [f64; 2],
    /// Pixels of the toolhead's region.
    pub area: u32,
}

/// Why a frame has no tip.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Miss {
    #[error("nothing moved here (no region differs from the background)")]
    NothingMoved,
    #[error("the changed region is too small to be the toolhead ({0} px)")]
    TooSmall(u32),
    #[error("most of the picture changed ({0} px): the light, the camera or a hand, not the toolhead")]
    TooLarge(u32),
    #[error("the whole picture is {0} grey levels off the others: the light changed or the camera moved")]
    LightChanged(u8),
}

/// What [`find_tips`] found, frame by frame.
#[derive(Debug, Clone, PartialEq)]
pub struct Tips {
    pub tips: Vec<Result<Tip, Miss>>,
    /// Unit vector of "down" in the picture, and whether it was learnt from the moves.
    pub down: [f64; 2],
    pub down_from_moves: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NozzleError {
    #[error("{0} frames; at least {MIN_FRAMES} are needed")]
    TooFewFrames(usize),
    #[error("{frames} frames but {positions} positions")]
    Mismatch { frames: usize, positions: usize },
    #[error("frame {index} is {got:?}, the first is {want:?}: all frames must have one size")]
    Size { index: usize, got: (u32, u32), want: (u32, u32) },
}

/// The tip in each of `frames`, taken with the nozzle at `positions` (bed mm, commanded).
pub fn find_tips(frames: &[Grey], positions: &[V3]) -> Result<Tips, NozzleError> {
    if frames.len() < MIN_FRAMES {
        return Err(NozzleError::TooFewFrames(frames.len()));
    }
    if frames.len() != positions.len() {
        return Err(NozzleError::Mismatch { frames: frames.len(), positions: positions.len() });
    }
    let want = (frames[0].width, frames[0].height);
    for (index, f) in frames.iter().enumerate() {
        let got = (f.width, f.height);
        if got != want || f.data.len() != want.0 as usize * want.1 as usize {
            return Err(NozzleError::Size { index, got, want });
        }
    }
    let bg = median(frames);
    let regions: Vec<Result<Region, Miss>> = frames.iter().map(|f| toolhead(f, &bg)).collect();
    let (down, down_from_moves) = match down_from_moves(&regions, positions) {
        Some(d) => (d, true),
        None => ([0.0, 1.0], false),
    };
    let tips = regions.into_iter().map(|r| r.map(|r| r.tip(down))).collect();
    Ok(Tips { tips, down, down_from_moves })
}

fn median(frames: &[Grey]) -> Vec<u8> {
    let n = frames[0].data.len();
    let mut column = Vec::with_capacity(frames.len());
    (0..n)
        .map(|i| {
            column.clear();
            column.extend(frames.iter().map(|f| f.data[i]));
            let mid = column.len() / 2;
            *column.select_nth_unstable(mid).1
        })
        .collect()
}

/// The largest changed region of a frame.
struct Region {
    /// Pixel coordinates (x, y) of its pixels.
    pixels: Vec<(u32, u32)>,
}

impl Region {
    fn centroid(&self) -> [f64; 2] {
        let n = self.pixels.len().max(1) as f64;
        let (sx, sy) = self.pixels.iter().fold((0.0, 0.0), |(a, b), (x, y)| (a + f64::from(*x), b + f64::from(*y)));
        [sx / n, sy / n]
    }

    /// The lowest point along `down`, centred across on the pixels near it.
    fn tip(&self, down: [f64; 2]) -> Tip {
        let along = |(x, y): (u32, u32)| f64::from(x) * down[0] + f64::from(y) * down[1];
        let across = |(x, y): (u32, u32)| f64::from(y) * down[0] - f64::from(x) * down[1];
        let lowest = self.pixels.iter().map(|p| along(*p)).fold(f64::MIN, f64::max);
        let band: Vec<f64> =
            self.pixels.iter().filter(|p| along(**p) >= lowest - TIP_BAND_PX).map(|p| across(*p)).collect();
        let mid = band.iter().sum::<f64>() / band.len().max(1) as f64;
        // Back from (along, across) to (x, y): the basis is orthonormal.
        let px = [lowest * down[0] - mid * down[1], lowest * down[1] + mid * down[0]];
        Tip { px, area: self.pixels.len() as u32 }
    }
}

fn toolhead(frame: &Grey, bg: &[u8]) -> Result<Region, Miss> {
    let (w, h) = (frame.width as usize, frame.height as usize);
    let diff: Vec<u8> = frame.data.iter().zip(bg).map(|(a, b)| a.abs_diff(*b)).collect();
    let mut sorted = diff.clone();
    let mid = sorted.len() / 2;
    let noise = *sorted.select_nth_unstable(mid).1;
    if noise > MAX_NOISE {
        return Err(Miss::LightChanged(noise));
    }
    let noise = u32::from(noise);
    let threshold = (noise * NOISE_FACTOR).clamp(u32::from(MIN_DIFF), 200) as u8;
    let mut on: Vec<bool> = diff.iter().map(|d| *d > threshold).collect();
    let total = (w * h) as f64;
    let changed = on.iter().filter(|v| **v).count();
    if changed == 0 {
        return Err(Miss::NothingMoved);
    }
    if changed as f64 > MAX_AREA_SHARE * total {
        return Err(Miss::TooLarge(changed as u32));
    }
    // Largest 4-connected region (flood fill, consuming `on`).
    let mut best: Vec<(u32, u32)> = Vec::new();
    let mut stack = Vec::new();
    for start in 0..on.len() {
        if !on[start] {
            continue;
        }
        on[start] = false;
        stack.push(start);
        let mut region = Vec::new();
        while let Some(i) = stack.pop() {
            let (x, y) = (i % w, i / w);
            region.push((x as u32, y as u32));
            let mut visit = |j: usize| {
                if on[j] {
                    on[j] = false;
                    stack.push(j);
                }
            };
            if x > 0 {
                visit(i - 1);
            }
            if x + 1 < w {
                visit(i + 1);
            }
            if y > 0 {
                visit(i - w);
            }
            if y + 1 < h {
                visit(i + w);
            }
        }
        if region.len() > best.len() {
            best = region;
        }
    }
    if (best.len() as f64) < (MIN_AREA_SHARE * total).max(6.0) {
        return Err(Miss::TooSmall(best.len() as u32));
    }
    Ok(Region { pixels: best })
}

/// "Down" in the picture: the mean direction from a region's centroid at a
/// height to the same X/Y's centroid lower down.
fn down_from_moves(regions: &[Result<Region, Miss>], positions: &[V3]) -> Option<[f64; 2]> {
    let centroids: Vec<Option<[f64; 2]>> = regions.iter().map(|r| r.as_ref().ok().map(Region::centroid)).collect();
    let mut sum = [0.0, 0.0];
    let mut pairs = 0;
    for i in 0..positions.len() {
        for j in 0..positions.len() {
            let (a, b) = (positions[i], positions[j]);
            let same_xy = (a[0] - b[0]).abs() < SAME_XY_MM && (a[1] - b[1]).abs() < SAME_XY_MM;
            if !same_xy || a[2] - b[2] < MIN_DZ_MM {
                continue;
            }
            // i is higher than j: i → j points down.
            if let (Some(hi), Some(lo)) = (centroids[i], centroids[j]) {
                let d = [lo[0] - hi[0], lo[1] - hi[1]];
                let n = d[0].hypot(d[1]);
                if n > 1.0 {
                    sum = [sum[0] + d[0] / n, sum[1] + d[1] / n];
                    pairs += 1;
                }
            }
        }
    }
    let n = sum[0].hypot(sum[1]);
    (pairs > 0 && n > 0.5 * f64::from(pairs)).then(|| [sum[0] / n, sum[1] / n])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::geometry::Camera;

    /// A textured still background.
    fn background(w: u32, h: u32, seed: u32) -> Grey {
        let mut g = Grey::new(w, h, 0);
        for y in 0..h {
            for x in 0..w {
                let n = (x.wrapping_mul(2_654_435_761).wrapping_add(y.wrapping_mul(40_503)).wrapping_add(seed)) % 7;
                g.data[(y * w + x) as usize] = (120 + (x / 8 + y / 8) % 40 + n) as u8;
            }
        }
        g
    }

    /// The background and a dark toolhead drawn as a bar 40 px long from the
    /// projected tip along `up` (px), 4 px either side.
    fn frame(cam: &Camera, tip: V3, up: [f64; 2], seed: u32) -> (Grey, [f64; 2]) {
        let mut g = background(cam.width, cam.height, seed);
        let (w, h) = (cam.width, cam.height);
        let p = cam.project(tip).unwrap();
        let (len, half) = (40.0, 4.0);
        for y in 0..h {
            for x in 0..w {
                let d = [f64::from(x) - p[0], f64::from(y) - p[1]];
                let a = d[0] * up[0] + d[1] * up[1];
                let c = (d[0] * up[1] - d[1] * up[0]).abs();
                if (0.0..=len).contains(&a) && c <= half {
                    g.data[(y * w + x) as usize] = 30;
                }
            }
        }
        (g, p)
    }

    fn plan() -> Vec<V3> {
        let mut v = vec![];
        for z in [10.0, 40.0] {
            for x in [40.0, 110.0, 180.0] {
                for y in [40.0, 110.0, 180.0] {
                    v.push([x, y, z]);
                }
            }
        }
        v
    }

    fn run(up_px: [f64; 2]) -> (Tips, Vec<[f64; 2]>) {
        let cam = Camera::look_at(320, 240, [110.0, -150.0, 160.0], [110.0, 110.0, 10.0], 60.0);
        let plan = plan();
        let (frames, truth): (Vec<_>, Vec<_>) =
            plan.iter().enumerate().map(|(i, p)| frame(&cam, *p, up_px, i as u32)).unzip();
        (find_tips(&frames, &plan).unwrap(), truth)
    }

    #[test]
    fn tips_are_found_within_a_pixel_and_down_is_learnt_from_the_moves() {
        let (tips, truth) = run([0.0, -1.0]);
        assert!(tips.down_from_moves);
        assert!(tips.down[1] > 0.9, "{:?}", tips.down);
        for (t, p) in tips.tips.iter().zip(&truth) {
            let t = t.as_ref().unwrap();
            assert!((t.px[0] - p[0]).abs() <= 1.5 && (t.px[1] - p[1]).abs() <= 1.5, "{t:?} vs {p:?}");
        }
    }

    #[test]
    fn a_camera_on_its_side_is_read_from_the_moves_not_the_picture() {
        // A camera rolled by 90°: raising the nozzle moves it right in the picture, and the
        // toolhead extends to the right of its tip. The tip is then its leftmost point.
        let plan = plan();
        let tip_px = |p: &V3| [40.0 + p[2] * 2.0 + p[1] * 0.3, 20.0 + p[0] * 1.0];
        let frames: Vec<Grey> = plan
            .iter()
            .enumerate()
            .map(|(i, p)| {
                let mut g = background(320, 240, i as u32);
                let t = tip_px(p);
                for y in 0..g.height {
                    for x in 0..g.width {
                        let (dx, dy) = (f64::from(x) - t[0], f64::from(y) - t[1]);
                        if (0.0..=40.0).contains(&dx) && dy.abs() <= 4.0 {
                            g.data[(y * g.width + x) as usize] = 30;
                        }
                    }
                }
                g
            })
            .collect();
        let tips = find_tips(&frames, &plan).unwrap();
        assert!(tips.down_from_moves);
        assert!(tips.down[0] < -0.9, "down should point left: {:?}", tips.down);
        for (t, p) in tips.tips.iter().zip(&plan) {
            let (t, want) = (t.as_ref().unwrap(), tip_px(p));
            assert!((t.px[0] - want[0]).abs() <= 1.5 && (t.px[1] - want[1]).abs() <= 1.5, "{t:?} vs {want:?}");
        }
    }

    #[test]
    fn a_light_change_and_a_still_picture_are_misses_not_tips() {
        let plan = plan();
        let still = background(320, 240, 0);
        let mut frames = vec![still.clone(); plan.len()];
        frames[3].data.iter_mut().for_each(|v| *v = v.saturating_add(60));
        let tips = find_tips(&frames, &plan).unwrap();
        assert!(!tips.down_from_moves);
        assert_eq!(tips.tips[0], Err(Miss::NothingMoved));
        assert!(matches!(tips.tips[3], Err(Miss::LightChanged(60))), "{:?}", tips.tips[3]);
        // A hand over a third of the picture.
        frames[5].data[..320 * 100].iter_mut().for_each(|v| *v = 10);
        let tips = find_tips(&frames, &plan).unwrap();
        assert!(matches!(tips.tips[5], Err(Miss::TooLarge(32000))), "{:?}", tips.tips[5]);
        assert_eq!(find_tips(&frames[..3], &plan[..3]).unwrap_err(), NozzleError::TooFewFrames(3));
    }
}
