//! layerwatch's parsers of outside input, compiled without the rest of the crate (no OpenCV, ONNX Runtime, tokio,
//! SQLite, HTTP), so libFuzzer's instrumented builds stay small and quick.
//!
//! Every leaf module below is the crate's own source file, included with `#[path]` at the same module path it has in
//! the crate, so its `crate::` and `super::` imports resolve here as they do there. The `mod.rs` files under `src/`
//! only re-create that tree and the crate's own `pub use` lines: nothing here is a copy of crate code. A parser that
//! starts importing an I/O module of the crate breaks this build, which is the point: keep parsers pure.
//!
//! `props` holds the property checks each fuzz target runs; the main crate compiles the same file in its unit tests
//! (`cargo test --lib fuzz_props`), so CI runs every property over the seed corpora without building this workspace.
#![allow(dead_code, unused_imports)]

#[path = "../../src/config/mod.rs"]
pub mod config;
#[path = "../../src/config_issues.rs"]
pub mod config_issues;
#[path = "../../src/domain.rs"]
pub mod domain;
#[path = "../../src/gcode/mod.rs"]
pub mod gcode;
#[path = "../../src/geometry/mod.rs"]
pub mod geometry;
#[path = "../../src/images/mod.rs"]
pub mod images;
#[path = "../../src/secret.rs"]
pub mod secret;

pub mod actions;
pub mod capture;
pub mod decision;
pub mod mqtt;
pub mod printer;
pub mod store;
pub mod timelapse;
pub mod vision;
pub mod web;

#[path = "../props/mod.rs"]
pub mod fuzz_props;
