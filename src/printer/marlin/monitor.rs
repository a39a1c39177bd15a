//! Monitor mode (placeholder).
use super::Request;
use super::Settings;
use super::conn::Handshake;
use super::driver::{Cx, Mode, ModeEvent};
use super::protocol::Response;
use crate::domain::PrinterState;
use tokio::time::Instant;
pub struct MonitorMode {
    _s: Settings,
}
impl MonitorMode {
    pub fn new(s: Settings) -> Self {
        MonitorMode { _s: s }
    }
}
impl Mode for MonitorMode {
    fn on_connected(&mut self, _cx: &mut Cx, _h: &Handshake) {}
    fn on_response(&mut self, _cx: &mut Cx, _r: Response) {}
    fn on_request(&mut self, _cx: &mut Cx, r: Request) {
        self.reject_disconnected(r)
    }
    fn on_event(&mut self, _cx: &mut Cx, _e: ModeEvent) {}
    fn on_timer(&mut self, _cx: &mut Cx) {}
    fn deadline(&self) -> Option<Instant> {
        None
    }
    fn on_disconnected(&mut self, _cx: &mut Cx, _r: &str) {}
    fn take_replies(
        &mut self,
    ) -> Vec<(
        super::Reply,
        Result<crate::printer::Confirmation, crate::printer::PrinterError>,
    )> {
        Vec::new()
    }
    fn state(&self) -> PrinterState {
        PrinterState::Idle
    }
}
