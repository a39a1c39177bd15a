//! JSON-RPC 2.0 over Moonraker's `/websocket`: request ids, a pending-request
//! map answered by the reader task, notifications handed to the host loop.
//!
//! One `Rpc` lives as long as the link; each websocket session installs its
//! sender into it and removes it when the socket ends, failing every call in
//! flight with `RpcError::Dropped` (nothing waits forever on a dead socket).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::sync::{mpsc, oneshot};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use crate::printer::hostlink::http::Secret;

/// Why a JSON-RPC call failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum RpcError {
    #[error("not connected to moonraker")]
    NotConnected,
    #[error("{method}: no answer from moonraker within {timeout_ms} ms")]
    Timeout { method: &'static str, timeout_ms: u64 },
    #[error("{method}: the websocket closed before moonraker answered")]
    Dropped { method: &'static str },
    #[error("{method}: moonraker error {code}: {message}")]
    Remote { method: &'static str, code: i64, message: String },
}

type Reply = Result<Value, (i64, String)>;
type Pending = Arc<Mutex<HashMap<u64, oneshot::Sender<Reply>>>>;

/// A server-to-client notification (`{"method": …, "params": …}` without an id).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Notification {
    pub method: String,
    pub params: Value,
}

/// What the reader task passes to the loop.
#[derive(Debug)]
pub(crate) enum Incoming {
    Notification(Notification),
    /// A frame that is neither an answer nor a notification (logged, counted).
    Garbled {
        error: String,
        sample: String,
    },
}

struct Conn {
    out: mpsc::UnboundedSender<Message>,
    pending: Pending,
}

/// The call side, shared by the loop and the link's commands.
pub(crate) struct Rpc {
    conn: Mutex<Option<Conn>>,
    next_id: AtomicU64,
    timeout: Duration,
}

impl Rpc {
    pub(crate) fn new(timeout: Duration) -> Self {
        Rpc { conn: Mutex::new(None), next_id: AtomicU64::new(1), timeout }
    }

    /// Calls `method` and waits for its answer (at most the request timeout).
    pub(crate) async fn call(&self, method: &'static str, params: Value) -> Result<Value, RpcError> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        {
            let guard = self.conn.lock().map_err(|_| RpcError::NotConnected)?;
            let conn = guard.as_ref().ok_or(RpcError::NotConnected)?;
            if let Ok(mut p) = conn.pending.lock() {
                p.insert(id, tx);
            }
            let req = json!({"jsonrpc": "2.0", "method": method, "params": params, "id": id});
            conn.out.send(Message::text(req.to_string())).map_err(|_| RpcError::Dropped { method })?;
        }
        match tokio::time::timeout(self.timeout, rx).await {
            Ok(Ok(Ok(v))) => Ok(v),
            Ok(Ok(Err((code, message)))) => Err(RpcError::Remote { method, code, message }),
            Ok(Err(_)) => Err(RpcError::Dropped { method }),
            Err(_) => {
                self.forget(id);
                Err(RpcError::Timeout { method, timeout_ms: self.timeout.as_millis() as u64 })
            }
        }
    }

    fn forget(&self, id: u64) {
        if let Ok(g) = self.conn.lock()
            && let Some(c) = g.as_ref()
            && let Ok(mut p) = c.pending.lock()
        {
            p.remove(&id);
        }
    }

    /// Connects the websocket, installs it, and returns the stream of
    /// incoming notifications; the stream ends when the socket does.
    pub(crate) async fn open(
        &self,
        url: &str,
        api_key: Option<&Secret>,
        timeout: Duration,
    ) -> Result<mpsc::UnboundedReceiver<Incoming>, String> {
        let mut req = url.into_client_request().map_err(|e| format!("bad websocket url {url}: {e}"))?;
        if let Some(k) = api_key {
            let v = k.expose().parse().map_err(|_| "api key is not a valid header value".to_string())?;
            req.headers_mut().insert("X-Api-Key", v);
        }
        let (ws, _) = tokio::time::timeout(timeout, tokio_tungstenite::connect_async(req))
            .await
            .map_err(|_| format!("connecting to {url} timed out"))?
            .map_err(|e| format!("cannot connect to {url}: {e}"))?;
        let (mut sink, mut stream) = ws.split();
        let (out_tx, mut out_rx) = mpsc::unbounded_channel::<Message>();
        let (in_tx, in_rx) = mpsc::unbounded_channel();
        let pending: Pending = Arc::new(Mutex::new(HashMap::new()));

        tokio::spawn(async move {
            while let Some(m) = out_rx.recv().await {
                if sink.send(m).await.is_err() {
                    break;
                }
            }
            let _ = sink.close().await;
        });
        let reader_pending = pending.clone();
        let pinger = out_tx.clone();
        tokio::spawn(async move {
            while let Some(frame) = stream.next().await {
                let text = match frame {
                    Ok(Message::Text(t)) => t,
                    Ok(Message::Ping(p)) => {
                        let _ = pinger.send(Message::Pong(p));
                        continue;
                    }
                    Ok(Message::Close(_)) | Err(_) => break,
                    Ok(_) => continue,
                };
                if let Some(incoming) = route(text.as_str(), &reader_pending)
                    && in_tx.send(incoming).is_err()
                {
                    break;
                }
            }
            // Dropping the senders fails every call still waiting.
            if let Ok(mut p) = reader_pending.lock() {
                p.clear();
            }
        });
        if let Ok(mut c) = self.conn.lock() {
            *c = Some(Conn { out: out_tx, pending });
        }
        Ok(in_rx)
    }

    /// Forgets the current socket (its tasks end when it closes).
    pub(crate) fn detach(&self) {
        if let Ok(mut c) = self.conn.lock()
            && let Some(conn) = c.take()
        {
            let _ = conn.out.send(Message::Close(None));
            if let Ok(mut p) = conn.pending.lock() {
                p.clear();
            }
        }
    }
}

