//! State-changing handlers (POST only; `auth` has already checked the token,
//! the CSRF header and the origin). Every command goes through the
//! [`CommandSink`](super::CommandSink): the same engine path as the daemon's
//! own actions, in order with them, recorded in the audit log.

// The error side of the helpers here is the finished HTTP answer: it is built
// once per refused request, so its size does not matter.
#![allow(clippy::result_large_err)]

use axum::Extension;
use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde::de::DeserializeOwned;

use super::CommandError;
use super::auth::Access;
use super::read::error;
use super::server::WebState;
use crate::actions::UserCommand;
use crate::store::IncidentId;

/// An optional JSON body: empty means the defaults.
fn body<T: DeserializeOwned + Default>(bytes: &Bytes) -> Result<T, Response> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    serde_json::from_slice(bytes).map_err(|e| error(StatusCode::BAD_REQUEST, format!("request body: {e}")))
}

async fn run(st: &WebState, access: &Access, cmd: UserCommand) -> Result<serde_json::Value, Response> {
    let Some(sink) = &st.commands else {
        return Err(error(StatusCode::SERVICE_UNAVAILABLE, "commands are not available on this server"));
    };
    tracing::info!(command = ?cmd, who = access.who(), "dashboard command");
    match sink.user_command(cmd, Some(access.who().to_string())).await {
        Ok(outcome) => Ok(serde_json::to_value(&outcome).unwrap_or_default()),
        Err(e @ CommandError::UnknownIncident(_)) => Err(error(StatusCode::NOT_FOUND, e.to_string())),
        Err(e @ CommandError::Unavailable(_)) => Err(error(StatusCode::SERVICE_UNAVAILABLE, e.to_string())),
        Err(e @ CommandError::Failed(_)) => Err(error(StatusCode::BAD_GATEWAY, e.to_string())),
        Err(e @ CommandError::Invalid(_)) => Err(error(StatusCode::BAD_REQUEST, e.to_string())),
        Err(e @ CommandError::Conflict(_)) => Err(error(StatusCode::CONFLICT, e.to_string())),
    }
}

fn reply(r: Result<serde_json::Value, Response>) -> Response {
    match r {
        Ok(v) => Json(v).into_response(),
        Err(e) => e,
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Confirm {
    #[serde(default)]
    pub confirm: bool,
}

/// `POST /api/printer/{pause|resume|cancel}`; cancel needs `{"confirm": true}`.
pub async fn printer(
    State(st): State<WebState>,
    Extension(access): Extension<Access>,
    Path(command): Path<String>,
    bytes: Bytes,
) -> Response {
    let c: Confirm = match body(&bytes) {
        Ok(c) => c,
        Err(e) => return e,
    };
    let cmd = match command.as_str() {
        "pause" => UserCommand::Pause,
        "resume" => UserCommand::Resume,
        "cancel" if !c.confirm => {
            return error(StatusCode::BAD_REQUEST, "cancelling a print needs {\"confirm\": true}");
        }
        "cancel" => UserCommand::Cancel,
        other => return error(StatusCode::NOT_FOUND, format!("unknown printer command {other:?}")),
    };
    reply(run(&st, &access, cmd).await)
}

fn incident_id(s: &str) -> Result<IncidentId, Response> {
    s.parse().map_err(|_| error(StatusCode::BAD_REQUEST, format!("incident id {s:?} is not a number")))
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NotAFailure {
    /// Resume the paused print too.
    #[serde(default)]
    pub resume: bool,
}

/// Closes the incident as a false alarm; the engine re-baselines the decider
/// and saves the frames into the local feedback dataset (`dataset` in the answer).
pub async fn not_a_failure(
    State(st): State<WebState>,
    Extension(access): Extension<Access>,
    Path(id): Path<String>,
    bytes: Bytes,
) -> Response {
    let (id, b) = match (incident_id(&id), body::<NotAFailure>(&bytes)) {
        (Ok(id), Ok(b)) => (id, b),
        (Err(e), _) | (_, Err(e)) => return e,
    };
    reply(run(&st, &access, UserCommand::NotAFailure { incident: id, resume: b.resume }).await)
}

pub async fn acknowledge(
    State(st): State<WebState>,
    Extension(access): Extension<Access>,
    Path(id): Path<String>,
) -> Response {
    match incident_id(&id) {
        Ok(id) => reply(run(&st, &access, UserCommand::Acknowledge { incident: id }).await),
        Err(e) => e,
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Mute {
    /// Minutes (1 to `actions.max_mute_min`, ending early with the print); unset mutes the rest
    /// of the current print.
    pub minutes: Option<u32>,
}

pub async fn mute(State(st): State<WebState>, Extension(access): Extension<Access>, bytes: Bytes) -> Response {
    let m: Mute = match body(&bytes) {
        Ok(m) => m,
        Err(e) => return e,
    };
    reply(run(&st, &access, UserCommand::Mute { minutes: m.minutes }).await)
}

pub async fn unmute(State(st): State<WebState>, Extension(access): Extension<Access>) -> Response {
    reply(run(&st, &access, UserCommand::Unmute).await)
}

/// `POST /api/camera-memory/reset`: forget this camera's memory of normal
/// frames (`decision::CameraMemory`), e.g. after moving the camera or
/// changing the light. The engine records it and tells the decider, which
/// stores the emptied memory.
pub async fn forget_camera(State(st): State<WebState>, Extension(access): Extension<Access>) -> Response {
    reply(run(&st, &access, UserCommand::ForgetCamera).await)
}

/// `GET /api/objects`: the current print's objects with their state
/// (`pending`, `printing`, `done`, `cancelled`), read through the command sink.
pub async fn objects(State(st): State<WebState>) -> Response {
    let Some(sink) = &st.commands else {
        return error(StatusCode::SERVICE_UNAVAILABLE, "objects are not available on this server");
    };
    match sink.objects().await {
        Ok(list) => Json(list).into_response(),
        Err(e) => error(StatusCode::SERVICE_UNAVAILABLE, e.to_string()),
    }
}

/// `POST /api/objects/{name}/cancel` with `{"confirm": true}`: cancels that
/// object only (its name as `GET /api/objects` gives it, URL-encoded), through
/// the engine like every command, audited as `cancel_object`. The answer's
/// `result` says how it ended (`failed` with the printer's reason for an
/// unknown name, the last object, or a printer that cannot do it).
pub async fn cancel_object(
    State(st): State<WebState>,
    Extension(access): Extension<Access>,
    Path(name): Path<String>,
    bytes: Bytes,
) -> Response {
    let c: Confirm = match body(&bytes) {
        Ok(c) => c,
        Err(e) => return e,
    };
    if !c.confirm {
        return error(StatusCode::BAD_REQUEST, "cancelling an object needs {\"confirm\": true}");
    }
    reply(run(&st, &access, UserCommand::CancelObject { name }).await)
}
