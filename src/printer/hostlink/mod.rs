//! Plumbing shared by the print-host backends (`octoprint`, `moonraker`).
//!
//! Owns what both hosts need and neither should duplicate: reconnect backoff
//! with rate-limited logs, the HTTP client set-up and secret handling, the
//! G-code layer map (download once per file, analyse off the runtime, map a
//! byte offset to layer/Z/feature), state inference shared by both tables
//! (heating before the first layer), and waiting for a command's effect on the
//! published status. Knows nothing about either host's protocol.

pub(crate) mod backoff;
pub(crate) mod confirm;
pub(crate) mod http;
pub(crate) mod layers;
pub(crate) mod park;
pub(crate) mod stats;