/// Answers go to their caller; notifications and junk come back.
fn route(text: &str, pending: &Pending) -> Option<Incoming> {
    let v: Value = match serde_json::from_str(text) {
        Ok(v) => v,
        Err(e) => return Some(garbled(e.to_string(), text)),
    };
    if let Some(id) = v.get("id").and_then(Value::as_u64) {
        let reply = match (v.get("result"), v.get("error")) {
            (Some(r), _) => Ok(r.clone()),
            (None, Some(e)) => Err((
                e.get("code").and_then(Value::as_i64).unwrap_or(0),
                e.get("message").and_then(Value::as_str).unwrap_or("unknown error").to_string(),
            )),
            (None, None) => return Some(garbled("answer without result or error".into(), text)),
        };
        if let Some(tx) = pending.lock().ok().and_then(|mut p| p.remove(&id)) {
            let _ = tx.send(reply);
        }
        return None;
    }
    match v.get("method").and_then(Value::as_str) {
        Some(m) => Some(Incoming::Notification(Notification {
            method: m.to_string(),
            params: v.get("params").cloned().unwrap_or(Value::Null),
        })),
        None => Some(garbled("neither an answer nor a notification".into(), text)),
    }
}

fn garbled(error: String, text: &str) -> Incoming {
    Incoming::Garbled { error, sample: text.chars().take(120).collect() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_reach_their_caller_and_notifications_pass_through() {
        let pending: Pending = Arc::new(Mutex::new(HashMap::new()));
        let (tx, mut rx) = oneshot::channel();
        pending.lock().unwrap().insert(7, tx);
        assert!(route(r#"{"jsonrpc":"2.0","result":{"ok":1},"id":7}"#, &pending).is_none());
        assert_eq!(rx.try_recv().unwrap().unwrap(), json!({"ok": 1}));

        let (tx, mut rx) = oneshot::channel();
        pending.lock().unwrap().insert(8, tx);
        route(r#"{"jsonrpc":"2.0","error":{"code":400,"message":"Printer is not paused"},"id":8}"#, &pending);
        assert_eq!(rx.try_recv().unwrap().unwrap_err(), (400, "Printer is not paused".to_string()));

        let n = route(r#"{"jsonrpc":"2.0","method":"notify_klippy_ready"}"#, &pending);
        assert!(matches!(n, Some(Incoming::Notification(Notification { ref method, .. }))
                if method == "notify_klippy_ready"));
        assert!(matches!(route("{not json", &pending), Some(Incoming::Garbled { .. })));
        assert!(matches!(route(r#"{"jsonrpc":"2.0"}"#, &pending), Some(Incoming::Garbled { .. })));
        // An answer nobody waits for (timed out earlier) is dropped quietly.
        assert!(route(r#"{"jsonrpc":"2.0","result":"ok","id":99}"#, &pending).is_none());
    }
}
