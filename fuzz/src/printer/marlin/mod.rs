//! `crate::printer::marlin`: the pure serial protocol.

#[path = "../../../../src/printer/marlin/protocol/mod.rs"]
pub mod protocol;
