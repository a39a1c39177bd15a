//! Plumbing shared by the print-host backends (`octoprint`, `moonraker`).
//!
//! Owns what both hosts need and neither should duplicate: the HTTP client
//! set-up and secret handling, the G-code layer map (download once per file,
//! analyse off the runtime, map a byte offset to layer/Z/feature), state
//! inference shared by both tables
//! (heating before the first layer), and the command flow (one at a time,
//! idempotent, confirmed by its effect on the published status; `commands`)
//! over each host's wire. Knows nothing about either host's protocol.

pub(crate) mod commands;
pub(crate) mod confirm;
pub(crate) mod http;
pub(crate) mod layers;
pub(crate) mod park;
pub(crate) mod stats;
