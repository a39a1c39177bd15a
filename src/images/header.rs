//! An image's format and size from its first bytes, for every format the
//! decoders are given (JPEG, PNG, BMP, WebP, TIFF), and the check that runs
//! before any decode: a known format, a size within the pixel limit, and for
//! PNG a whole chunk structure (lengths, CRCs, `IEND`), so libpng never sees a
//! file it would complain about on stderr. Pure: bytes in, facts or an error out.

use std::fmt;

/// Default pixel limit (about 7000×7000): no camera frame or dataset photo is
/// bigger, and decoding one costs about 150 MB. `camera.max_pixels`,
/// `classify --max-pixels` and `eval --max-pixels` set it.
pub const DEFAULT_MAX_PIXELS: u64 = 50_000_000;

/// Formats with a header check (the only ones handed to a decoder).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImageFormat {
    Jpeg,
    Png,
    Bmp,
    WebP,
    Tiff,
}

impl fmt::Display for ImageFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ImageFormat::Jpeg => "JPEG",
            ImageFormat::Png => "PNG",
            ImageFormat::Bmp => "BMP",
            ImageFormat::WebP => "WebP",
            ImageFormat::Tiff => "TIFF",
        })
    }
}

/// What the header says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ImageHeader {
    pub format: ImageFormat,
    pub width: u32,
    pub height: u32,
}

impl ImageHeader {
    pub fn pixels(&self) -> u64 {
        u64::from(self.width) * u64::from(self.height)
    }
}

/// Why an image is refused before decoding.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HeaderError {
    #[error("empty file (0 bytes)")]
    Empty,
    #[error("not an image this program reads (JPEG, PNG, BMP, WebP, TIFF): starts with {0}")]
    Unknown(String),
    #[error("{format} header is cut short or corrupt: {what}")]
    Corrupt { format: ImageFormat, what: String },
    #[error("{format} image has zero width or height ({width}x{height})")]
    Zero { format: ImageFormat, width: u32, height: u32 },
    #[error(
        "{format} image is {width}x{height} = {pixels} pixels, over the limit of {limit} pixels; \
         not decoded (a larger limit is `camera.max_pixels` or `--max-pixels`)"
    )]
    TooLarge { format: ImageFormat, width: u32, height: u32, pixels: u64, limit: u64 },
}

/// Reads the format and size from the header, and for PNG checks the chunk structure.
pub fn read_header(data: &[u8]) -> Result<ImageHeader, HeaderError> {
    if data.is_empty() {
        return Err(HeaderError::Empty);
    }
    let (format, size) = if data.starts_with(&[0xFF, 0xD8]) {
        (ImageFormat::Jpeg, jpeg_size(data))
    } else if data.starts_with(PNG_SIGNATURE) {
        (ImageFormat::Png, png_size(data))
    } else if data.starts_with(b"BM") {
        (ImageFormat::Bmp, bmp_size(data))
    } else if data.len() >= 12 && &data[..4] == b"RIFF" && &data[8..12] == b"WEBP" {
        (ImageFormat::WebP, webp_size(data))
    } else if data.starts_with(b"II*\0") || data.starts_with(b"MM\0*") {
        (ImageFormat::Tiff, tiff_size(data))
    } else {
        let head: Vec<String> = data.iter().take(8).map(|b| format!("{b:02x}")).collect();
        return Err(HeaderError::Unknown(format!("bytes {}", head.join(" "))));
    };
    let (width, height) = size.map_err(|what| HeaderError::Corrupt { format, what })?;
    if width == 0 || height == 0 {
        return Err(HeaderError::Zero { format, width, height });
    }
    Ok(ImageHeader { format, width, height })
}

/// [`read_header`], then refuses more than `max_pixels` pixels.
pub fn check_header(data: &[u8], max_pixels: u64) -> Result<ImageHeader, HeaderError> {
    let h = read_header(data)?;
    if h.pixels() > max_pixels {
        return Err(HeaderError::TooLarge {
            format: h.format,
            width: h.width,
            height: h.height,
            pixels: h.pixels(),
            limit: max_pixels,
        });
    }
    Ok(h)
}

fn be16(d: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes(d.get(at..at + 2)?.try_into().ok()?))
}

fn le16(d: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(d.get(at..at + 2)?.try_into().ok()?))
}

