//! OctoPrint's REST API: one typed method per call layerwatch makes, the API
//! key sent as `X-Api-Key` (never logged), and every failure mapped to an
//! `OctoPrintError` that names the request and what OctoPrint said.

use std::time::Duration;

use reqwest::{Method, StatusCode, Url};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use crate::printer::hostlink::http::{self, Secret};

use super::model::{FileInfo, JobResponse, Login, PrinterResponse, Version};

/// Why an OctoPrint request failed.
#[derive(Debug, thiserror::Error)]
pub enum OctoPrintError {
    #[error("invalid octoprint url: {0}")]
    Url(String),
    #[error("no octoprint api key: set printer.octoprint.api_key or OCTOPRINT_API_KEY")]
    NoApiKey,
    #[error("{method} {url}: cannot reach octoprint: {reason}")]
    Transport { method: Method, url: String, reason: String },
    #[error("{method} {url}: octoprint refused the api key (http {status}): {message}")]
    Auth { method: Method, url: String, status: u16, message: String },
    #[error("{method} {url}: octoprint says the printer is not in a state for this (http 409): {message}")]
    Conflict { method: Method, url: String, message: String },
    #[error("{method} {url}: http {status}: {message}")]
    Status { method: Method, url: String, status: u16, message: String },
    #[error("{method} {url}: unexpected response: {reason}")]
    Decode { method: Method, url: String, reason: String },
    #[error("push socket: {0}")]
    Socket(String),
}

/// A `POST /api/job` command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobCommand {
    Pause,
    Resume,
    Cancel,
}

impl JobCommand {
    fn body(self) -> Value {
        match self {
            JobCommand::Pause => json!({"command": "pause", "action": "pause"}),
            JobCommand::Resume => json!({"command": "pause", "action": "resume"}),
            JobCommand::Cancel => json!({"command": "cancel"}),
        }
    }
}

/// A REST client for one OctoPrint server.
#[derive(Clone)]
pub struct OctoPrintApi {
    http: reqwest::Client,
    base: Url,
    key: Secret,
}

impl std::fmt::Debug for OctoPrintApi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OctoPrintApi").field("base", &self.base.as_str()).finish_non_exhaustive()
    }
}

impl OctoPrintApi {
    /// `api_key` falls back to `OCTOPRINT_API_KEY`.
    pub fn new(url: &str, api_key: Option<&str>, request_timeout: Duration) -> Result<Self, OctoPrintError> {
        let base = http::base_url(url).map_err(OctoPrintError::Url)?;
        let key = Secret::from_config_or_env(api_key, "OCTOPRINT_API_KEY").ok_or(OctoPrintError::NoApiKey)?;
        let http = http::client(request_timeout).map_err(OctoPrintError::Url)?;
        Ok(OctoPrintApi { http, base, key })
    }

    pub fn base(&self) -> &Url {
        &self.base
    }

    /// `GET /api/version`: reachability and key check in one.
    pub async fn version(&self) -> Result<(String, String), OctoPrintError> {
        let v: Version = self.get_json("api/version").await?;
        Ok((v.server, v.api))
    }

