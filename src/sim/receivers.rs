//! Simulated alert receivers: real HTTP servers on 127.0.0.1 for the demo and
//! the tests.
//!
//! - `WebhookReceiver` verifies `X-Layerwatch-Signature` with the shared secret
//!   (its own implementation of the documented scheme, not the sender's code)
//!   and records every delivery.
//! - `TwilioReceiver` speaks Twilio's Messages API: checks Basic auth and the
//!   form fields, answers `201` with a `sid`, and errors with Twilio's JSON.
//! - `RecordingServer` answers with any handler (ntfy, Telegram stand-ins).
//!
//! Each can be told to misbehave for the next requests (`Fault`): an error
//! status, 429 with `Retry-After`, a hang, a dropped connection.

mod http;

use std::sync::Arc;
use std::time::Duration;

use hmac::{Hmac, KeyInit, Mac};
use rand::RngExt;
use serde_json::json;
use sha2::Sha256;
use tokio_util::sync::CancellationToken;

pub use http::{Exchange, Fault, Outcome, Request, Response, form_urlencoded};

use http::{Handler, Log, SharedLog, lock, serve, wait_until};

/// A running receiver; stops when dropped or on `stop`.
struct Running {
    url: String,
    log: SharedLog,
    cancel: CancellationToken,
}

impl Running {
    async fn start(handler: Handler) -> std::io::Result<Running> {
        let log: SharedLog = Arc::default();
        let cancel = CancellationToken::new();
        let addr = serve(handler, Arc::clone(&log), cancel.clone()).await?;
        Ok(Running { url: format!("http://{addr}"), log, cancel })
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}

macro_rules! common_api {
    () => {
        /// The base URL (`http://127.0.0.1:PORT`).
        pub fn base_url(&self) -> &str {
            &self.run.url
        }

        /// Uses `fault` for each of the next `times` requests.
        pub fn push_fault(&self, fault: Fault, times: usize) {
            let mut l = lock(&self.run.log);
            for _ in 0..times {
                l.faults.push_back(fault.clone());
            }
        }

        /// Every request so far, with what happened to it.
        pub fn requests(&self) -> Vec<Exchange> {
            lock(&self.run.log).seen.clone()
        }

        /// Waits (polling) until `n` requests were answered 2xx; false on timeout.
        pub async fn wait_accepted(&self, n: usize, timeout: Duration) -> bool {
            wait_until(&self.run.log, timeout, |l: &Log| l.seen.iter().filter(|e| e.accepted()).count() >= n).await
        }

        /// Waits until `n` requests arrived, whatever happened to them.
        pub async fn wait_requests(&self, n: usize, timeout: Duration) -> bool {
            wait_until(&self.run.log, timeout, |l: &Log| l.seen.len() >= n).await
        }

        /// Stops listening; hung requests are released.
        pub fn stop(&self) {
            self.run.cancel.cancel();
        }
    };
}

/// One webhook delivery as the receiver saw it.
#[derive(Debug, Clone)]
pub struct WebhookDelivery {
    pub request: Request,
    pub outcome: Outcome,
    /// The signature matched the body with the shared secret (and was fresh).
    pub signature_ok: bool,
    /// `X-Layerwatch-Delivery`: the alert id, for de-duplication.
    pub delivery_id: Option<String>,
    /// The body as JSON, when it was JSON.
    pub json: Option<serde_json::Value>,
}

impl WebhookDelivery {
    /// One line for the demo's timeline: `16:49:02 webhook incident failure spaghetti (signed) -> 200`.
    pub fn line(&self) -> String {
        let j = self.json.as_ref();
        let field = |k: &str| j.and_then(|j| j[k].as_str()).unwrap_or("-").to_string();
        format!(
            "{} webhook {} {} {} ({}) -> {}",
            crate::actions::alerts::render::clock_time(self.request.at),
            field("kind"),
            field("level"),
            field("cause"),
            if self.signature_ok { "signed" } else { "SIGNATURE NOT VALID" },
            outcome_text(&self.outcome)
        )
    }
}

fn outcome_text(o: &Outcome) -> String {
    match o {
        Outcome::Answered(s) => s.to_string(),
        Outcome::Hung => "no answer".into(),
        Outcome::Closed => "connection closed".into(),
    }
}

/// A webhook endpoint that checks signatures: 401 for a bad or missing one
/// (when it has a secret), 400 for a body that is not JSON, else 200.
pub struct WebhookReceiver {
    run: Running,
    secret: Option<Vec<u8>>,
}

impl WebhookReceiver {
    pub async fn start(secret: Option<&[u8]>) -> std::io::Result<WebhookReceiver> {
        let secret = secret.map(<[u8]>::to_vec);
        let s = secret.clone();
        let handler: Handler = Arc::new(move |req: &Request| {
            if let Some(secret) = &s
                && !signature_valid(secret, req)
            {
                return Response::json(401, &json!({ "error": "bad signature" }));
            }
            match serde_json::from_slice::<serde_json::Value>(&req.body) {
                Ok(_) => Response::json(200, &json!({ "ok": true })),
                Err(e) => Response::json(400, &json!({ "error": e.to_string() })),
            }
        });
        Ok(WebhookReceiver { run: Running::start(handler).await?, secret })
    }

