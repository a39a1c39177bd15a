//! History in an embedded SQLite database, snapshots on disk.
//!
//! Owns the schema and its migrations, prints, incidents, the downsampled
//! verdict timeline, the alert outbox rows and the action audit log, snapshot
//! retention, and closing incidents left open by a crash at start-up.

mod config;

pub use config::StoreConfig;
