//! `crate::capture::mjpeg`: the pure multipart parser and the `Content-Type` check.

#[path = "../../../../src/capture/mjpeg/content_type.rs"]
pub mod content_type;
#[path = "../../../../src/capture/mjpeg/parser.rs"]
pub mod parser;
#[path = "../../../../src/capture/mjpeg/syntax.rs"]
mod syntax;
