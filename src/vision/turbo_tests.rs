//! Tests of the libjpeg-turbo decoder on real encoder output (libjpeg-turbo through OpenCV, and
//! TurboJPEG's own encoder for CMYK): good files decode as OpenCV decodes them, damaged ones are errors.

use opencv::core::{Mat, Scalar, Vector};
use opencv::imgcodecs;
use opencv::prelude::*;

use super::super::jpeg::{JpegError, inspect};
use super::*;

/// A noisy-but-smooth test picture (so blocks carry many AC codes), `channels` 1 or 3.
fn picture(w: i32, h: i32, channels: i32) -> Mat {
    let typ = if channels == 1 { opencv::core::CV_8UC1 } else { opencv::core::CV_8UC3 };
    let mut m = Mat::new_rows_cols_with_default(h, w, typ, Scalar::all(0.0)).unwrap();
    let data = m.data_bytes_mut().unwrap();
    let mut s: u32 = 12345;
    for (i, b) in data.iter_mut().enumerate() {
        s = s.wrapping_mul(1_103_515_245).wrapping_add(12345);
        *b = ((i as u32 / 7 % 200) + (s >> 28)) as u8;
    }
    m
}

fn encode(m: &Mat, params: &[i32]) -> Vec<u8> {
    let mut buf = Vector::<u8>::new();
    assert!(imgcodecs::imencode(".jpg", m, &mut buf, &Vector::from_slice(params)).unwrap());
    buf.to_vec()
}

/// Marker walk, then the decoder, as `preprocess` does.
fn decode_checked(d: &[u8], reduction: u32, layout: Layout) -> Result<Pixels, JpegError> {
    let info = inspect(d)?;
    decode(d, (info.width, info.height), reduction, layout)
}

/// OpenCV's decode of the same bytes (BGR or grey), as the frame path did before.
fn opencv_decode(d: &[u8], flags: i32) -> Mat {
    let m = imgcodecs::imdecode(&Mat::from_slice(d).unwrap(), flags).unwrap();
    assert!(!m.empty());
    m
}

fn max_diff_rgb_vs_bgr(p: &Pixels, bgr: &Mat) -> u8 {
    assert_eq!((p.width as i32, p.height as i32), (bgr.cols(), bgr.rows()));
    let b = bgr.data_bytes().unwrap();
    p.data
        .chunks_exact(3)
        .zip(b.chunks_exact(3))
        .map(|(x, y)| x[0].abs_diff(y[2]).max(x[1].abs_diff(y[1])).max(x[2].abs_diff(y[0])))
        .max()
        .unwrap_or(0)
}

