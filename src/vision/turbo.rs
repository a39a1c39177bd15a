//! JPEG decoding through the system's libjpeg-turbo (TurboJPEG API, Debian's `libturbojpeg0`).
//!
//! Owns the one place frames' compressed pixels are decoded: the classifier's
//! RGB (scaled down 1/2, 1/4 or 1/8 inside the decoder when the model input
//! allows, `preprocess`), the geometry checks' grey and the print's crop
//! (`grey`). The decoder is told to stop on warnings, so a frame that is cut
//! off, has a hole, carries a bad Huffman code or a restart marker out of
//! order is an error here instead of a grey-filled picture, without a second
//! pass over the entropy-coded data; progressive files are limited to 500
//! scans. `jpeg::inspect` (the marker walk, sizes) runs before this and
//! decides the frame size checks. One decompressor per thread, reused while
//! frames decode, replaced after an error.

use std::cell::RefCell;
use std::ffi::{CStr, c_char, c_int, c_uchar, c_ulong, c_void};

use super::jpeg::JpegError;

type TjHandle = *mut c_void;

const TJPF_RGB: c_int = 0;
const TJPF_GRAY: c_int = 6;
const TJPF_CMYK: c_int = 11;
const TJCS_CMYK: c_int = 3;
const TJCS_YCCK: c_int = 4;
/// Treat libjpeg's warnings (premature end, corrupt data) as errors.
const TJFLAG_STOPONWARNING: c_int = 8192;
/// Refuse progressive files with more than 500 scans (a cheap-to-send, costly-to-decode file).
const TJFLAG_LIMITSCANS: c_int = 32768;
const FLAGS: c_int = TJFLAG_STOPONWARNING | TJFLAG_LIMITSCANS;

#[link(name = "turbojpeg")]
unsafe extern "C" {
    fn tjInitDecompress() -> TjHandle;
    fn tjDecompressHeader3(
        handle: TjHandle,
        jpeg_buf: *const c_uchar,
        jpeg_size: c_ulong,
        width: *mut c_int,
        height: *mut c_int,
        subsamp: *mut c_int,
        colorspace: *mut c_int,
    ) -> c_int;
    fn tjDecompress2(
        handle: TjHandle,
        jpeg_buf: *const c_uchar,
        jpeg_size: c_ulong,
        dst_buf: *mut c_uchar,
        width: c_int,
        pitch: c_int,
        height: c_int,
        pixel_format: c_int,
        flags: c_int,
    ) -> c_int;
    fn tjGetErrorStr2(handle: TjHandle) -> *mut c_char;
    fn tjDestroy(handle: TjHandle) -> c_int;
}

/// Pixel layout asked of the decoder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// 3 bytes a pixel, R G B.
    Rgb,
    /// 1 byte a pixel: the luma (the Y plane of a YCbCr JPEG, as libjpeg's grayscale output).
    Grey,
}

impl Layout {
    fn channels(self) -> usize {
        match self {
            Layout::Rgb => 3,
            Layout::Grey => 1,
        }
    }
}

/// Decoded pixels, rows packed without padding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pixels {
    pub width: u32,
    pub height: u32,
    pub layout: Layout,
    pub data: Vec<u8>,
}

/// Size libjpeg gives an image of `size` decoded at 1/`reduction` (rounded up, as `TJSCALED`).
pub fn scaled_size(size: (u32, u32), reduction: u32) -> (u32, u32) {
    let r = reduction.max(1);
    (size.0.div_ceil(r), size.1.div_ceil(r))
}

/// Decodes `data` (a JPEG of `size` pixels per its frame header, already through
/// `jpeg::inspect`) at 1/`reduction` (1, 2, 4 or 8) into `layout`.
pub fn decode(data: &[u8], size: (u32, u32), reduction: u32, layout: Layout) -> Result<Pixels, JpegError> {
    if !matches!(reduction, 1 | 2 | 4 | 8) {
        return Err(JpegError::Decode(format!("no 1/{reduction} scaled decoding")));
    }
    with_handle(|h| h.decode(data, size, reduction, layout))
}

/// Decodes the whole of `data` at 1/8 scale and drops the pixels: whether libjpeg
/// takes the frame (for tests' fakes that must refuse what the real classifier refuses).
pub fn check(data: &[u8], size: (u32, u32)) -> Result<(), JpegError> {
    decode(data, size, 8, Layout::Grey).map(drop)
}

/// A TurboJPEG decompressor. Not shared between threads.
struct Handle(TjHandle);

impl Drop for Handle {
    fn drop(&mut self) {
        // SAFETY: the handle came from tjInitDecompress, is non-null and is destroyed once.
        unsafe { tjDestroy(self.0) };
    }
}

thread_local! {
    static HANDLE: RefCell<Option<Handle>> = const { RefCell::new(None) };
}

