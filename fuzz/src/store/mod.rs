//! `crate::store`: `[store]`.

#[path = "../../../src/store/config.rs"]
mod config;

pub use config::{SnapshotRetention, StoreConfig};
