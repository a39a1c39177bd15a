//! OctoPrint's push socket (`/sockjs/websocket`, plain websocket framing):
//! passive login with the API key, `{"auth": "name:session"}`, a throttle for
//! `current` messages, then a stream of parsed `PushMessage`s.

use std::time::Duration;

use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::printer::hostlink::http;

use super::api::{OctoPrintApi, OctoPrintError};
use super::model::{PushMessage, parse_push};

/// What the socket delivered.
#[derive(Debug)]
pub(crate) enum Received {
    Message(PushMessage),
    /// A frame that is not a message we can parse (logged and counted by the caller).
    Garbled {
        error: String,
        sample: String,
    },
    /// A ping or pong: the connection is alive.
    Alive,
}

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// An authenticated push-socket connection, split so the loop can ping while it reads.
pub(crate) struct PushSession {
    pub(crate) rx: PushReader,
    pub(crate) tx: SplitSink<Ws, Message>,
}

/// The reading half of a push session.
pub(crate) struct PushReader {
    stream: SplitStream<Ws>,
}

impl PushSession {
    /// Logs in passively, connects and authenticates. `throttle` multiplies
    /// OctoPrint's 500 ms base interval for `current` messages.
    pub(crate) async fn open(api: &OctoPrintApi, throttle: u32, timeout: Duration) -> Result<Self, OctoPrintError> {
        let login = api.passive_login().await?;
        let url = http::ws_url(api.base(), "sockjs/websocket").map_err(OctoPrintError::Socket)?;
        let connect = tokio_tungstenite::connect_async(url.as_str());
        let (mut ws, _) = tokio::time::timeout(timeout, connect)
            .await
            .map_err(|_| OctoPrintError::Socket(format!("connecting to {url} timed out")))?
            .map_err(|e| OctoPrintError::Socket(format!("cannot connect to {url}: {e}")))?;
        let auth = serde_json::json!({"auth": format!("{}:{}", login.name, login.session)});
        ws.send(Message::text(auth.to_string())).await.map_err(|e| OctoPrintError::Socket(format!("auth: {e}")))?;
        let throttle = serde_json::json!({"throttle": throttle.max(1)});
        ws.send(Message::text(throttle.to_string()))
            .await
            .map_err(|e| OctoPrintError::Socket(format!("throttle: {e}")))?;
        let (tx, stream) = ws.split();
        Ok(PushSession { rx: PushReader { stream }, tx })
    }

    /// A websocket ping; the answer shows up as `Received::Alive`.
    pub(crate) async fn ping(tx: &mut SplitSink<Ws, Message>) -> Result<(), String> {
        tx.send(Message::Ping(Vec::new().into())).await.map_err(|e| e.to_string())
    }

    pub(crate) async fn close(mut self) {
        let _ = tokio::time::timeout(Duration::from_secs(1), self.tx.close()).await;
    }
}

impl PushReader {
    /// The next message; `None` when the socket closed or failed (the reason is logged).
    pub(crate) async fn next(&mut self) -> Option<Received> {
        loop {
            let frame = match self.stream.next().await? {
                Ok(f) => f,
                Err(e) => {
                    tracing::debug!(error = %e, "octoprint push socket read failed");
                    return None;
                }
            };
            let text = match frame {
                Message::Text(t) => t,
                Message::Binary(b) => match std::str::from_utf8(&b) {
                    Ok(t) => t.into(),
                    Err(_) => {
                        return Some(Received::Garbled {
                            error: "binary frame is not utf-8".into(),
                            sample: String::new(),
                        });
                    }
                },
                Message::Close(frame) => {
                    tracing::debug!(?frame, "octoprint closed the push socket");
                    return None;
                }
                Message::Ping(_) | Message::Pong(_) => return Some(Received::Alive),
                Message::Frame(_) => continue,
            };
            return Some(match parse_push(text.as_str()) {
                Ok(m) => Received::Message(m),
                Err(e) => Received::Garbled { error: e.to_string(), sample: text.as_str().chars().take(120).collect() },
            });
        }
    }
}
