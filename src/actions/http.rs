//! The HTTP client shared by the alert channels, and how their answers map to
//! retryable or permanent failures.
//!
//! reqwest is built with `rustls-no-provider`: `net::install_tls_provider`
//! puts rustls' `ring` provider in place before any client is built. Every client has a request and a connect timeout. Error texts drop
//! the request URL (a Telegram URL carries the bot token).

use std::time::Duration;

use reqwest::StatusCode;
use reqwest::header::{HeaderMap, RETRY_AFTER};

use super::alerts::NotifyError;

/// A client with `timeout` for the whole request and at most 5 s to connect.
pub fn client(timeout: Duration) -> Result<reqwest::Client, NotifyError> {
    crate::net::install_tls_provider();
    reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout.min(Duration::from_secs(5)))
        .user_agent(concat!("layerwatch/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| NotifyError::Permanent { status: None, message: format!("cannot build HTTP client: {e}") })
}

/// Maps a transport error (connect, timeout, broken body) to a retryable failure.
pub(crate) fn transport_error(e: reqwest::Error, timeout: Duration) -> NotifyError {
    let e = e.without_url();
    let message = if e.is_timeout() {
        format!("no answer within {} ms", timeout.as_millis())
    } else if e.is_connect() {
        format!("cannot connect: {}", crate::net::error_chain(&e))
    } else {
        format!("request failed: {}", crate::net::error_chain(&e))
    };
    NotifyError::Retryable { status: None, retry_after: None, message }
}

/// Maps a non-2xx answer: 408, 425, 429 and 5xx are retryable (429 and 503
/// with their `Retry-After`), every other status is permanent.
pub(crate) fn status_error(status: StatusCode, headers: &HeaderMap, detail: &str) -> NotifyError {
    let detail = detail.trim();
    let mut message = format!("HTTP {}", status.as_u16());
    if !detail.is_empty() {
        message.push_str(": ");
        message.extend(detail.chars().take(300));
    }
    let code = status.as_u16();
    if code == 408 || code == 425 || code == 429 || status.is_server_error() {
        NotifyError::Retryable { status: Some(code), retry_after: retry_after(headers), message }
    } else {
        NotifyError::Permanent { status: Some(code), message }
    }
}

/// `Retry-After` as seconds or as an HTTP date.
pub(crate) fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let v = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let when = chrono::DateTime::parse_from_rfc2822(v).ok()?;
    let ms = when.timestamp_millis() - chrono::Utc::now().timestamp_millis();
    Some(Duration::from_millis(ms.max(0) as u64))
}

#[cfg(test)]
mod tests {
    use reqwest::header::HeaderValue;

    use super::*;

    #[test]
    fn statuses_split_into_retryable_and_permanent() {
        let h = HeaderMap::new();
        for code in [408u16, 425, 429, 500, 502, 503, 504] {
            let e = status_error(StatusCode::from_u16(code).unwrap(), &h, "");
            assert!(!e.is_permanent(), "{code}");
        }
        for code in [400u16, 401, 403, 404, 410, 413, 422] {
            let e = status_error(StatusCode::from_u16(code).unwrap(), &h, "nope");
            assert!(e.is_permanent(), "{code}");
            assert_eq!(e.to_string(), format!("permanent: HTTP {code}: nope"));
        }
    }

    #[test]
    fn retry_after_reads_seconds_and_dates() {
        let mut h = HeaderMap::new();
        h.insert(RETRY_AFTER, HeaderValue::from_static("7"));
        assert_eq!(retry_after(&h), Some(Duration::from_secs(7)));
        h.insert(RETRY_AFTER, HeaderValue::from_static("Wed, 21 Oct 2015 07:28:00 GMT"));
        assert_eq!(retry_after(&h), Some(Duration::ZERO), "a date in the past means now");
        h.insert(RETRY_AFTER, HeaderValue::from_static("soon"));
        assert_eq!(retry_after(&h), None);
    }

    #[test]
    fn a_client_builds_without_any_set_up() {
        assert!(client(Duration::from_secs(1)).is_ok());
    }
}
