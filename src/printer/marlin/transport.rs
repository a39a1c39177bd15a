//! Opening the byte stream to the printer: a serial device (USB CDC, UART) or,
//! in tests and the demo, any path that behaves like one (a pseudo-terminal).
//!
//! The link re-opens through `Transport::open` after every disconnect, so a
//! transport is a recipe, not a connection.

use std::path::PathBuf;

use async_trait::async_trait;
use tokio::io::{AsyncRead, AsyncWrite};

/// A bidirectional byte stream to the firmware.
pub trait PortIo: AsyncRead + AsyncWrite + Send + Unpin {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin> PortIo for T {}

pub type Port = Box<dyn PortIo>;

/// How to (re)connect to the printer.
#[async_trait]
pub trait Transport: Send + Sync {
    /// Human-readable target for logs and errors (`/dev/ttyUSB0 @ 115200`).
    fn describe(&self) -> String;
    async fn open(&self) -> std::io::Result<Port>;
}

/// A serial device path at a baud rate, opened with exclusive access.
#[derive(Debug, Clone)]
pub struct SerialTransport {
    pub path: PathBuf,
    pub baud: u32,
}

#[async_trait]
impl Transport for SerialTransport {
    fn describe(&self) -> String {
        format!("{} @ {}", self.path.display(), self.baud)
    }

    async fn open(&self) -> std::io::Result<Port> {
        let path = self.path.to_string_lossy().into_owned();
        let baud = self.baud;
        // Opening sets termios and takes a lock: quick, but blocking syscalls.
        let stream = tokio::task::spawn_blocking(move || {
            use tokio_serial::SerialPortBuilderExt;
            tokio_serial::new(path, baud).open_native_async()
        })
        .await
        .map_err(std::io::Error::other)?
        .map_err(std::io::Error::from)?;
        Ok(Box::new(stream))
    }
}