fn be32(d: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes(d.get(at..at + 4)?.try_into().ok()?))
}

fn le32(d: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(d.get(at..at + 4)?.try_into().ok()?))
}

fn le24(d: &[u8], at: usize) -> Option<u32> {
    let b = d.get(at..at + 3)?;
    Some(u32::from(b[0]) | u32::from(b[1]) << 8 | u32::from(b[2]) << 16)
}

fn short(what: &str) -> String {
    format!("{what} is cut short")
}

/// Width and height from a JPEG's frame header (SOF), reading marker segments only.
pub fn jpeg_size(data: &[u8]) -> Result<(u32, u32), String> {
    let mut pos = 2;
    loop {
        while data.get(pos) == Some(&0xFF) && data.get(pos + 1) == Some(&0xFF) {
            pos += 1;
        }
        let (Some(&ff), Some(&marker)) = (data.get(pos), data.get(pos + 1)) else {
            return Err("no frame header before the end of the file".into());
        };
        if ff != 0xFF {
            return Err(format!("expected a marker at byte {pos}"));
        }
        if matches!(marker, 0xD0..=0xD7 | 0x01) {
            pos += 2;
            continue;
        }
        if marker == 0xDA || marker == 0xD9 {
            return Err("no frame header before the image data".into());
        }
        if is_sof(marker) {
            let (Some(h), Some(w)) = (be16(data, pos + 5), be16(data, pos + 7)) else {
                return Err(short("frame header"));
            };
            return Ok((u32::from(w), u32::from(h)));
        }
        let len = be16(data, pos + 2).ok_or_else(|| short("marker segment"))?;
        pos += 2 + usize::from(len);
    }
}

/// SOF0–SOF15 except DHT (C4), JPG (C8) and DAC (CC).
pub fn is_sof(marker: u8) -> bool {
    matches!(marker, 0xC0..=0xCF) && !matches!(marker, 0xC4 | 0xC8 | 0xCC)
}

const PNG_SIGNATURE: &[u8] = b"\x89PNG\r\n\x1a\n";

/// IHDR's size, after walking every chunk: each fits in the file and has the
/// right CRC, IHDR comes first, at least one IDAT, and IEND ends it.
fn png_size(data: &[u8]) -> Result<(u32, u32), String> {
    let mut pos = PNG_SIGNATURE.len();
    let mut size = None;
    let mut idat = false;
    loop {
        let len = be32(data, pos).ok_or_else(|| format!("chunk header at byte {pos} is cut short"))? as usize;
        let kind = data.get(pos + 4..pos + 8).ok_or_else(|| format!("chunk header at byte {pos} is cut short"))?;
        let name = String::from_utf8_lossy(kind).into_owned();
        let end = pos.checked_add(12).and_then(|e| e.checked_add(len)).filter(|e| *e <= data.len());
        let Some(end) = end else {
            return Err(format!("chunk {name} at byte {pos} runs past the end of the file"));
        };
        let want = be32(data, end - 4).unwrap_or(0);
        if crc32(&data[pos + 4..end - 4]) != want {
            return Err(format!("chunk {name} at byte {pos} fails its CRC check"));
        }
        match kind {
            b"IHDR" if size.is_none() && len >= 8 => {
                size = Some((be32(data, pos + 8).unwrap_or(0), be32(data, pos + 12).unwrap_or(0)));
            }
            _ if size.is_none() => return Err(format!("first chunk is {name}, not IHDR")),
            b"IDAT" => idat = true,
            b"IEND" => break,
            _ => {}
        }
        pos = end;
    }
    if !idat {
        return Err("no image data (IDAT chunk)".into());
    }
    size.ok_or_else(|| "no IHDR chunk".into())
}

/// CRC-32 (ISO-HDLC, as PNG uses), bitwise: headers are small and whole files are checked once.
fn crc32(data: &[u8]) -> u32 {
    static TABLE: std::sync::OnceLock<[u32; 256]> = std::sync::OnceLock::new();
    let table = TABLE.get_or_init(|| {
        let mut t = [0u32; 256];
        for (n, e) in t.iter_mut().enumerate() {
            let mut c = n as u32;
            for _ in 0..8 {
                c = if c & 1 != 0 { 0xEDB8_8320 ^ (c >> 1) } else { c >> 1 };
            }
            *e = c;
        }
        t
    });
    let mut c = 0xFFFF_FFFFu32;
    for &b in data {
        c = table[((c ^ u32::from(b)) & 0xFF) as usize] ^ (c >> 8);
    }
    c ^ 0xFFFF_FFFF
}

