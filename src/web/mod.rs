//! The local HTTP API: `/healthz`, `GET /api/status` and alert snapshots.
//!
//! Owns HTTP routing and the DTOs (`api`). It reads live state through the
//! [`StatusSource`] trait (implemented by `app`) and snapshots from the store;
//! it changes nothing. The dashboard, `/metrics` and authenticated
//! state-changing requests (through `actions`) are built on top of this
//! router later. Must not depend on `app` or on any stage's internals.

mod api;
mod config;
mod server;

pub use api::{
    ApiStatus, CameraDto, DecisionDto, HealthReport, OutboxDto, PrinterDto, StageDto, StatusSource, VisionDto,
};
pub use config::WebConfig;
pub use server::{WebError, WebState, bind, router, serve};

#[cfg(test)]
mod tests;
