//! Tests of the entropy check on real encoder output (libjpeg-turbo through OpenCV).

use opencv::core::{Mat, Scalar, Vector};
use opencv::imgcodecs;
use opencv::prelude::*;

use super::super::jpeg::{JpegError, inspect};

/// A noisy-but-smooth test picture (so blocks carry many AC codes), `channels` 1 or 3.
fn picture(w: i32, h: i32, channels: i32) -> Mat {
    let typ = if channels == 1 {
        opencv::core::CV_8UC1
    } else {
        opencv::core::CV_8UC3
    };
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

#[test]
fn real_encoder_output_passes_the_entropy_check() {
    let q = imgcodecs::IMWRITE_JPEG_QUALITY;
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("1x1", encode(&picture(1, 1, 3), &[q, 90])),
        ("17x9", encode(&picture(17, 9, 3), &[q, 90])),
        ("1279x719", encode(&picture(1279, 719, 3), &[q, 85])),
        ("grey 333x222", encode(&picture(333, 222, 1), &[q, 85])),
        ("10000x10", encode(&picture(10000, 10, 3), &[q, 85])),
        (
            "optimised tables",
            encode(&picture(640, 480, 3), &[q, 85, imgcodecs::IMWRITE_JPEG_OPTIMIZE, 1]),
        ),
        (
            "restart every 3 MCUs",
            encode(&picture(300, 200, 3), &[q, 85, imgcodecs::IMWRITE_JPEG_RST_INTERVAL, 3]),
        ),
        ("quality 100", encode(&picture(200, 100, 3), &[q, 100])),
        (
            "progressive",
            encode(&picture(320, 240, 3), &[q, 85, imgcodecs::IMWRITE_JPEG_PROGRESSIVE, 1]),
        ),
    ];
    let out: Vec<String> = cases
        .iter()
        .map(|(name, d)| match inspect(d) {
            Ok(i) => format!(
                "{name}: ok {}x{} scans {} checked {}",
                i.width, i.height, i.scans, i.entropy_checked
            ),
            Err(e) => format!("{name}: {e}"),
        })
        .collect();
    expect_test::expect![[r#"
        1x1: ok 1x1 scans 1 checked true
        17x9: ok 17x9 scans 1 checked true
        1279x719: ok 1279x719 scans 1 checked true
        grey 333x222: ok 333x222 scans 1 checked true
        10000x10: ok 10000x10 scans 1 checked true
        optimised tables: ok 640x480 scans 1 checked true
        restart every 3 MCUs: ok 300x200 scans 1 checked true
        quality 100: ok 200x100 scans 1 checked true
        progressive: ok 320x240 scans 10 checked false"#]]
    .assert_eq(&out.join("\n"));
}

#[test]
fn damaged_scan_data_is_found() {
    let good = encode(&picture(320, 240, 3), &[imgcodecs::IMWRITE_JPEG_QUALITY, 85]);
    let rst = encode(
        &picture(320, 240, 3),
        &[
            imgcodecs::IMWRITE_JPEG_QUALITY,
            85,
            imgcodecs::IMWRITE_JPEG_RST_INTERVAL,
            2,
        ],
    );
    let n = good.len();
    // Cut in the middle, then an EOI appended: libjpeg would grey-fill the rest.
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
    let first_rst = bad_rst
        .windows(2)
        .position(|w| w[0] == 0xFF && (0xD0..=0xD7).contains(&w[1]))
        .unwrap();
    bad_rst[first_rst + 1] = 0xD5;
    let cases = [
        ("cut + EOI", cut_eoi),
        ("hole", hole),
        ("extra bytes", extra),
        ("restart out of order", bad_rst),
    ];
    let out: Vec<String> = cases
        .iter()
        .map(|(name, d)| match inspect(d) {
            Ok(_) => format!("{name}: accepted"),
            Err(JpegError::Corrupt { what, .. }) => format!("{name}: corrupt: {what}"),
            Err(e) => format!("{name}: {e}"),
        })
        .collect();
    expect_test::expect![[r#"
        cut + EOI: corrupt: image data ends in MCU 145 of 300 (premature end of data segment)
        hole: corrupt: bad huffman code in MCU 149 of 300
        extra bytes: corrupt: 5 extraneous bytes before the marker after MCU 300
        restart out of order: corrupt: restart marker 5 where 0 was due"#]]
    .assert_eq(&out.join("\n"));
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
        if inspect(&d).is_err() {
            found += 1;
        }
    }
    // One changed byte is found about a third of the time; the rest decode to slightly wrong blocks,
    // which libjpeg cannot tell either. Several changed bytes are nearly always found (tests/vision_decode.rs).
    assert!(found >= 25, "only {found} of 100 single-byte corruptions found");
}

#[test]
fn impossible_huffman_tables_are_refused() {
    use super::Huffman;
    let mut counts = [0u8; 16];
    counts[0] = 3; // three codes of one bit cannot exist
    assert!(Huffman::new(&counts, &[1, 2, 3]).is_err());
    let mut counts = [0u8; 16];
    counts[1] = 4;
    counts[2] = 1; // four 2-bit codes use the whole space: no room for a 3-bit one
    assert!(Huffman::new(&counts, &[1, 2, 3, 4, 5]).is_err());
    assert!(Huffman::new(&[0; 16], &[]).is_err());
    let mut counts = [0u8; 16];
    counts[1] = 3;
    counts[15] = 1;
    assert!(Huffman::new(&counts, &[1, 2, 3, 4]).is_ok());
}

#[test]
fn random_damage_anywhere_never_panics() {
    let good = encode(
        &picture(24, 16, 3),
        &[
            imgcodecs::IMWRITE_JPEG_QUALITY,
            75,
            imgcodecs::IMWRITE_JPEG_RST_INTERVAL,
            1,
        ],
    );
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
        let _ = inspect(&d); // must return, Ok or Err, without panicking
    }
}