    common_api!();

    /// The URL to configure as `alerts.webhook.url`.
    pub fn url(&self) -> String {
        format!("{}/hooks/layerwatch", self.run.url)
    }

    pub fn deliveries(&self) -> Vec<WebhookDelivery> {
        self.requests()
            .into_iter()
            .map(|e| WebhookDelivery {
                signature_ok: self.secret.as_ref().is_some_and(|s| signature_valid(s, &e.request)),
                delivery_id: e.request.header("x-layerwatch-delivery").map(str::to_string),
                json: serde_json::from_slice(&e.request.body).ok(),
                request: e.request,
                outcome: e.outcome,
            })
            .collect()
    }

    /// Accepted deliveries with distinct delivery ids: what a de-duplicating receiver keeps.
    pub fn unique_accepted(&self) -> Vec<WebhookDelivery> {
        let mut seen = std::collections::HashSet::new();
        self.deliveries()
            .into_iter()
            .filter(|d| matches!(d.outcome, Outcome::Answered(s) if (200..300).contains(&s)))
            .filter(|d| seen.insert(d.delivery_id.clone()))
            .collect()
    }
}

/// Verifies `X-Layerwatch-Signature: t=<secs>,v1=<hex>` as docs/alerts.md tells
/// receivers to: HMAC-SHA256 over `t + "." + body`, at most 5 minutes old when
/// the request arrived (`Request::at`).
fn signature_valid(secret: &[u8], req: &Request) -> bool {
    let Some(h) = req.header("x-layerwatch-signature") else { return false };
    let mut t = None;
    let mut v1 = Vec::new();
    for kv in h.split(',') {
        match kv.trim().split_once('=') {
            Some(("t", v)) => t = Some(v.to_string()),
            Some(("v1", v)) => v1.extend(hex::decode(v).ok()),
            _ => {}
        }
    }
    let Some(t) = t else { return false };
    let Ok(secs) = t.parse::<i64>() else { return false };
    // Fresh when it arrived: a delivery looked at again later (a soak's final
    // tally, hours on) keeps the verdict the receiver gave it then.
    if (req.at.millis().div_euclid(1000) - secs).abs() > 300 {
        return false;
    }
    v1.iter().any(|sig| {
        let Ok(mut mac) = <Hmac<Sha256> as KeyInit>::new_from_slice(secret) else { return false };
        mac.update(t.as_bytes());
        mac.update(b".");
        mac.update(&req.body);
        mac.verify_slice(sig).is_ok()
    })
}

/// One SMS as the Twilio stand-in accepted it.
#[derive(Debug, Clone, PartialEq)]
pub struct Sms {
    pub sid: String,
    pub to: String,
    pub from: Option<String>,
    pub messaging_service_sid: Option<String>,
    pub body: String,
    pub media_url: Option<String>,
}

impl Sms {
    /// One line for the demo's timeline: `SMS to +1555…: <body>`.
    pub fn line(&self) -> String {
        format!("SMS {} to {}: {}", self.sid, self.to, self.body)
    }
}

/// A Twilio-compatible `Messages.json` endpoint.
pub struct TwilioReceiver {
    run: Running,
}

impl TwilioReceiver {
    /// Accepts messages for `account_sid` authenticated with `auth_token`.
    pub async fn start(account_sid: &str, auth_token: &str) -> std::io::Result<TwilioReceiver> {
        let (sid, token) = (account_sid.to_string(), auth_token.to_string());
        let handler: Handler = Arc::new(move |req: &Request| twilio_answer(&sid, &token, req));
        Ok(TwilioReceiver { run: Running::start(handler).await? })
    }

