//! Image files on disk, before any pixel is decoded: which files are images
//! (one extension rule), finding them under a folder (one walker, safe against
//! symlink cycles), and reading an image's size from its header so that an
//! oversized or unknown file is refused before a decoder allocates for it.
//!
//! Shared by `classify`, `eval`, `dataset` and the folder camera. A leaf:
//! std only, no I/O beyond listing folders, no decoding.

pub mod header;
pub mod walk;

pub use header::{DEFAULT_MAX_PIXELS, HeaderError, ImageFormat, ImageHeader, check_header, read_header};
pub use walk::{Walk, WalkSkip, is_image_path, natural_cmp, walk};

/// File extensions taken as images (any case). Every one has a header check in [`header`].
pub const IMAGE_EXTENSIONS: [&str; 7] = ["jpg", "jpeg", "png", "bmp", "webp", "tif", "tiff"];

/// Largest image file read into memory, in bytes: a camera frame or a dataset
/// photo is far smaller, and reading first is what a decoder needs.
pub const MAX_FILE_BYTES: u64 = 256 * 1024 * 1024;
