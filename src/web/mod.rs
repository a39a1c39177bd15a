//! The local dashboard and its API: the page, JSON reads, server-sent events,
//! `/metrics`, the OpenAPI description, and authenticated owner commands.
//!
//! Owns HTTP routing, access control (`auth`) and the DTOs (`api`). It reads
//! live state through the [`StatusSource`] trait and history from the store;
//! it changes things only through [`CommandSink`] (implemented by `app` over
//! the action engine and the decider). Must not depend on `app` or on any
//! stage's internals.
//!
//! - `server`: [`WebState`], the router, `serve` on an injected listener;
//! - `auth`: token, sessions, CSRF and origin checks (a middleware);
//! - `pages`: the embedded page (`assets/`), sign-in, the OpenAPI file;
//! - `read`, `events`, `metrics`: reads, `/api/events`, `/metrics`;
//! - `control`: commands (the workflows behind them live in `actions`);
//! - `farm`: several printers (`[[printers]]`) on one server: the list at `/`, each printer's
//!   router at `/p/<name>/`, `/api/printers`, and `/healthz` and `/metrics` over all of them.
//!
//! The configuration arrives already redacted (`config::Config::redacted_json`,
//! handed over by `app`), with `web`'s own `WebConfig`: `web` never sees the
//! whole `Config`.

mod api;
pub mod auth;
mod calibrate;
mod commands;
mod config;
mod control;
mod events;
mod farm;
pub mod metrics;
mod pages;
mod read;
mod server;

pub use api::{
    ApiStatus, CameraDto, Counters, DecisionDto, GeometryDto, HealthReport, LATENCY_BUCKETS_MS, LiveFrame, OutboxDto,
    PrinterDto, StageDto, StatusSource, TimelineStep, VisionDto,
};
pub use commands::{CommandError, CommandSink};
pub use config::WebConfig;
pub use farm::{FarmPrinter, PrinterSummary, farm_router, serve_farm};
pub use server::{WebError, WebState, bind, check_bind, router, serve};

#[cfg(test)]
mod tests;
