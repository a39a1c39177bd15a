//! A small HTTP/1.1 server for the simulated receivers: one request per
//! connection (`Connection: close`), bodies by `Content-Length` or chunked,
//! and injectable faults (error status, `Retry-After`, hang, dropped
//! connection) that a full framework would hide.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;

use crate::domain::Timestamp;

/// One request as received.
#[derive(Debug, Clone)]
pub struct Request {
    pub method: String,
    /// Path and query, as sent.
    pub path: String,
    /// Header names in lower case.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub at: Timestamp,
}

impl Request {
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers.iter().find(|(n, _)| *n == name).map(|(_, v)| v.as_str())
    }

    /// The body as `application/x-www-form-urlencoded` pairs.
    pub fn form(&self) -> Vec<(String, String)> {
        form_urlencoded(&self.body)
    }
}

/// An answer.
#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    pub content_type: &'static str,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn json(status: u16, v: &serde_json::Value) -> Response {
        Response { status, content_type: "application/json", headers: vec![], body: v.to_string().into_bytes() }
    }
}

/// A programmed misbehaviour, used for the next request(s) instead of the normal answer.
#[derive(Debug, Clone, PartialEq)]
pub enum Fault {
    /// Answer with this status and body.
    Status { status: u16, body: String },
    /// Answer 429 with `Retry-After: secs`.
    TooManyRequests { retry_after_s: u64 },
    /// Read the request and never answer (until the receiver stops).
    Hang,
    /// Read the request and close the connection without answering.
    Close,
}

/// One request, what happened to it, and the body answered (if any).
#[derive(Debug, Clone)]
pub struct Exchange {
    pub request: Request,
    pub outcome: Outcome,
    pub response: Vec<u8>,
}

impl Exchange {
    pub fn accepted(&self) -> bool {
        matches!(self.outcome, Outcome::Answered(s) if (200..300).contains(&s))
    }
}

/// What happened to a request.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    Answered(u16),
    Hung,
    Closed,
}

pub(crate) type Handler = Arc<dyn Fn(&Request) -> Response + Send + Sync>;

/// Shared between the accept loop and the owner.
#[derive(Default)]
pub(crate) struct Log {
    pub faults: VecDeque<Fault>,
    pub seen: Vec<Exchange>,
}

pub(crate) type SharedLog = Arc<Mutex<Log>>;

pub(crate) fn lock(log: &SharedLog) -> std::sync::MutexGuard<'_, Log> {
    log.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Binds `127.0.0.1:0` and serves until `cancel`.
pub(crate) async fn serve(handler: Handler, log: SharedLog, cancel: CancellationToken) -> std::io::Result<SocketAddr> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        loop {
            let conn = tokio::select! {
                _ = cancel.cancelled() => break,
                c = listener.accept() => c,
            };
            let Ok((stream, _)) = conn else { continue };
            let (handler, log, cancel) = (Arc::clone(&handler), Arc::clone(&log), cancel.clone());
            tokio::spawn(async move {
                if let Err(e) = connection(stream, handler, log, cancel).await {
                    tracing::debug!(error = %e, "receiver connection ended with an error");
                }
            });
        }
    });
    Ok(addr)
}

async fn connection(
    stream: TcpStream,
    handler: Handler,
    log: SharedLog,
    cancel: CancellationToken,
) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream);
    let Some(req) = read_request(&mut reader).await? else { return Ok(()) };
    let fault = lock(&log).faults.pop_front();
    let response = match fault {
        None => handler(&req),
        Some(Fault::Status { status, body }) => {
            Response { status, content_type: "text/plain", headers: vec![], body: body.into_bytes() }
        }
        Some(Fault::TooManyRequests { retry_after_s }) => Response {
            status: 429,
            content_type: "text/plain",
            headers: vec![("Retry-After".into(), retry_after_s.to_string())],
            body: b"slow down".to_vec(),
        },
        Some(Fault::Hang) => {
            lock(&log).seen.push(Exchange { request: req, outcome: Outcome::Hung, response: vec![] });
            cancel.cancelled().await;
            return Ok(());
        }
        Some(Fault::Close) => {
            lock(&log).seen.push(Exchange { request: req, outcome: Outcome::Closed, response: vec![] });
            return Ok(());
        }
    };
    lock(&log).seen.push(Exchange {
        request: req,
        outcome: Outcome::Answered(response.status),
        response: response.body.clone(),
    });
    let mut head = format!(
        "HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\nConnection: close\r\n",
        response.status,
        reason(response.status),
        response.content_type,
        response.body.len()
    );
    for (n, v) in &response.headers {
        head.push_str(&format!("{n}: {v}\r\n"));
    }
    head.push_str("\r\n");
    let stream = reader.get_mut();
    stream.write_all(head.as_bytes()).await?;
    stream.write_all(&response.body).await?;
    stream.shutdown().await
}

