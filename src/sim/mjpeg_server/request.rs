//! Reading and routing the simulated camera's HTTP/1.1 requests: the request
//! head (bounded, with a timeout), the route, and HTTP Basic auth.

use std::time::Duration;

use base64::Engine;
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;

/// Longest request head accepted.
const MAX_HEAD: usize = 8 * 1024;
/// How long a client may take to send its request head.
const HEAD_TIMEOUT: Duration = Duration::from_secs(5);

/// What a request asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// `/stream`, `/?action=stream` (mjpg-streamer), `/video`, `/mjpeg`.
    Stream,
    /// `/snapshot`, `/?action=snapshot`, `/snapshot.jpg`.
    Snapshot,
    NotFound(String),
    MethodNotAllowed(String),
}

/// A parsed request head.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub route: Route,
    /// `Authorization: Basic …` decoded to `(user, password)`.
    pub basic_auth: Option<(String, String)>,
}

/// Reads the request head from `sock`; `None` when the client sent nothing usable.
pub async fn read(sock: &mut TcpStream) -> Option<Request> {
    let mut buf = Vec::with_capacity(1024);
    let read = async {
        let mut chunk = [0u8; 1024];
        loop {
            let n = sock.read(&mut chunk).await.ok()?;
            if n == 0 {
                return None;
            }
            buf.extend_from_slice(&chunk[..n]);
            if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                return Some(end);
            }
            if buf.len() > MAX_HEAD {
                return None;
            }
        }
    };
    let end = tokio::time::timeout(HEAD_TIMEOUT, read).await.ok()??;
    parse(&String::from_utf8_lossy(&buf[..end]))
}

/// Parses a request head (request line and headers, without the blank line).
pub fn parse(head: &str) -> Option<Request> {
    let mut lines = head.split("\r\n");
    let mut first = lines.next()?.split_ascii_whitespace();
    let (method, target) = (first.next()?, first.next()?);
    let basic_auth = lines.filter_map(|l| l.split_once(':')).find_map(|(name, value)| {
        if !name.trim().eq_ignore_ascii_case("authorization") {
            return None;
        }
        let (scheme, cred) = value.trim().split_once(' ')?;
        if !scheme.eq_ignore_ascii_case("basic") {
            return None;
        }
        let decoded = base64::engine::general_purpose::STANDARD.decode(cred.trim()).ok()?;
        let text = String::from_utf8(decoded).ok()?;
        let (u, p) = text.split_once(':')?;
        Some((u.to_string(), p.to_string()))
    });
    let route = if method != "GET" && method != "HEAD" {
        Route::MethodNotAllowed(method.to_string())
    } else {
        let (path, query) = target.split_once('?').unwrap_or((target, ""));
        let action = query.split('&').find_map(|kv| kv.strip_prefix("action="));
        match (path, action) {
            (_, Some("stream")) | ("/stream" | "/video" | "/mjpeg", _) => Route::Stream,
            (_, Some("snapshot")) | ("/snapshot" | "/snapshot.jpg", _) => Route::Snapshot,
            _ => Route::NotFound(target.to_string()),
        }
    };
    Some(Request { route, basic_auth })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_of_common_camera_servers() {
        let r = |t: &str| parse(&format!("GET {t} HTTP/1.1\r\nHost: x")).unwrap().route;
        assert_eq!(r("/?action=stream"), Route::Stream);
        assert_eq!(r("/stream"), Route::Stream);
        assert_eq!(r("/?action=snapshot&n=3"), Route::Snapshot);
        assert_eq!(r("/snapshot"), Route::Snapshot);
        assert_eq!(r("/nope"), Route::NotFound("/nope".into()));
        assert_eq!(parse("POST /stream HTTP/1.1").unwrap().route, Route::MethodNotAllowed("POST".into()));
        assert_eq!(parse(""), None);
    }

    #[test]
    fn basic_auth_is_decoded() {
        let req = parse("GET /stream HTTP/1.1\r\nauthorization: Basic b2N0bzpzM2NyZXQ=").unwrap();
        assert_eq!(req.basic_auth, Some(("octo".into(), "s3cret".into())));
        assert_eq!(parse("GET /stream HTTP/1.1\r\nAuthorization: Basic !!").unwrap().basic_auth, None);
    }
}
