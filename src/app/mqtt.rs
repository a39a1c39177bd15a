//! The MQTT side's view of the daemon (`[mqtt]`): [`BusView`] reads the status
//! board and the store for `mqtt::run`, and carries a button press out through
//! the action engine like a dashboard button (`DaemonCommands`, audited with
//! the user `mqtt`); [`MqttLight`] switches `[printer.light] method = "mqtt"`
//! over the same connection.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;

use super::commands::DaemonCommands;
use super::status::StatusBoard;
use crate::actions::UserCommand;
use crate::actions::light::LightSender;
use crate::domain::Level;
use crate::mqtt::{Button, DaemonView, Link, Snapshot};
use crate::store::{IncidentId, Store};
use crate::web::{CommandSink, StatusSource};

/// Who a bus command is recorded as in the audit log.
pub const MQTT_USER: &str = "mqtt";
/// How long the light waits for the connection, then for its message to come back (twice this stays
/// under the light task's own 20 s limit).
const LIGHT_ECHO: Duration = Duration::from_secs(8);

pub struct BusView {
    pub board: Arc<StatusBoard>,
    pub store: Store,
    pub commands: DaemonCommands,
}

impl BusView {
    /// The newest open failure incident (health findings are not failures).
    async fn open_failure(&self) -> Option<IncidentId> {
        match self.store.open_incidents().await {
            Ok(rows) => rows.into_iter().filter(|r| r.level == Level::Failure).map(|r| r.id).max(),
            Err(e) => {
                tracing::debug!(error = %e, "MQTT: cannot read the open incidents");
                None
            }
        }
    }
}

#[async_trait::async_trait]
impl DaemonView for BusView {
    async fn snapshot(&self) -> Snapshot {
        let s = self.board.status();
        let job = s.printer.job.as_ref();
        let heater = |h: Option<crate::domain::Heater>| (h.map(|h| h.actual), h.map(|h| h.target));
        let (hotend, hotend_target) = heater(s.printer.temps.hotend);
        let (bed, bed_target) = heater(s.printer.temps.bed);
        Snapshot {
            printer_state: s.printer.state.clone(),
            file: job.map(|j| j.file.clone()),
            failure_score: s.decision.as_ref().map(|d| d.smoothed),
            verdict: s.decision.as_ref().map(|d| d.level.name().to_string()),
            layer: s.printer.layer,
            layer_count: s.printer.layer_count,
            progress: job.and_then(|j| j.progress),
            elapsed_s: job.and_then(|j| j.elapsed).map(|d| d.as_secs_f64()),
            hotend,
            hotend_target,
            bed,
            bed_target,
            incident: self.open_failure().await,
            muted: s.mute.is_some(),
        }
    }

    fn live_jpeg(&self) -> Option<(u64, Bytes)> {
        self.board.live_frames().pop().map(|f| (f.seq, f.jpeg))
    }

    async fn incident_jpeg(&self, incident: i64) -> Option<Vec<u8>> {
        let row = self.store.incident(incident).await.ok()??;
        let id = crate::store::SnapshotId::parse(row.snapshot_id.as_deref()?).ok()?;
        self.store.read_snapshot(&id).await.ok()?
    }

    async fn press(&self, button: Button) -> Result<String, String> {
        let cmd = match button {
            Button::Pause => UserCommand::Pause,
            Button::Resume => UserCommand::Resume,
            Button::MutePrint => UserCommand::Mute { minutes: None },
            Button::NotAFailure => match self.open_failure().await {
                Some(incident) => UserCommand::NotAFailure { incident, resume: false },
                None => return Err("no open failure incident to mark as not a failure".into()),
            },
        };
        match self.commands.user_command(cmd, Some(MQTT_USER.to_string())).await {
            Ok(out) => Ok(out.message),
            Err(e) => Err(e.to_string()),
        }
    }
}

/// `[printer.light] method = "mqtt"`: the payloads on the light's topic, confirmed by their echo.
pub struct MqttLight {
    pub link: Link,
    pub topic: String,
    pub on: String,
    pub off: String,
}

#[async_trait::async_trait]
impl LightSender for MqttLight {
    async fn switch(&self, on: bool) -> Result<(), String> {
        let payload = if on { &self.on } else { &self.off };
        // Just after start (or a broker restart) the connection may be coming up: give it the same time.
        let _ = tokio::time::timeout(LIGHT_ECHO, self.link.connected().wait_for(|up| *up)).await;
        self.link.publish_confirmed(&self.topic, payload.as_bytes(), LIGHT_ECHO).await.map_err(|e| e.to_string())
    }
}