    common_api!();

    /// Messages accepted (201), in order.
    pub fn messages(&self) -> Vec<Sms> {
        self.requests()
            .into_iter()
            .filter(|e| e.outcome == Outcome::Answered(201))
            .map(|e| {
                let f = e.request.form();
                let answer: serde_json::Value = serde_json::from_slice(&e.response).unwrap_or_default();
                let get = |k: &str| f.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
                Sms {
                    sid: answer["sid"].as_str().unwrap_or_default().to_string(),
                    to: get("To").unwrap_or_default(),
                    from: get("From"),
                    messaging_service_sid: get("MessagingServiceSid"),
                    body: get("Body").unwrap_or_default(),
                    media_url: get("MediaUrl"),
                }
            })
            .collect()
    }
}

fn twilio_error(status: u16, code: u32, message: &str) -> Response {
    Response::json(
        status,
        &json!({
            "code": code,
            "message": message,
            "more_info": format!("https://www.twilio.com/docs/errors/{code}"),
            "status": status,
        }),
    )
}

fn twilio_answer(sid: &str, token: &str, req: &Request) -> Response {
    if req.method != "POST" || req.path != format!("/2010-04-01/Accounts/{sid}/Messages.json") {
        return twilio_error(404, 20404, "The requested resource was not found");
    }
    let expected = format!(
        "Basic {}",
        base64::Engine::encode(&base64::engine::general_purpose::STANDARD, format!("{sid}:{token}"))
    );
    if req.header("authorization") != Some(expected.as_str()) {
        return twilio_error(401, 20003, "Authenticate");
    }
    let form = req.form();
    let get = |k: &str| form.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str()).filter(|v| !v.is_empty());
    let Some(to) = get("To") else { return twilio_error(400, 21604, "A 'To' phone number is required.") };
    if get("From").is_none() && get("MessagingServiceSid").is_none() {
        return twilio_error(400, 21603, "A 'From' phone number is required.");
    }
    let body = get("Body").unwrap_or("");
    if body.is_empty() && get("MediaUrl").is_none() {
        return twilio_error(400, 21602, "Message body is required.");
    }
    if body.chars().count() > 1600 {
        return twilio_error(400, 21617, "The concatenated message body exceeds the 1600 character limit.");
    }
    let msid = format!("SM{:032x}", rand::rng().random::<u128>());
    Response::json(
        201,
        &json!({ "sid": msid, "account_sid": sid, "to": to, "from": get("From"), "body": body, "status": "queued",
                 "num_segments": body.chars().count().div_ceil(153).max(1).to_string() }),
    )
}

/// A server that answers every request with `handler` (after any faults).
pub struct RecordingServer {
    run: Running,
}

impl RecordingServer {
    pub async fn start(handler: impl Fn(&Request) -> Response + Send + Sync + 'static) -> std::io::Result<Self> {
        Ok(RecordingServer { run: Running::start(Arc::new(handler)).await? })
    }

    common_api!();
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::actions::alerts::signature::sign;
    use crate::domain::Timestamp;

    fn request(header: String, at_s: i64) -> Request {
        Request {
            method: "POST".into(),
            path: "/hooks/layerwatch".into(),
            headers: vec![("x-layerwatch-signature".into(), header)],
            body: br#"{"kind":"incident"}"#.to_vec(),
            at: Timestamp::from_millis(at_s * 1000 + 250),
        }
    }

    #[test]
    fn freshness_is_judged_when_the_request_arrived_not_when_it_is_looked_at() {
        let secret = b"s3cret";
        let sent = chrono::Utc::now().timestamp() - 7200; // two hours ago, as at the start of a soak
        let body = br#"{"kind":"incident"}"#;
        let ok = request(sign(secret, sent, body), sent + 1);
        assert!(signature_valid(secret, &ok), "signed and received two hours ago, within the tolerance then");
        let replayed = request(sign(secret, sent, body), sent + 301);
        assert!(!signature_valid(secret, &replayed), "arrived 301 s after it was signed: stale");
        let forged = request(sign(b"other", sent, body), sent + 1);
        assert!(!signature_valid(secret, &forged), "wrong secret");
    }
}
