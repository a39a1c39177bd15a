//! JPEG structure checks that run before any pixel is decoded.
//!
//! Owns walking a JPEG's marker segments: it finds the frame size (to pick
//! libjpeg's scaled decoding and refuse absurd sizes) and proves the file's
//! structure is whole — SOI first, a frame header, at least one scan, no
//! invalid `0xFF xx` pair in the entropy-coded data and an EOI at the end. The
//! Huffman-coded data itself is checked by the decoder (`turbo`, which stops
//! on libjpeg's warnings): a cut-off, holed or garbled scan is an error there,
//! never a grey-filled picture. Pure: bytes in, facts or an error out, no
//! decoding and no I/O; it costs a `memchr` over the frame.

/// Largest frame accepted, in pixels (about 7000×7000): bigger is not a camera
/// frame, and decoding it would cost hundreds of megabytes. The same default
/// `images` checks every image file against before decoding.
pub const MAX_PIXELS: u64 = crate::images::DEFAULT_MAX_PIXELS;

/// What the headers say about a JPEG.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JpegInfo {
    pub width: u32,
    pub height: u32,
    /// Colour components in the frame: 1 grey, 3 YCbCr, 4 CMYK/YCCK.
    pub components: u8,
    pub progressive: bool,
    /// Number of scans (1 for baseline, several for progressive).
    pub scans: u32,
}

/// Why bytes are not a usable JPEG.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JpegError {
    #[error("empty input (0 bytes)")]
    Empty,
    #[error("not a jpeg: starts with {0}")]
    NotJpeg(String),
    #[error("truncated jpeg: {0}")]
    Truncated(String),
    #[error("corrupt jpeg at byte {offset}: {what}")]
    Corrupt { offset: usize, what: String },
    #[error("unsupported jpeg size {width}x{height}: {why}")]
    BadSize { width: u32, height: u32, why: &'static str },
    /// libjpeg refused the image data (a warning such as a bad Huffman code stops the decode).
    #[error("corrupt jpeg: libjpeg: {0}")]
    Decode(String),
}

/// Walks the marker segments of `data` and returns the frame description.
///
/// Accepts trailing bytes after EOI (some cameras pad frames). Rejects: no
/// SOI, a segment running past the end, a scan before the frame header, no
/// scan, entropy-coded data with an invalid `0xFF xx` sequence, and no EOI.
/// What is inside the entropy-coded data is for the decoder to judge.
pub fn inspect(data: &[u8]) -> Result<JpegInfo, JpegError> {
    if data.is_empty() {
        return Err(JpegError::Empty);
    }
    if data.len() < 2 || data[0] != 0xFF || data[1] != 0xD8 {
        let head: Vec<String> = data.iter().take(4).map(|b| format!("{b:02x}")).collect();
        return Err(JpegError::NotJpeg(format!("bytes {}, expected ff d8", head.join(" "))));
    }
    let mut pos = 2usize;
    let mut frame: Option<JpegInfo> = None;
    let mut scans = 0u32;
    loop {
        if pos >= data.len() {
            return Err(JpegError::Truncated(format!(
                "file ends at byte {} before the end-of-image marker",
                data.len()
            )));
        }
        if data[pos] != 0xFF {
            return Err(JpegError::Corrupt {
                offset: pos,
                what: format!("expected a marker, found 0x{:02x}", data[pos]),
            });
        }
        // Any number of 0xFF fill bytes may precede a marker.
        while pos < data.len() && data[pos] == 0xFF {
            pos += 1;
        }
        let Some(&marker) = data.get(pos) else {
            return Err(JpegError::Truncated("file ends inside a marker".into()));
        };
        let marker_at = pos - 1;
        pos += 1;
        match marker {
            0xD9 => break,
            0xD0..=0xD7 | 0x01 => continue,
            0x00 | 0xD8 => {
                return Err(JpegError::Corrupt {
                    offset: marker_at,
                    what: format!("unexpected marker ff {marker:02x}"),
                });
            }
            _ => {}
        }
        let Some(len_bytes) = data.get(pos..pos + 2) else {
            return Err(JpegError::Truncated(format!(
                "file ends in the header of segment ff {marker:02x}"
            )));
        };
        let len = usize::from(u16::from_be_bytes([len_bytes[0], len_bytes[1]]));
        if len < 2 {
            return Err(JpegError::Corrupt {
                offset: pos,
                what: format!("segment ff {marker:02x} has length {len}"),
            });
        }
        let Some(body) = data.get(pos + 2..pos + len) else {
            return Err(JpegError::Truncated(format!(
                "segment ff {marker:02x} at byte {marker_at} needs {len} bytes, {} left",
                data.len().saturating_sub(pos)
            )));
        };
        pos += len;
        if is_sof(marker) {
            if frame.is_some() {
                return Err(JpegError::Corrupt {
                    offset: marker_at,
                    what: "second frame header".into(),
                });
            }
            frame = Some(parse_sof(marker, body, marker_at)?);
        } else if marker == 0xDA {
            if frame.is_none() {
                return Err(JpegError::Corrupt {
                    offset: marker_at,
                    what: "scan before the frame header".into(),
                });
            }
            scans += 1;
            pos = skip_entropy_data(data, pos)?;
        }
    }
    let Some(mut info) = frame else {
        return Err(JpegError::Corrupt {
            offset: pos,
            what: "no frame header (SOF) before the end-of-image marker".into(),
        });
    };
    if scans == 0 {
        return Err(JpegError::Corrupt {
            offset: pos,
            what: "no image data (SOS) before the end-of-image marker".into(),
        });
    }
    info.scans = scans;
    Ok(info)
}

