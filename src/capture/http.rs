//! HTTP plumbing shared by the MJPEG and snapshot sources: one way to build a
//! `reqwest` client for a camera, URL parsing, and URLs fit for logs (the
//! password of `http://user:password@host/` is never logged).

use std::time::Duration;

use reqwest::Url;

/// A client for camera URLs: connect timeout `timeout`, no overall timeout (streams
/// run for days), no proxy (cameras live on the LAN; a proxy from the environment
/// would break them), no redirects beyond a few.
pub fn camera_client(timeout: Duration) -> Result<reqwest::Client, reqwest::Error> {
    crate::net::install_tls_provider();
    reqwest::Client::builder()
        .connect_timeout(timeout)
        .no_proxy()
        .tcp_nodelay(true)
        .redirect(reqwest::redirect::Policy::limited(5))
        .user_agent(concat!("layerwatch/", env!("CARGO_PKG_VERSION")))
        .build()
}

/// Parses a camera URL; the error names the URL with its password hidden.
pub fn parse_url(raw: &str) -> Result<Url, String> {
    let url = Url::parse(raw).map_err(|e| format!("invalid URL {}: {e}", redact_str(raw)))?;
    match url.scheme() {
        "http" | "https" => Ok(url),
        other => Err(format!("unsupported URL scheme {other:?} in {}", redact(&url))),
    }
}

/// The URL with its password replaced by `***`.
pub fn redact(url: &Url) -> String {
    redact_str(url.as_str())
}

/// Like [`redact`] for text that may not parse as a URL (the rules of `crate::secret`).
pub fn redact_str(raw: &str) -> String {
    crate::secret::redact_text(raw)
}

/// A `reqwest` error as one line: the error and its causes, with the URL redacted.
pub fn describe(err: &reqwest::Error) -> String {
    let mut msg = if err.is_timeout() {
        "timed out".to_string()
    } else if err.is_connect() {
        "cannot connect".to_string()
    } else if err.is_body() || err.is_decode() {
        "error reading the response".to_string()
    } else {
        "request failed".to_string()
    };
    let mut source = std::error::Error::source(err);
    while let Some(s) = source {
        msg.push_str(": ");
        msg.push_str(&s.to_string());
        source = s.source();
    }
    match err.url() {
        Some(u) => format!("{msg} ({})", redact(u)),
        None => msg,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_never_reach_the_logs() {
        let u = parse_url("http://octo:s3cret@cam.local:8080/?action=stream").unwrap();
        assert_eq!(redact(&u), "http://***@cam.local:8080/?action=stream");
        assert_eq!(redact_str("http://a:b@h/x"), "http://***@h/x");
        assert_eq!(redact_str("http://a:b@[bad/x"), "http://***@[bad/x");
        assert!(!parse_url("http://a:pw@[bad/").unwrap_err().contains("pw"));
        assert_eq!(redact_str("http://h/x"), "http://h/x");
    }

    #[test]
    fn only_http_urls() {
        assert!(parse_url("rtsp://h/x").unwrap_err().contains("unsupported URL scheme"));
        assert!(parse_url("https://h/x").is_ok());
    }

    #[test]
    fn a_client_can_be_built_without_a_preinstalled_provider() {
        assert!(camera_client(Duration::from_secs(1)).is_ok());
        assert!(camera_client(Duration::from_secs(1)).is_ok());
    }
}