/// The largest request body accepted.
const MAX_BODY: usize = 64 * 1024 * 1024;

/// Reads one request; `None` if the peer closed before sending one.
async fn read_request(r: &mut BufReader<TcpStream>) -> std::io::Result<Option<Request>> {
    let bad = |m: &str| std::io::Error::new(std::io::ErrorKind::InvalidData, m.to_string());
    let mut line = String::new();
    if r.read_line(&mut line).await? == 0 {
        return Ok(None);
    }
    let mut parts = line.split_whitespace();
    let (method, path) = match (parts.next(), parts.next()) {
        (Some(m), Some(p)) => (m.to_string(), p.to_string()),
        _ => return Err(bad("malformed request line")),
    };
    let mut headers = Vec::new();
    loop {
        line.clear();
        if r.read_line(&mut line).await? == 0 {
            return Err(bad("connection closed in headers"));
        }
        let l = line.trim_end();
        if l.is_empty() {
            break;
        }
        let (n, v) = l.split_once(':').ok_or_else(|| bad("malformed header"))?;
        headers.push((n.trim().to_ascii_lowercase(), v.trim().to_string()));
    }
    let get = |n: &str| headers.iter().find(|(k, _)| k == n).map(|(_, v)| v.clone());
    let mut body = Vec::new();
    if get("transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked")) {
        loop {
            line.clear();
            r.read_line(&mut line).await?;
            let size = usize::from_str_radix(line.trim().split(';').next().unwrap_or(""), 16)
                .map_err(|_| bad("bad chunk size"))?;
            if body.len() + size > MAX_BODY {
                return Err(bad("body too large"));
            }
            let mut chunk = vec![0; size + 2];
            r.read_exact(&mut chunk).await?;
            if size == 0 {
                break;
            }
            body.extend_from_slice(&chunk[..size]);
        }
    } else if let Some(len) = get("content-length") {
        let len: usize = len.parse().map_err(|_| bad("bad content-length"))?;
        if len > MAX_BODY {
            return Err(bad("body too large"));
        }
        body.resize(len, 0);
        tokio::time::timeout(Duration::from_secs(30), r.read_exact(&mut body))
            .await
            .map_err(|_| bad("body timed out"))??;
    }
    Ok(Some(Request { method, path, headers, body, at: Timestamp::now() }))
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        201 => "Created",
        400 => "Bad Request",
        401 => "Unauthorized",
        404 => "Not Found",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "Status",
    }
}

/// Decodes `a=1&b=x%20y+z`.
pub fn form_urlencoded(body: &[u8]) -> Vec<(String, String)> {
    let decode = |s: &str| -> String {
        let bytes = s.as_bytes();
        let mut out = Vec::with_capacity(bytes.len());
        let mut i = 0;
        while i < bytes.len() {
            match bytes[i] {
                b'+' => out.push(b' '),
                b'%' if i + 2 < bytes.len() => {
                    let hex = |c: u8| (c as char).to_digit(16).map(|d| d as u8);
                    match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                        (Some(h), Some(l)) => {
                            out.push(h * 16 + l);
                            i += 2;
                        }
                        _ => out.push(b'%'),
                    }
                }
                b => out.push(b),
            }
            i += 1;
        }
        String::from_utf8_lossy(&out).into_owned()
    };
    String::from_utf8_lossy(body)
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| match p.split_once('=') {
            Some((k, v)) => (decode(k), decode(v)),
            None => (decode(p), String::new()),
        })
        .collect()
}

/// Waits until `cond` holds on the log, polling every 10 ms, for at most `timeout`.
pub(crate) async fn wait_until(log: &SharedLog, timeout: Duration, cond: impl Fn(&Log) -> bool) -> bool {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if cond(&lock(log)) {
            return true;
        }
        if tokio::time::Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_forms() {
        let f = form_urlencoded(b"To=%2B15551234567&Body=a+b%20c&Empty=&x");
        assert_eq!(
            f,
            vec![
                ("To".into(), "+15551234567".into()),
                ("Body".into(), "a b c".into()),
                ("Empty".into(), String::new()),
                ("x".into(), String::new())
            ]
        );
    }
}