fn bmp_size(data: &[u8]) -> Result<(u32, u32), String> {
    let dib = le32(data, 14).ok_or_else(|| short("BMP header"))?;
    if dib == 12 {
        let (Some(w), Some(h)) = (le16(data, 18), le16(data, 20)) else { return Err(short("BMP core header")) };
        return Ok((u32::from(w), u32::from(h)));
    }
    let (Some(w), Some(h)) = (le32(data, 18), le32(data, 22)) else { return Err(short("BMP info header")) };
    // Width is signed but never negative; a negative height means top-down rows.
    let (w, h) = (w as i32, h as i32);
    if w < 0 {
        return Err(format!("negative width {w}"));
    }
    Ok((w.unsigned_abs(), h.unsigned_abs()))
}

fn webp_size(data: &[u8]) -> Result<(u32, u32), String> {
    let chunk = data.get(12..16).ok_or_else(|| short("WebP header"))?;
    match chunk {
        b"VP8X" => {
            let (Some(w), Some(h)) = (le24(data, 24), le24(data, 27)) else { return Err(short("VP8X chunk")) };
            Ok((w + 1, h + 1))
        }
        b"VP8L" => {
            if data.get(20) != Some(&0x2F) {
                return Err("VP8L chunk without its signature byte".into());
            }
            let bits = le32(data, 21).ok_or_else(|| short("VP8L chunk"))?;
            Ok(((bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1))
        }
        b"VP8 " => {
            if data.get(23..26) != Some(&[0x9D, 0x01, 0x2A]) {
                return Err("VP8 chunk without its start code".into());
            }
            let (Some(w), Some(h)) = (le16(data, 26), le16(data, 28)) else { return Err(short("VP8 frame header")) };
            Ok((u32::from(w & 0x3FFF), u32::from(h & 0x3FFF)))
        }
        other => Err(format!("unknown first chunk {:?}", String::from_utf8_lossy(other))),
    }
}

/// Width and height of the first image (IFD) of a classic TIFF.
fn tiff_size(data: &[u8]) -> Result<(u32, u32), String> {
    let le = data.starts_with(b"II");
    let u16_at = |at: usize| if le { le16(data, at) } else { be16(data, at) };
    let u32_at = |at: usize| if le { le32(data, at) } else { be32(data, at) };
    let ifd = u32_at(4).ok_or_else(|| short("TIFF header"))? as usize;
    let count = u16_at(ifd).ok_or_else(|| format!("first directory at byte {ifd} is outside the file"))?;
    let (mut w, mut h) = (None, None);
    for i in 0..usize::from(count) {
        let at = ifd + 2 + i * 12;
        let (Some(tag), Some(kind)) = (u16_at(at), u16_at(at + 2)) else { return Err(short("TIFF directory")) };
        let value = match kind {
            3 => u16_at(at + 8).map(u32::from),
            4 => u32_at(at + 8),
            _ => None,
        };
        match tag {
            256 => w = value,
            257 => h = value,
            _ => {}
        }
    }
    match (w, h) {
        (Some(w), Some(h)) => Ok((w, h)),
        _ => Err("first directory has no image width and length".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn png_chunk(out: &mut Vec<u8>, kind: &[u8], body: &[u8]) {
        out.extend((body.len() as u32).to_be_bytes());
        let mut c = kind.to_vec();
        c.extend(body);
        out.extend(&c);
        out.extend(crc32(&c).to_be_bytes());
    }

    /// A PNG whose IHDR claims `w`×`h` (the data is not a valid image; headers only).
    pub(crate) fn png(w: u32, h: u32) -> Vec<u8> {
        let mut d = PNG_SIGNATURE.to_vec();
        let mut ihdr = w.to_be_bytes().to_vec();
        ihdr.extend(h.to_be_bytes());
        ihdr.extend([8, 2, 0, 0, 0]);
        png_chunk(&mut d, b"IHDR", &ihdr);
        png_chunk(&mut d, b"IDAT", &[0x78, 0x9c, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01]);
        png_chunk(&mut d, b"IEND", &[]);
        d
    }

    fn show(data: &[u8]) -> String {
        match check_header(data, 1000 * 1000) {
            Ok(h) => format!("{} {}x{}", h.format, h.width, h.height),
            Err(e) => format!("error: {e}"),
        }
    }

    #[test]
    fn crc_matches_the_reference_value() {
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
    }

    #[test]
    fn every_format_reports_its_size_or_a_clear_error() {
        let mut bmp = b"BM".to_vec();
        bmp.extend([0u8; 12]);
        bmp.extend(40u32.to_le_bytes());
        bmp.extend(640i32.to_le_bytes());
        bmp.extend((-480i32).to_le_bytes());
        let mut webp_l = b"RIFF\0\0\0\0WEBPVP8L\0\0\0\0\x2f".to_vec();
        webp_l.extend((319u32 | (239 << 14)).to_le_bytes());
        let mut webp_x = b"RIFF\0\0\0\0WEBPVP8X\0\0\0\0\0\0\0\0".to_vec();
        webp_x.extend([0x3F, 0x01, 0x00, 0xEF, 0x00, 0x00]);
        let mut webp_lossy = b"RIFF\0\0\0\0WEBPVP8 \0\0\0\0\0\0\0\x9d\x01\x2a".to_vec();
        webp_lossy.extend(1280u16.to_le_bytes());
        webp_lossy.extend(720u16.to_le_bytes());
        let mut tiff = b"II*\0\x08\0\0\0\x02\0".to_vec();
        tiff.extend([0x00, 0x01, 3, 0, 1, 0, 0, 0, 0x20, 0x03, 0, 0]); // width 800 (SHORT)
        tiff.extend([0x01, 0x01, 4, 0, 1, 0, 0, 0, 0x58, 0x02, 0, 0]); // length 600 (LONG)
        let jpeg = [0xFF, 0xD8, 0xFF, 0xE0, 0, 4, 0, 0, 0xFF, 0xC0, 0, 11, 8, 0x01, 0xE0, 0x02, 0x80, 3];
        let mut bad_crc = png(10, 10);
        let n = bad_crc.len();
        bad_crc[n - 20] ^= 1;
        let cases: Vec<(&str, Vec<u8>)> = vec![
            ("png", png(640, 480)),
            ("png bomb", png(20000, 20000)),
            ("png zero", png(0, 10)),
            ("png bad crc", bad_crc),
            ("png cut", png(10, 10)[..30].to_vec()),
            ("bmp", bmp),
            ("webp lossless", webp_l),
            ("webp extended", webp_x),
            ("webp lossy", webp_lossy),
            ("tiff", tiff),
            ("jpeg", jpeg.to_vec()),
            ("jpeg cut", jpeg[..12].to_vec()),
            ("gif", b"GIF89a\x01\0\x01\0".to_vec()),
            ("empty", vec![]),
        ];
        let got: Vec<String> = cases.iter().map(|(n, d)| format!("{n}: {}", show(d))).collect();
        expect_test::expect![[r#"
            png: PNG 640x480
            png bomb: error: PNG image is 20000x20000 = 400000000 pixels, over the limit of 1000000 pixels; not decoded (a larger limit is `camera.max_pixels` or `--max-pixels`)
            png zero: error: PNG image has zero width or height (0x10)
            png bad crc: error: PNG header is cut short or corrupt: chunk IDAT at byte 33 fails its CRC check
            png cut: error: PNG header is cut short or corrupt: chunk IHDR at byte 8 runs past the end of the file
            bmp: BMP 640x480
            webp lossless: WebP 320x240
            webp extended: WebP 320x240
            webp lossy: WebP 1280x720
            tiff: TIFF 800x600
            jpeg: JPEG 640x480
            jpeg cut: error: JPEG header is cut short or corrupt: frame header is cut short
            gif: error: not an image this program reads (JPEG, PNG, BMP, WebP, TIFF): starts with bytes 47 49 46 38 39 61 01 00
            empty: error: empty file (0 bytes)"#]]
        .assert_eq(&got.join("\n"));
    }

    #[test]
    fn every_prefix_is_refused_without_panicking() {
        let full = png(16, 16);
        for n in 0..full.len() {
            assert!(read_header(&full[..n]).is_err(), "prefix {n}");
        }
    }
}
