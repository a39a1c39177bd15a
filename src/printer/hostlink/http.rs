//! HTTP set-up shared by the host backends: the client, base-URL handling,
//! API keys that never reach a log line, and bounded file downloads.

use std::fmt;
use std::time::Duration;

use reqwest::Url;

/// An API key. `Debug` and `Display` print `***`, so a key cannot leak through
/// a log line, an error message or a `{:?}` of a config.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct Secret(String);

impl Secret {
    /// The configured key (blank counts as unset), else the environment
    /// variable `env`, else `None`.
    pub(crate) fn from_config_or_env(configured: Option<&str>, env: &str) -> Option<Secret> {
        let clean = |k: &str| Some(k.trim().to_owned()).filter(|k| !k.is_empty());
        configured.and_then(clean).or_else(|| std::env::var(env).ok().as_deref().and_then(clean)).map(Secret)
    }

    pub(crate) fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// Parses a host's base URL (`http://host:port[/prefix]`), normalised to end
/// in `/` so `join("api/job")` keeps any reverse-proxy prefix.
pub(crate) fn base_url(url: &str) -> Result<Url, String> {
    let mut u = Url::parse(url.trim()).map_err(|e| format!("invalid url {url:?}: {e}"))?;
    if !matches!(u.scheme(), "http" | "https") {
        return Err(format!("invalid url {url:?}: must be http:// or https://"));
    }
    if !u.path().ends_with('/') {
        let p = format!("{}/", u.path());
        u.set_path(&p);
    }
    u.set_query(None);
    u.set_fragment(None);
    Ok(u)
}

/// `base` + fixed path segments + a file path whose `/`-separated parts are
/// each percent-encoded (spaces, `#`, `?` and non-ASCII in file names).
pub(crate) fn file_url(base: &Url, fixed: &[&str], file_path: &str) -> Url {
    let mut u = base.clone();
    if let Ok(mut segs) = u.path_segments_mut() {
        segs.pop_if_empty();
        segs.extend(fixed.iter().copied());
        segs.extend(file_path.split('/').filter(|s| !s.is_empty()));
    }
    u
}

/// The websocket URL for `path` on the same host (`http` → `ws`, `https` → `wss`).
pub(crate) fn ws_url(base: &Url, path: &str) -> Result<Url, String> {
    let mut u = base.join(path).map_err(|e| format!("cannot build websocket url: {e}"))?;
    let scheme = if base.scheme() == "https" { "wss" } else { "ws" };
    u.set_scheme(scheme).map_err(|()| format!("cannot use scheme {scheme} for {base}"))?;
    Ok(u)
}

/// A client for one host. Installs the process-wide rustls provider (ring)
/// first, as reqwest requires with `rustls-no-provider`.
pub(crate) fn client(request_timeout: Duration) -> Result<reqwest::Client, String> {
    crate::net::install_tls_provider();
    reqwest::Client::builder()
        .timeout(request_timeout)
        .connect_timeout(request_timeout.min(Duration::from_secs(5)))
        .user_agent(concat!("layerwatch/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| format!("cannot build http client: {e}"))
}

/// Why a download could not start.
#[derive(Debug, thiserror::Error)]
pub(crate) enum DownloadError {
    #[error("GET {url}: {reason}")]
    Transport { url: String, reason: String },
    #[error("GET {url}: http {status}")]
    Status { url: String, status: u16 },
}

/// Starts downloading `url` (status checked); the caller streams the body.
/// No overall timeout: a big file over a slow link may take minutes.
pub(crate) async fn open_download(
    client: &reqwest::Client,
    url: Url,
    api_key: Option<&Secret>,
) -> Result<reqwest::Response, DownloadError> {
    let shown = url.path().to_string();
    let mut req = client.get(url).timeout(Duration::from_secs(3600));
    if let Some(k) = api_key {
        req = req.header("X-Api-Key", k.expose());
    }
    let resp = req.send().await.map_err(|e| DownloadError::Transport { url: shown.clone(), reason: innermost(&e) })?;
    if !resp.status().is_success() {
        return Err(DownloadError::Status { url: shown, status: resp.status().as_u16() });
    }
    Ok(resp)
}

/// The innermost cause of an error: "connection refused" beats "error sending request".
pub(crate) fn innermost(e: &(dyn std::error::Error + 'static)) -> String {
    let mut reason = e.to_string();
    let mut src = e.source();
    while let Some(s) = src {
        reason = s.to_string();
        src = s.source();
    }
    reason
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_urls_keep_their_prefix_and_end_in_a_slash() {
        let b = base_url("http://pi.local:5000").unwrap();
        assert_eq!(b.join("api/job").unwrap().as_str(), "http://pi.local:5000/api/job");
        let b = base_url("https://farm.example/octo1?x=1").unwrap();
        assert_eq!(b.join("api/job").unwrap().as_str(), "https://farm.example/octo1/api/job");
        assert!(base_url("ftp://x").is_err());
        assert!(base_url("not a url").is_err());
    }

    #[test]
    fn file_urls_encode_each_segment() {
        let b = base_url("http://h:1/p/").unwrap();
        let u = file_url(&b, &["downloads", "files", "local"], "my prints/Benchy #2 (ü).gcode");
        assert_eq!(u.as_str(), "http://h:1/p/downloads/files/local/my%20prints/Benchy%20%232%20(%C3%BC).gcode");
    }

    #[test]
    fn ws_urls_follow_the_scheme() {
        assert_eq!(ws_url(&base_url("http://h:7125").unwrap(), "websocket").unwrap().as_str(), "ws://h:7125/websocket");
        assert_eq!(ws_url(&base_url("https://h/m/").unwrap(), "websocket").unwrap().as_str(), "wss://h/m/websocket");
    }

    #[test]
    fn secrets_never_print() {
        let s = Secret::from_config_or_env(Some(" abc "), "LAYERWATCH_TEST_UNSET_VAR").unwrap();
        assert_eq!(format!("{s:?}"), "***");
        assert_eq!(s.expose(), "abc");
        assert!(Secret::from_config_or_env(Some("  "), "LAYERWATCH_TEST_UNSET_VAR").is_none());
    }
}