    /// `GET /api/printer` without SD state; `Ok(None)` on 409 (printer not operational).
    pub(crate) async fn printer(&self) -> Result<Option<PrinterResponse>, OctoPrintError> {
        match self.get_json("api/printer?exclude=sd").await {
            Ok(p) => Ok(Some(p)),
            Err(OctoPrintError::Conflict { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    pub(crate) async fn job(&self) -> Result<JobResponse, OctoPrintError> {
        self.get_json("api/job").await
    }

    /// `POST /api/login` `{"passive": true}`: the session for the push socket.
    pub(crate) async fn passive_login(&self) -> Result<Login, OctoPrintError> {
        let v = self.send(Method::POST, "api/login", Some(json!({"passive": true}))).await?;
        decode(Method::POST, self.url_shown("api/login"), v)
    }

    /// `POST /api/job`.
    pub async fn job_command(&self, cmd: JobCommand) -> Result<(), OctoPrintError> {
        self.send(Method::POST, "api/job", Some(cmd.body())).await.map(drop)
    }

    /// `POST /api/printer/tool` target for `tool0`.
    pub async fn set_tool_target(&self, celsius: f32) -> Result<(), OctoPrintError> {
        let body = json!({"command": "target", "targets": {"tool0": celsius}});
        self.send(Method::POST, "api/printer/tool", Some(body)).await.map(drop)
    }

    /// `POST /api/printer/bed` target.
    pub async fn set_bed_target(&self, celsius: f32) -> Result<(), OctoPrintError> {
        let body = json!({"command": "target", "target": celsius});
        self.send(Method::POST, "api/printer/bed", Some(body)).await.map(drop)
    }

    /// `POST /api/printer/command`: raw G-code lines, sent in order.
    pub async fn commands(&self, lines: &[String]) -> Result<(), OctoPrintError> {
        self.send(Method::POST, "api/printer/command", Some(json!({"commands": lines}))).await.map(drop)
    }

    /// `GET /api/files/local/<path>`.
    pub(crate) async fn file_info(&self, path: &str) -> Result<FileInfo, OctoPrintError> {
        let url = http::file_url(&self.base, &["api", "files", "local"], path);
        let shown = url.path().to_string();
        let v = self.request(Method::GET, url, shown.clone(), None).await?;
        decode(Method::GET, shown, v)
    }

    /// Starts downloading a local file via its `refs.download`.
    pub(crate) async fn download_local(&self, path: &str) -> Result<reqwest::Response, String> {
        let info = self.file_info(path).await.map_err(|e| e.to_string())?;
        let url = match info.refs.download.as_deref() {
            Some(d) => self.base.join(d).map_err(|e| format!("bad download reference {d:?}: {e}"))?,
            None => http::file_url(&self.base, &["downloads", "files", "local"], path),
        };
        http::open_download(&self.http, url, Some(&self.key)).await.map_err(|e| e.to_string())
    }

    async fn get_json<T: DeserializeOwned>(&self, path: &str) -> Result<T, OctoPrintError> {
        let v = self.send(Method::GET, path, None).await?;
        decode(Method::GET, self.url_shown(path), v)
    }

    fn url_shown(&self, path: &str) -> String {
        format!("/{}", path.split('?').next().unwrap_or(path))
    }

    async fn send(&self, method: Method, path: &str, body: Option<Value>) -> Result<Value, OctoPrintError> {
        let url = self.base.join(path).map_err(|e| OctoPrintError::Url(e.to_string()))?;
        self.request(method, url, self.url_shown(path), body).await
    }

    /// Sends one request; returns the JSON body (`Null` for 204/empty).
    async fn request(
        &self,
        method: Method,
        url: Url,
        shown: String,
        body: Option<Value>,
    ) -> Result<Value, OctoPrintError> {
        let mut req = self.http.request(method.clone(), url).header("X-Api-Key", self.key.expose());
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.map_err(|e| OctoPrintError::Transport {
            method: method.clone(),
            url: shown.clone(),
            reason: transport_reason(&e),
        })?;
        let status = resp.status();
        let bytes = resp.bytes().await.map_err(|e| OctoPrintError::Transport {
            method: method.clone(),
            url: shown.clone(),
            reason: transport_reason(&e),
        })?;
        if status.is_success() {
            if bytes.is_empty() {
                return Ok(Value::Null);
            }
            return serde_json::from_slice(&bytes).map_err(|e| OctoPrintError::Decode {
                method,
                url: shown,
                reason: format!("not json: {e}"),
            });
        }
        let message = error_message(&bytes);
        Err(match status {
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => {
                OctoPrintError::Auth { method, url: shown, status: status.as_u16(), message }
            }
            StatusCode::CONFLICT => OctoPrintError::Conflict { method, url: shown, message },
            _ => OctoPrintError::Status { method, url: shown, status: status.as_u16(), message },
        })
    }
}

fn decode<T: DeserializeOwned>(method: Method, url: String, v: Value) -> Result<T, OctoPrintError> {
    serde_json::from_value(v).map_err(|e| OctoPrintError::Decode { method, url, reason: e.to_string() })
}

/// OctoPrint's `{"error": "…"}`, else the start of the body.
fn error_message(body: &[u8]) -> String {
    if let Ok(v) = serde_json::from_slice::<Value>(body)
        && let Some(e) = v.get("error").and_then(Value::as_str)
    {
        return e.to_string();
    }
    let text = String::from_utf8_lossy(body);
    let t = text.trim();
    if t.is_empty() { "(empty body)".to_string() } else { t.chars().take(200).collect() }
}

fn transport_reason(e: &reqwest::Error) -> String {
    let reason = http::innermost(e);
    if e.is_timeout() { format!("timed out ({reason})") } else { reason }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_bodies_become_messages() {
        assert_eq!(error_message(br#"{"error": "Printer is not operational"}"#), "Printer is not operational");
        assert_eq!(error_message(b"<html>502 Bad Gateway</html>"), "<html>502 Bad Gateway</html>");
        assert_eq!(error_message(b""), "(empty body)");
    }

    #[test]
    fn a_bad_url_is_a_clear_error() {
        let e = OctoPrintApi::new("octopi.local", Some("k"), Duration::from_secs(1)).unwrap_err();
        assert!(e.to_string().starts_with("invalid octoprint url: invalid url \"octopi.local\""), "{e}");
    }
}
