//! `crate::printer::moonraker`: Klipper's objects as the websocket reports them.

#[path = "../../../../src/printer/moonraker/objects.rs"]
pub(crate) mod objects;
