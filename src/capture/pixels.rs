//! Raw camera pixel formats to packed RGB: YUYV 4:2:2, NV12 4:2:0, grey, RGB
//! and BGR. Pure functions, BT.601 limited-range integer maths (what UVC
//! cameras send). Only used for cameras that cannot send MJPEG.

use crate::domain::RgbImage;

#[inline]
fn clamp(v: i32) -> u8 {
    v.clamp(0, 255) as u8
}

#[inline]
fn yuv_to_rgb(y: u8, u: u8, v: u8) -> [u8; 3] {
    let c = 298 * (i32::from(y) - 16);
    let d = i32::from(u) - 128;
    let e = i32::from(v) - 128;
    [clamp((c + 409 * e + 128) >> 8), clamp((c - 100 * d - 208 * e + 128) >> 8), clamp((c + 516 * d + 128) >> 8)]
}

/// YUYV (Y0 U Y1 V per two pixels). `None` if `data` is too short or `width` is odd.
pub fn yuyv_to_rgb(width: u32, height: u32, data: &[u8]) -> Option<RgbImage> {
    let (w, h) = (width as usize, height as usize);
    if w % 2 != 0 || data.len() < w * h * 2 {
        return None;
    }
    let mut out = Vec::with_capacity(w * h * 3);
    for px in data[..w * h * 2].chunks_exact(4) {
        let (y0, u, y1, v) = (px[0], px[1], px[2], px[3]);
        out.extend_from_slice(&yuv_to_rgb(y0, u, v));
        out.extend_from_slice(&yuv_to_rgb(y1, u, v));
    }
    RgbImage::new(width, height, out)
}

/// NV12 (a Y plane, then interleaved U/V at half resolution).
pub fn nv12_to_rgb(width: u32, height: u32, data: &[u8]) -> Option<RgbImage> {
    let (w, h) = (width as usize, height as usize);
    if w % 2 != 0 || h % 2 != 0 || data.len() < w * h * 3 / 2 {
        return None;
    }
    let (luma, chroma) = data.split_at(w * h);
    let mut out = Vec::with_capacity(w * h * 3);
    for row in 0..h {
        for col in 0..w {
            let y = luma[row * w + col];
            let uv = (row / 2) * w + (col / 2) * 2;
            out.extend_from_slice(&yuv_to_rgb(y, chroma[uv], chroma[uv + 1]));
        }
    }
    RgbImage::new(width, height, out)
}

/// 8-bit grey.
pub fn gray_to_rgb(width: u32, height: u32, data: &[u8]) -> Option<RgbImage> {
    let n = width as usize * height as usize;
    let out = data.get(..n)?.iter().flat_map(|&g| [g, g, g]).collect();
    RgbImage::new(width, height, out)
}

/// Packed RGB (copied) or BGR (channels swapped).
pub fn packed_to_rgb(width: u32, height: u32, data: &[u8], bgr: bool) -> Option<RgbImage> {
    let n = width as usize * height as usize * 3;
    let mut out = data.get(..n)?.to_vec();
    if bgr {
        for px in out.chunks_exact_mut(3) {
            px.swap(0, 2);
        }
    }
    RgbImage::new(width, height, out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yuyv_reference_colours() {
        // Black, white, and BT.601 red (Y=81, U=90, V=240) and blue (Y=41, U=240, V=110).
        let data = [16, 128, 235, 128, 81, 90, 41, 240];
        let rgb = yuyv_to_rgb(4, 1, &[data[0], data[1], data[2], data[3], 81, 90, 81, 240]).unwrap();
        assert_eq!(&rgb.data[..6], &[0, 0, 0, 255, 255, 255]);
        let red = yuv_to_rgb(81, 90, 240);
        assert!(red[0] > 250 && red[1] < 5 && red[2] < 5, "{red:?}");
        let blue = yuv_to_rgb(41, 240, 110);
        assert!(blue[2] > 250 && blue[0] < 5 && blue[1] < 5, "{blue:?}");
        assert!(yuyv_to_rgb(4, 1, &data[..7]).is_none());
        assert!(yuyv_to_rgb(3, 1, &data).is_none());
    }

    #[test]
    fn nv12_grey_and_packed() {
        let nv12 = [235, 235, 16, 16, 128, 128];
        let rgb = nv12_to_rgb(2, 2, &nv12).unwrap();
        assert_eq!(rgb.data, [255, 255, 255, 255, 255, 255, 0, 0, 0, 0, 0, 0]);
        assert_eq!(gray_to_rgb(2, 1, &[7, 9]).unwrap().data, [7, 7, 7, 9, 9, 9]);
        assert_eq!(packed_to_rgb(1, 1, &[1, 2, 3], true).unwrap().data, [3, 2, 1]);
        assert!(packed_to_rgb(2, 1, &[1, 2, 3], false).is_none());
    }
}