/// Width and height from the frame header, reading headers only (no checks of the image data).
pub fn frame_size(data: &[u8]) -> Option<(u32, u32)> {
    if !data.starts_with(&[0xFF, 0xD8]) {
        return None;
    }
    crate::images::header::jpeg_size(data).ok()
}

use crate::images::header::is_sof;

fn parse_sof(marker: u8, body: &[u8], at: usize) -> Result<JpegInfo, JpegError> {
    if body.len() < 6 {
        return Err(JpegError::Corrupt {
            offset: at,
            what: format!("frame header of {} bytes", body.len()),
        });
    }
    let height = u32::from(u16::from_be_bytes([body[1], body[2]]));
    let width = u32::from(u16::from_be_bytes([body[3], body[4]]));
    let components = body[5];
    if width == 0 || height == 0 {
        return Err(JpegError::BadSize {
            width,
            height,
            why: "zero width or height",
        });
    }
    if u64::from(width) * u64::from(height) > MAX_PIXELS {
        return Err(JpegError::BadSize {
            width,
            height,
            why: "more than 50 megapixels",
        });
    }
    if !matches!(components, 1 | 3 | 4) {
        return Err(JpegError::Corrupt {
            offset: at,
            what: format!("{components} colour components"),
        });
    }
    let progressive = matches!(marker, 0xC2 | 0xC6 | 0xCA | 0xCE);
    Ok(JpegInfo {
        width,
        height,
        components,
        progressive,
        scans: 0,
    })
}

