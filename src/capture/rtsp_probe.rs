//! Why an RTSP stream did not open. OpenCV's FFmpeg backend only says that it
//! did not, so after a failed open the reader asks the camera itself with one
//! `DESCRIBE` (FFmpeg's own first request) and puts the answer into words:
//! credentials refused or missing (401), access refused (403), no stream at
//! that path (404), connection refused, or no answer. The credentials from the
//! URL are sent (Basic) and never shown: messages name only host and port.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

use base64::Engine as _;

/// Why `url` could not be opened, in words; `None` when the camera answers
/// `DESCRIBE` with 200 (the problem is elsewhere) or `url` is not `rtsp://`.
pub fn why_not(url: &str, timeout: Duration) -> Option<String> {
    let parsed = reqwest::Url::parse(url).ok()?;
    if parsed.scheme() != "rtsp" {
        return None;
    }
    let host = parsed.host_str()?.to_string();
    let port = parsed.port().unwrap_or(554);
    let addr = match (host.as_str(), port).to_socket_addrs().map(|mut a| a.next()) {
        Ok(Some(a)) => a,
        _ => return Some(format!("cannot resolve {host}")),
    };
    let mut stream = match TcpStream::connect_timeout(&addr, timeout) {
        Ok(s) => s,
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
            return Some(format!("connection refused by {host}:{port} (is the RTSP server running?)"));
        }
        Err(e) => return Some(format!("cannot connect to {host}:{port}: {}", io_words(&e))),
    };
    let _ = stream.set_read_timeout(Some(timeout));
    let _ = stream.set_write_timeout(Some(timeout));
    let user = percent_decode(parsed.username());
    let password = parsed.password().map(percent_decode);
    let with_credentials = !user.is_empty() || password.is_some();
    let mut bare = parsed.clone();
    let _ = bare.set_username("");
    let _ = bare.set_password(None);
    let mut request =
        format!("DESCRIBE {bare} RTSP/1.0\r\nCSeq: 1\r\nAccept: application/sdp\r\nUser-Agent: layerwatch\r\n");
    if with_credentials {
        let pair = format!("{user}:{}", password.unwrap_or_default());
        request
            .push_str(&format!("Authorization: Basic {}\r\n", base64::engine::general_purpose::STANDARD.encode(pair)));
    }
    request.push_str("\r\n");
    let no_answer = || format!("{host}:{port} accepted the connection but did not answer RTSP (is it an RTSP server?)");
    if stream.write_all(request.as_bytes()).is_err() {
        return Some(no_answer());
    }
    let mut line = String::new();
    if BufReader::new(stream.take(1024)).read_line(&mut line).is_err() {
        return Some(no_answer());
    }
    let mut words = line.trim_end().splitn(3, ' ');
    let (Some(proto), Some(code)) = (words.next(), words.next().and_then(|c| c.parse::<u16>().ok())) else {
        return Some(no_answer());
    };
    if !proto.starts_with("RTSP/") {
        return Some(no_answer());
    }
    let status = format!("RTSP {code} {}", words.next().unwrap_or("").trim()).trim_end().to_string();
    match code {
        200..=299 => None,
        401 if with_credentials => Some(format!("the camera refused the user name or password in the URL ({status})")),
        401 => Some(format!(
            "the camera needs a user name and password in the URL, like rtsp://user:password@host/path ({status})"
        )),
        403 => Some(format!("the camera refused access to this stream ({status})")),
        404 => Some(format!("the camera has no stream at this path ({status})")),
        _ => Some(format!("the camera answered {status}")),
    }
}

fn io_words(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock => "timed out".into(),
        _ => e.to_string(),
    }
}

/// `%XX` escapes of a URL's user or password, decoded (FFmpeg decodes them too).
fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = |c: u8| (c as char).to_digit(16);
        if b[i] == b'%'
            && let (Some(h), Some(l)) = (b.get(i + 1).and_then(|c| hex(*c)), b.get(i + 2).and_then(|c| hex(*c)))
        {
            out.push((h * 16 + l) as u8);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_in_credentials_are_decoded() {
        assert_eq!(percent_decode("p%40ss%3Aword"), "p@ss:word");
        assert_eq!(percent_decode("plain"), "plain");
        assert_eq!(percent_decode("bad%zz%4"), "bad%zz%4");
    }

    #[test]
    fn only_rtsp_urls_are_probed() {
        assert_eq!(why_not("http://127.0.0.1:1/x", Duration::from_millis(100)), None);
        assert_eq!(why_not("not a url", Duration::from_millis(100)), None);
    }

    #[test]
    fn a_refused_connection_is_named_without_the_credentials() {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let why = why_not(&format!("rtsp://cam:hunter2@127.0.0.1:{port}/s"), Duration::from_secs(2)).unwrap();
        assert_eq!(why, format!("connection refused by 127.0.0.1:{port} (is the RTSP server running?)"));
    }
}
