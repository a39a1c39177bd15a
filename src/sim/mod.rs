//! Simulated peers that are part of the product: the built-in demo runs on
//! them, and the test suite uses them beside the real peers (OctoPrint,
//! Moonraker, OctoPrint's VirtualPrinter), never instead of them.
//!
//! Each file is one peer: an MJPEG camera server with fault injection, a
//! Marlin firmware simulator on a pseudo-terminal, alert receivers (webhook,
//! Twilio-compatible SMS API). Nothing here is used by `run` with a real config.

pub mod marlin;
pub mod mjpeg_server;
pub mod receivers;