#[test]
fn real_encoder_output_decodes_as_opencv_decodes_it() {
    let q = imgcodecs::IMWRITE_JPEG_QUALITY;
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("1x1", encode(&picture(1, 1, 3), &[q, 90])),
        ("17x9", encode(&picture(17, 9, 3), &[q, 90])),
        ("1279x719", encode(&picture(1279, 719, 3), &[q, 85])),
        ("grey 333x222", encode(&picture(333, 222, 1), &[q, 85])),
        ("10000x10", encode(&picture(10000, 10, 3), &[q, 85])),
        ("optimised tables", encode(&picture(640, 480, 3), &[q, 85, imgcodecs::IMWRITE_JPEG_OPTIMIZE, 1])),
        ("restart every 3 MCUs", encode(&picture(300, 200, 3), &[q, 85, imgcodecs::IMWRITE_JPEG_RST_INTERVAL, 3])),
        ("quality 100", encode(&picture(200, 100, 3), &[q, 100])),
        ("progressive", encode(&picture(320, 240, 3), &[q, 85, imgcodecs::IMWRITE_JPEG_PROGRESSIVE, 1])),
    ];
    let reduced = [
        (1, imgcodecs::IMREAD_COLOR),
        (2, imgcodecs::IMREAD_REDUCED_COLOR_2),
        (4, imgcodecs::IMREAD_REDUCED_COLOR_4),
        (8, imgcodecs::IMREAD_REDUCED_COLOR_8),
    ];
    let mut out = Vec::new();
    for (name, d) in &cases {
        let mut line = format!("{name}:");
        for (r, flags) in reduced {
            let p = decode_checked(d, r, Layout::Rgb).unwrap_or_else(|e| panic!("{name} 1/{r}: {e}"));
            let diff = max_diff_rgb_vs_bgr(&p, &opencv_decode(d, flags));
            line += &format!(" 1/{r} {}x{} diff {diff}", p.width, p.height);
        }
        let g = decode_checked(d, 1, Layout::Grey).unwrap();
        let cv_grey = opencv_decode(d, imgcodecs::IMREAD_GRAYSCALE);
        assert_eq!(g.data, cv_grey.data_bytes().unwrap(), "{name}: grey differs from OpenCV's");
        out.push(line);
    }
    expect_test::expect![[r#"
        1x1: 1/1 1x1 diff 0 1/2 1x1 diff 0 1/4 1x1 diff 0 1/8 1x1 diff 0
        17x9: 1/1 17x9 diff 0 1/2 9x5 diff 0 1/4 5x3 diff 0 1/8 3x2 diff 0
        1279x719: 1/1 1279x719 diff 0 1/2 640x360 diff 0 1/4 320x180 diff 0 1/8 160x90 diff 0
        grey 333x222: 1/1 333x222 diff 0 1/2 167x111 diff 0 1/4 84x56 diff 0 1/8 42x28 diff 0
        10000x10: 1/1 10000x10 diff 0 1/2 5000x5 diff 0 1/4 2500x3 diff 0 1/8 1250x2 diff 0
        optimised tables: 1/1 640x480 diff 0 1/2 320x240 diff 0 1/4 160x120 diff 0 1/8 80x60 diff 0
        restart every 3 MCUs: 1/1 300x200 diff 0 1/2 150x100 diff 0 1/4 75x50 diff 0 1/8 38x25 diff 0
        quality 100: 1/1 200x100 diff 0 1/2 100x50 diff 0 1/4 50x25 diff 0 1/8 25x13 diff 0
        progressive: 1/1 320x240 diff 0 1/2 160x120 diff 0 1/4 80x60 diff 0 1/8 40x30 diff 0"#]]
    .assert_eq(&out.join("\n"));
}

#[test]
fn damaged_scan_data_is_refused() {
    let good = encode(&picture(320, 240, 3), &[imgcodecs::IMWRITE_JPEG_QUALITY, 85]);
    let rst =
        encode(&picture(320, 240, 3), &[imgcodecs::IMWRITE_JPEG_QUALITY, 85, imgcodecs::IMWRITE_JPEG_RST_INTERVAL, 2]);
    let n = good.len();
    // Cut in the middle, then an EOI appended: libjpeg alone would grey-fill the rest.
    let mut cut_eoi = good[..n / 2].to_vec();
    cut_eoi.extend([0xFF, 0xD9]);
    // A chunk of the scan missing (a lost USB packet), structure intact.
    let mut hole = good[..n / 2].to_vec();
    hole.extend(&good[n / 2 + 300..]);
    // Bytes inserted before EOI.
    let mut extra = good[..n - 2].to_vec();
    extra.extend([0x12, 0x34, 0x56, 0x78, 0x9A, 0xFF, 0xD9]);
    // A restart marker out of sequence.
    let mut bad_rst = rst.clone();
    let first_rst = bad_rst.windows(2).position(|w| w[0] == 0xFF && (0xD0..=0xD7).contains(&w[1])).unwrap();
    bad_rst[first_rst + 1] = 0xD5;
    // Cut off with no EOI at all: the marker walk's error.
    let cut = good[..n / 2].to_vec();
    let cases = [
        ("cut + EOI", cut_eoi),
        ("hole", hole),
        ("extra bytes", extra),
        ("restart out of order", bad_rst),
        ("cut", cut),
    ];
    let mut out = Vec::new();
    for (name, d) in &cases {
        for layout in [Layout::Rgb, Layout::Grey] {
            for r in [1, 8] {
                let line = match decode_checked(d, r, layout) {
                    Ok(_) => format!("{name}: accepted"),
                    Err(JpegError::Truncated(what)) => format!("{name}: truncated: {what}"),
                    Err(e) => format!("{name}: {e}"),
                };
                if !out.contains(&line) {
                    out.push(line);
                }
            }
        }
    }
    expect_test::expect![[r#"
        cut + EOI: corrupt jpeg: libjpeg: Corrupt JPEG data: premature end of data segment
        hole: corrupt jpeg: libjpeg: Corrupt JPEG data: premature end of data segment
        extra bytes: corrupt jpeg: libjpeg: Corrupt JPEG data: 1 extraneous bytes before marker 0xd9
        restart out of order: corrupt jpeg: libjpeg: Corrupt JPEG data: found marker 0xd5 instead of RST0
        cut: truncated: image data runs to the end of the file (11106 bytes) without an end-of-image marker"#]]
    .assert_eq(&out.join("\n"));
}

#[test]
fn a_header_taller_than_its_scan_is_refused() {
    // The marker walk passes (the header says a taller picture than the scan holds, EOI in place);
    // libjpeg runs out of data mid-picture and says so: an error, not a grey-filled bottom.
    let good = encode(&picture(64, 64, 3), &[imgcodecs::IMWRITE_JPEG_QUALITY, 85]);
    let mut tall = good.clone();
    let sof = tall.windows(2).position(|w| w == [0xFF, 0xC0]).unwrap();
    tall[sof + 5..sof + 7].copy_from_slice(&640u16.to_be_bytes());
    let r = decode_checked(&tall, 1, Layout::Rgb);
    assert!(matches!(r, Err(JpegError::Decode(_) | JpegError::Truncated(_))), "{r:?}");
}

#[test]
fn most_random_damage_is_found() {
    let good = encode(&picture(320, 240, 3), &[imgcodecs::IMWRITE_JPEG_QUALITY, 85]);
    let scan_start = good.windows(2).position(|w| w == [0xFF, 0xDA]).unwrap() + 20;
    let mut s: u64 = 0x2545_F491_4F6C_DD1D;
    let mut rand = move || {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        s
    };
    let mut found = 0;
    for _ in 0..100 {
        let mut d = good.clone();
        let i = scan_start + (rand() as usize) % (d.len() - scan_start - 2);
        d[i] = d[i].wrapping_add(1 + (rand() % 255) as u8);
        if decode_checked(&d, 2, Layout::Rgb).is_err() {
            found += 1;
        }
    }
    // libjpeg finds 16 of these 100 (the Huffman walk that ran before it, now gone, found at least 25: it
    // also refused AC runs past the 64th coefficient, which libjpeg clamps silently); the rest decode to
    // slightly wrong blocks. Cut, holed or several-byte damage is nearly always found (tests/vision_decode.rs).
    assert!(found >= 12, "only {found} of 100 single-byte corruptions found");
}

#[test]
fn random_damage_anywhere_never_panics() {
    let good =
        encode(&picture(24, 16, 3), &[imgcodecs::IMWRITE_JPEG_QUALITY, 75, imgcodecs::IMWRITE_JPEG_RST_INTERVAL, 1]);
    let mut s: u64 = 0x0123_4567_89AB_CDEF;
    let mut rand = move || {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        s
    };
    for _ in 0..3000 {
        let mut d = good.clone();
        for _ in 0..1 + rand() % 4 {
            let i = (rand() as usize) % d.len();
            d[i] = (rand() & 0xFF) as u8;
        }
        if rand() % 4 == 0 {
            d.truncate((rand() as usize) % d.len());
        }
        let r = [1, 2, 8][(rand() % 3) as usize];
        let bad = decode_checked(&d, r, Layout::Rgb).is_err(); // must return, Ok or Err, without panicking
        // The next good frame decodes whatever the last one did to the (per-thread, reused) decoder.
        let next = decode_checked(&good, r, Layout::Rgb);
        assert!(next.is_ok(), "a good frame after a {} one: {next:?}", if bad { "refused" } else { "damaged" });
    }
}

#[test]
fn scaled_sizes_round_up_and_other_factors_are_refused() {
    assert_eq!(scaled_size((1280, 720), 2), (640, 360));
    assert_eq!(scaled_size((1279, 719), 4), (320, 180));
    assert_eq!(scaled_size((17, 9), 8), (3, 2));
    assert_eq!(scaled_size((5, 5), 0), (5, 5));
    let d = encode(&picture(32, 32, 3), &[imgcodecs::IMWRITE_JPEG_QUALITY, 85]);
    assert!(matches!(decode(&d, (32, 32), 3, Layout::Rgb), Err(JpegError::Decode(_))));
    // Headers and the caller's idea of the size disagree: refused before any pixel is written.
    assert!(matches!(decode(&d, (64, 32), 1, Layout::Rgb), Err(JpegError::Decode(_))));
    assert!(check(&d, (32, 32)).is_ok());
}

mod cmyk {
    //! TurboJPEG's encoder is the only one at hand that writes CMYK (YCCK) JPEGs, as print-shop
    //! scans and some stock photos are: test-only bindings.
    use std::ffi::{c_int, c_uchar, c_ulong, c_void};

    #[link(name = "turbojpeg")]
    unsafe extern "C" {
        fn tjInitCompress() -> *mut c_void;
        fn tjCompress2(
            handle: *mut c_void,
            src: *const c_uchar,
            width: c_int,
            pitch: c_int,
            height: c_int,
            pixel_format: c_int,
            jpeg_buf: *mut *mut c_uchar,
            jpeg_size: *mut c_ulong,
            subsamp: c_int,
            quality: c_int,
            flags: c_int,
        ) -> c_int;
        fn tjFree(buf: *mut c_uchar);
        fn tjDestroy(handle: *mut c_void) -> c_int;
    }

    /// A `w`×`h` CMYK JPEG (4:4:4, quality 95) of `px` (4 bytes a pixel).
    pub fn encode(px: &[u8], w: i32, h: i32) -> Vec<u8> {
        // SAFETY: test-only; px holds w*h*4 bytes, the output buffer is allocated by TurboJPEG and freed here.
        unsafe {
            let h_ = tjInitCompress();
            assert!(!h_.is_null());
            let (mut buf, mut len): (*mut c_uchar, c_ulong) = (std::ptr::null_mut(), 0);
            let rc = tjCompress2(h_, px.as_ptr(), w, 4 * w, h, super::TJPF_CMYK, &mut buf, &mut len, 0, 95, 0);
            assert_eq!(rc, 0);
            let out = std::slice::from_raw_parts(buf, len as usize).to_vec();
            tjFree(buf);
            tjDestroy(h_);
            out
        }
    }
}

#[test]
fn cmyk_jpegs_decode_to_the_colours_opencv_reads() {
    // Left half (C,M,Y,K) = (200,100,50,255): Adobe's inverted ink, so about RGB (200,100,50);
    // right half with K = 128, about half as bright.
    let (w, h) = (32, 16);
    let mut px = Vec::new();
    for _y in 0..h {
        for x in 0..w {
            px.extend(if x < w / 2 { [200, 100, 50, 255] } else { [200, 100, 50, 128] });
        }
    }
    let d = cmyk::encode(&px, w, h);
    let info = inspect(&d).unwrap();
    assert_eq!(info.components, 4);
    let rgb = decode(&d, (32, 16), 1, Layout::Rgb).unwrap();
    let diff = max_diff_rgb_vs_bgr(&rgb, &opencv_decode(&d, imgcodecs::IMREAD_COLOR));
    assert!(diff <= 1, "CMYK decode differs from OpenCV's by {diff}");
    let left = &rgb.data[3 * 4..3 * 4 + 3];
    assert!(left[0].abs_diff(200) <= 3 && left[1].abs_diff(100) <= 3 && left[2].abs_diff(50) <= 3, "{left:?}");
    let right = &rgb.data[3 * 28..3 * 28 + 3];
    assert!(right[0].abs_diff(100) <= 3, "{right:?}");
    let grey = decode(&d, (32, 16), 2, Layout::Grey).unwrap();
    assert_eq!((grey.width, grey.height, grey.data.len()), (16, 8, 128));
    // ~0.299·200 + 0.587·100 + 0.114·50 = 124 on the left.
    assert!(grey.data[2].abs_diff(124) <= 3, "{:?}", &grey.data[..4]);
    // A truncated CMYK file is refused like any other.
    let cut = &d[..d.len() * 2 / 3];
    assert!(decode_checked(cut, 1, Layout::Rgb).is_err());
}