fn with_handle<T>(f: impl FnOnce(&Handle) -> Result<T, JpegError>) -> Result<T, JpegError> {
    HANDLE.with(|cell| {
        let mut slot = cell.try_borrow_mut().map_err(|_| JpegError::Decode("decoder re-entered".into()))?;
        if slot.is_none() {
            // SAFETY: tjInitDecompress takes no arguments and returns a new handle or null.
            let h = unsafe { tjInitDecompress() };
            if h.is_null() {
                return Err(JpegError::Decode("libturbojpeg cannot make a decompressor".into()));
            }
            *slot = Some(Handle(h));
        }
        let r = match slot.as_ref() {
            Some(h) => f(h),
            None => Err(JpegError::Decode("no decompressor".into())),
        };
        if r.is_err() {
            // After libjpeg gave up half-way, the handle may carry state into the next frame (seen
            // with libjpeg-turbo 2.1: a good frame refused after some damaged ones): start afresh.
            *slot = None;
        }
        r
    })
}

impl Handle {
    fn error(&self) -> JpegError {
        // SAFETY: tjGetErrorStr2 returns a NUL-terminated string owned by the handle (or a static one).
        let msg = unsafe {
            let p = tjGetErrorStr2(self.0);
            if p.is_null() { String::from("unknown error") } else { CStr::from_ptr(p).to_string_lossy().into_owned() }
        };
        // libjpeg's JWRN_JPEG_EOF: the data ran out before the image was complete.
        if msg.contains("Premature end of JPEG file") {
            JpegError::Truncated(format!("libjpeg: {msg}"))
        } else {
            JpegError::Decode(msg)
        }
    }

    fn decode(&self, data: &[u8], size: (u32, u32), reduction: u32, layout: Layout) -> Result<Pixels, JpegError> {
        let len = c_ulong::try_from(data.len()).map_err(|_| JpegError::Decode("frame too large".into()))?;
        let (mut w, mut h, mut sub, mut cs) = (0, 0, 0, 0);
        // SAFETY: data is a live slice of `len` bytes; the four out-pointers are our locals.
        let rc = unsafe { tjDecompressHeader3(self.0, data.as_ptr(), len, &mut w, &mut h, &mut sub, &mut cs) };
        if rc != 0 {
            return Err(self.error());
        }
        if (w.max(0) as u32, h.max(0) as u32) != size {
            return Err(JpegError::Decode(format!(
                "libjpeg reads a {w}x{h} frame where the headers say {}x{}",
                size.0, size.1
            )));
        }
        let (sw, sh) = scaled_size(size, reduction);
        // libjpeg has no CMYK to RGB or grey conversion: decode CMYK and convert here (as OpenCV does).
        let cmyk = matches!(cs, TJCS_CMYK | TJCS_YCCK);
        let (format, channels) = match (cmyk, layout) {
            (true, _) => (TJPF_CMYK, 4),
            (false, Layout::Rgb) => (TJPF_RGB, 3),
            (false, Layout::Grey) => (TJPF_GRAY, 1),
        };
        let (pw, ph) = (sw as usize, sh as usize);
        let mut out = vec![0u8; pw * ph * channels];
        let pitch = c_int::try_from(pw * channels).map_err(|_| JpegError::Decode("row too wide".into()))?;
        // SAFETY: `out` holds pitch × sh bytes, exactly what libjpeg writes for an sw×sh image at this
        // pixel format; sw×sh is the scaled size libjpeg picks for a width/height request of sw×sh.
        let rc = unsafe {
            tjDecompress2(self.0, data.as_ptr(), len, out.as_mut_ptr(), sw as c_int, pitch, sh as c_int, format, FLAGS)
        };
        if rc != 0 {
            return Err(self.error());
        }
        if cmyk {
            out = cmyk_to(&out, layout);
        }
        debug_assert_eq!(out.len(), pw * ph * layout.channels());
        Ok(Pixels { width: sw, height: sh, layout, data: out })
    }
}

/// Adobe-style (inverted) CMYK as libjpeg outputs it to RGB or grey: R = C·K/255 and so on, as OpenCV reads it.
fn cmyk_to(cmyk: &[u8], layout: Layout) -> Vec<u8> {
    let ink = |v: u8, k: u8| -> u8 {
        let (v, k) = (i32::from(v), i32::from(k));
        (k - (((255 - v) * k) >> 8)).clamp(0, 255) as u8
    };
    let mut out = Vec::with_capacity(cmyk.len() / 4 * layout.channels());
    for p in cmyk.chunks_exact(4) {
        let (r, g, b) = (ink(p[0], p[3]), ink(p[1], p[3]), ink(p[2], p[3]));
        match layout {
            Layout::Rgb => out.extend([r, g, b]),
            Layout::Grey => {
                out.push(((u32::from(r) * 299 + u32::from(g) * 587 + u32::from(b) * 114 + 500) / 1000) as u8)
            }
        }
    }
    out
}

#[cfg(test)]
#[path = "turbo_tests.rs"]
mod tests;