/// Skips entropy-coded data starting at `pos`; returns the offset of the next marker's 0xFF.
///
/// Inside scan data a 0xFF byte must be followed by 0x00 (stuffing), a restart
/// marker (D0–D7), more 0xFF fill, or the marker that ends the scan.
fn skip_entropy_data(data: &[u8], mut pos: usize) -> Result<usize, JpegError> {
    loop {
        let Some(i) = memchr::memchr(0xFF, &data[pos.min(data.len())..]) else {
            return Err(JpegError::Truncated(format!(
                "image data runs to the end of the file ({} bytes) without an end-of-image marker",
                data.len()
            )));
        };
        let ff = pos + i;
        match data.get(ff + 1) {
            None => return Err(JpegError::Truncated("file ends inside the image data".into())),
            Some(0x00) | Some(0xD0..=0xD7) => pos = ff + 2,
            Some(0xFF) => pos = ff + 1,
            Some(0xD9) | Some(0xC4) | Some(0xDA) | Some(0xDB) | Some(0xDD) | Some(0xDC) | Some(0xFE) => return Ok(ff),
            Some(0xE0..=0xEF) => return Ok(ff),
            Some(m) => {
                return Err(JpegError::Corrupt {
                    offset: ff,
                    what: format!("invalid byte pair ff {m:02x} in image data"),
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A minimal structurally valid baseline JPEG skeleton (not decodable, but well formed).
    fn skeleton(width: u16, height: u16, scan: &[u8]) -> Vec<u8> {
        let mut v = vec![0xFF, 0xD8];
        v.extend([0xFF, 0xE0, 0x00, 0x04, 0xAA, 0xBB]); // APP0 with 2 bytes of payload
        let [wh, wl] = width.to_be_bytes();
        let [hh, hl] = height.to_be_bytes();
        v.extend([0xFF, 0xC2, 0x00, 0x0B, 8, hh, hl, wh, wl, 1, 1, 0x11, 0]); // progressive: structure only
        v.extend([0xFF, 0xDA, 0x00, 0x08, 1, 1, 0, 0, 63, 0]);
        v.extend(scan);
        v.extend([0xFF, 0xD9]);
        v
    }

    fn check(data: &[u8]) -> String {
        match inspect(data) {
            Ok(i) => format!(
                "ok {}x{} c{} p{} s{}",
                i.width, i.height, i.components, i.progressive, i.scans
            ),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn structure_cases() {
        let good = skeleton(640, 480, &[0x12, 0xFF, 0x00, 0x34, 0xFF, 0xD0, 0x56]);
        let mut padded = good.clone();
        padded.extend([0, 0, 0]);
        let cut = &good[..good.len() - 2];
        let mut garbled = good.clone();
        let n = garbled.len();
        garbled[n - 4] = 0xFF; // ff 56 inside the scan
        let cases: Vec<(&str, Vec<u8>)> = vec![
            ("good", good.clone()),
            ("padded after EOI", padded),
            ("empty", vec![]),
            ("png", b"\x89PNG\r\n".to_vec()),
            ("no EOI", cut.to_vec()),
            ("cut in header", good[..12].to_vec()),
            ("garbled scan", garbled),
            ("zero size", skeleton(0, 480, &[1])),
            ("huge", skeleton(65535, 65535, &[1])),
            ("wide", skeleton(10000, 10, &[1])),
            (
                "no scan",
                vec![
                    0xFF, 0xD8, 0xFF, 0xC0, 0x00, 0x0B, 8, 0, 1, 0, 1, 1, 1, 0x11, 0, 0xFF, 0xD9,
                ],
            ),
        ];
        let out: Vec<String> = cases.iter().map(|(name, d)| format!("{name}: {}", check(d))).collect();
        expect_test::expect![[r#"
            good: ok 640x480 c1 ptrue s1
            padded after EOI: ok 640x480 c1 ptrue s1
            empty: empty input (0 bytes)
            png: not a jpeg: starts with bytes 89 50 4e 47, expected ff d8
            no EOI: truncated jpeg: image data runs to the end of the file (38 bytes) without an end-of-image marker
            cut in header: truncated jpeg: segment ff c2 at byte 8 needs 11 bytes, 2 left
            garbled scan: corrupt jpeg at byte 36: invalid byte pair ff 56 in image data
            zero size: unsupported jpeg size 0x480: zero width or height
            huge: unsupported jpeg size 65535x65535: more than 50 megapixels
            wide: ok 10000x10 c1 ptrue s1
            no scan: corrupt jpeg at byte 17: no image data (SOS) before the end-of-image marker"#]]
        .assert_eq(&out.join("\n"));
    }

    #[test]
    fn frame_size_reads_headers_only() {
        assert_eq!(frame_size(&skeleton(640, 480, &[1])), Some((640, 480)));
        assert_eq!(frame_size(&skeleton(640, 480, &[1])[..14]), None);
        assert_eq!(frame_size(b"GIF89a"), None);
    }

    #[test]
    fn every_prefix_of_a_jpeg_is_rejected_without_panicking() {
        let good = skeleton(32, 32, &[0x12, 0xFF, 0x00, 0x34, 0x56, 0x78]);
        for n in 0..good.len() {
            assert!(inspect(&good[..n]).is_err(), "prefix of {n} bytes accepted");
        }
        assert!(inspect(&good).is_ok());
    }
}
