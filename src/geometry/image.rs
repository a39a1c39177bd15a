//! The downscaled grey frames the geometry checks read: a box-filtered
//! average of the frame's pixels, small enough to compare every pixel of a
//! frame with its reference in well under a millisecond.

/// A grey image, row-major, one byte per pixel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grey {
    pub width: u32,
    pub height: u32,
    pub data: Vec<u8>,
}

impl Grey {
    pub fn new(width: u32, height: u32, fill: u8) -> Grey {
        Grey { width, height, data: vec![fill; width as usize * height as usize] }
    }

    pub fn get(&self, x: u32, y: u32) -> u8 {
        self.data[y as usize * self.width as usize + x as usize]
    }

    /// Box-filters interleaved pixels (`channels` bytes each, BGR or grey) of a
    /// `width`×`height` frame down to `out_w`×`out_h`; `None` when the sizes do not fit.
    pub fn downscale(width: u32, height: u32, channels: usize, pixels: &[u8], out_w: u32, out_h: u32) -> Option<Grey> {
        let (w, h) = (width as usize, height as usize);
        if channels == 0
            || pixels.len() < w * h * channels
            || out_w == 0
            || out_h == 0
            || out_w > width
            || out_h > height
        {
            return None;
        }
        let (ow, oh) = (out_w as usize, out_h as usize);
        let mut sum = vec![0u32; ow * oh];
        let mut count = vec![0u32; ow * oh];
        let xmap: Vec<usize> = (0..w).map(|x| x * ow / w).collect();
        for y in 0..h {
            let oy = y * oh / h;
            let row = &pixels[y * w * channels..(y + 1) * w * channels];
            for x in 0..w {
                let px = &row[x * channels..(x + 1) * channels];
                // ITU-R BT.601 luma from BGR; grey as is.
                let v = if channels >= 3 {
                    (u32::from(px[0]) * 29 + u32::from(px[1]) * 150 + u32::from(px[2]) * 77) >> 8
                } else {
                    u32::from(px[0])
                };
                let o = oy * ow + xmap[x];
                sum[o] += v;
                count[o] += 1;
            }
        }
        let data = sum.iter().zip(&count).map(|(s, c)| (s / (*c).max(1)).min(255) as u8).collect();
        Some(Grey { width: out_w, height: out_h, data })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn downscale_averages_blocks() {
        // 4×2 BGR: left half white, right half black → 2×1 grey.
        let mut px = vec![];
        for _y in 0..2 {
            for x in 0..4 {
                let v = if x < 2 { 255 } else { 0 };
                px.extend([v, v, v]);
            }
        }
        let g = Grey::downscale(4, 2, 3, &px, 2, 1).unwrap();
        assert_eq!(g.data, vec![255, 0]);
        assert!(Grey::downscale(4, 2, 3, &px[..5], 2, 1).is_none());
    }
}
