//! Marlin-style firmware over a serial port (placeholder while the module grows).

pub mod protocol;
