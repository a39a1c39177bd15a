//! Access control for every request: who is asking (bearer token, session
//! cookie, or nobody), whether they may read, and whether a state-changing
//! request is safe from cross-site forgery.
//!
//! Rules, in order:
//! 1. When the server listens on loopback, the `Host` header must name a
//!    loopback host (no DNS-rebinding page can talk to it).
//! 2. `/healthz`, `/login` and `/assets/*` are public.
//! 3. With `[web] token` set, everything else needs `Authorization: Bearer
//!    <token>` or the session cookie the login form sets (`HttpOnly`,
//!    `SameSite=Strict`). Without a token (loopback only) reads are open.
//! 4. State-changing requests (anything but GET/HEAD) are refused when they
//!    come from another origin (`Origin`, `Sec-Fetch-Site`) and, unless they
//!    carry the bearer token, need the `X-CSRF-Token` header the page was
//!    served with (per session, or per process without a token).
//!
//! 5. Wrong tokens (login form or bearer) are throttled: after
//!    [`FREE_FAILURES`] in a row every attempt waits twice as long as the last
//!    (up to [`MAX_LOCKOUT`]), answered `429` with `Retry-After`.
//!
//! Tokens are compared in constant time and never logged.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};

use super::server::WebState;

/// Name of the session cookie.
pub const SESSION_COOKIE: &str = "lw_session";
/// Header carrying the CSRF token on state-changing requests.
pub const CSRF_HEADER: &str = "x-csrf-token";
/// Sessions kept at once (the oldest is forgotten beyond).
const MAX_SESSIONS: usize = 64;
/// Wrong tokens in a row before attempts are slowed down.
pub const FREE_FAILURES: u32 = 5;
/// The longest wait imposed after wrong tokens.
pub const MAX_LOCKOUT: Duration = Duration::from_secs(300);

/// Back-off after wrong tokens: attempts are refused until `until`.
#[derive(Debug, Default)]
struct Throttle {
    failures: u32,
    until: Option<Instant>,
}

impl Throttle {
    fn wait(&self, now: Instant) -> Option<Duration> {
        self.until.filter(|u| *u > now).map(|u| u - now)
    }

    fn failed(&mut self, now: Instant) {
        self.failures = self.failures.saturating_add(1);
        if self.failures >= FREE_FAILURES {
            let doublings = (self.failures - FREE_FAILURES).min(16);
            self.until = Some(now + Duration::from_secs(1 << doublings).min(MAX_LOCKOUT));
        }
    }
}

/// Why a sign-in was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoginRefused {
    /// No token configured, or not the right one.
    Wrong,
    /// Too many wrong tokens: try again after this long.
    Throttled(Duration),
}

/// Who made a request, as the handlers see it (a request extension).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Access {
    /// `Authorization: Bearer` with the configured token.
    Bearer,
    /// A login session; the page must echo `csrf`.
    Session { csrf: String },
    /// No credentials (only reaches handlers when no token is configured).
    Anonymous,
}

impl Access {
    /// The name recorded in the audit log for commands.
    pub fn who(&self) -> &'static str {
        match self {
            Access::Bearer => "api token",
            Access::Session { .. } => "dashboard (signed in)",
            Access::Anonymous => "dashboard",
        }
    }
}

struct Session {
    id: String,
    csrf: String,
}

/// The server's credentials and sessions.
pub struct Auth {
    token: Option<String>,
    /// CSRF token for pages served without a configured token.
    anonymous_csrf: String,
    sessions: Mutex<VecDeque<Session>>,
    /// Check `Host` against loopback names (set when the listener is on loopback).
    loopback: Mutex<bool>,
    throttle: Mutex<Throttle>,
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Auth").field("token", &self.token.as_ref().map(|_| "***")).finish_non_exhaustive()
    }
}

/// 32 random bytes from the thread's CSPRNG, hex-encoded.
fn random_token() -> String {
    hex::encode(rand::random::<[u8; 32]>())
}

/// Equal strings, in time independent of where they differ.
pub fn constant_time_eq(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

impl Auth {
    /// `token`: `[web] token`; empty counts as unset.
    pub fn new(token: Option<String>) -> Self {
        Auth {
            token: token.filter(|t| !t.is_empty()),
            anonymous_csrf: random_token(),
            sessions: Mutex::new(VecDeque::new()),
            loopback: Mutex::new(true),
            throttle: Mutex::new(Throttle::default()),
        }
    }

    /// Runs a token comparison under the throttle: refused without comparing while
    /// locked out; a wrong token extends the lock-out, a right one clears it.
    fn attempt(&self, offered: &str, now: Instant) -> Result<(), LoginRefused> {
        let mut t = self.throttle.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(wait) = t.wait(now) {
            return Err(LoginRefused::Throttled(wait));
        }
        match self.token.as_deref() {
            Some(token) if constant_time_eq(offered.trim(), token) => {
                *t = Throttle::default();
                Ok(())
            }
            _ => {
                t.failed(now);
                Err(LoginRefused::Wrong)
            }
        }
    }

    pub fn token_required(&self) -> bool {
        self.token.is_some()
    }

    pub(super) fn set_loopback(&self, on: bool) {
        *self.loopback.lock().unwrap_or_else(|p| p.into_inner()) = on;
    }

    fn loopback(&self) -> bool {
        *self.loopback.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Checks a login attempt; on success returns `(session id, csrf)`.
    pub fn login(&self, offered: &str) -> Result<(String, String), LoginRefused> {
        self.login_at(offered, Instant::now())
    }

    fn login_at(&self, offered: &str, now: Instant) -> Result<(String, String), LoginRefused> {
        if self.token.is_none() {
            return Err(LoginRefused::Wrong);
        }
        self.attempt(offered, now)?;
        let s = Session { id: random_token(), csrf: random_token() };
        let out = (s.id.clone(), s.csrf.clone());
        let mut g = self.sessions.lock().unwrap_or_else(|p| p.into_inner());
        if g.len() == MAX_SESSIONS {
            g.pop_front();
        }
        g.push_back(s);
        Ok(out)
    }

    pub fn logout(&self, id: &str) {
        self.sessions.lock().unwrap_or_else(|p| p.into_inner()).retain(|s| !constant_time_eq(&s.id, id));
    }

    fn session(&self, id: &str) -> Option<String> {
        let g = self.sessions.lock().unwrap_or_else(|p| p.into_inner());
        g.iter().find(|s| constant_time_eq(&s.id, id)).map(|s| s.csrf.clone())
    }

    /// The CSRF token a page served to `access` must send back.
    pub fn csrf_for(&self, access: &Access) -> String {
        match access {
            Access::Session { csrf } => csrf.clone(),
            _ => self.anonymous_csrf.clone(),
        }
    }

    /// Who is asking, or why the credentials are refused.
    fn identify(&self, headers: &HeaderMap) -> Result<Access, Refusal> {
        if let Some(v) = headers.get(header::AUTHORIZATION) {
            let offered = v.to_str().ok().and_then(bearer_credentials).unwrap_or("");
            if self.token.is_none() {
                return Err(Refusal::Unauthorized("no access token is configured ([web] token)"));
            }
            return match self.attempt(offered, Instant::now()) {
                Ok(()) => Ok(Access::Bearer),
                Err(LoginRefused::Wrong) => Err(Refusal::Unauthorized("the bearer token is not valid")),
                Err(LoginRefused::Throttled(wait)) => Err(Refusal::Throttled(wait.as_secs().max(1))),
            };
        }
        if let Some(id) = cookie(headers, SESSION_COOKIE)
            && let Some(csrf) = self.session(&id)
        {
            return Ok(Access::Session { csrf });
        }
        Ok(Access::Anonymous)
    }
}

/// The token of an `Authorization: Bearer <token>` value; the scheme is
/// case-insensitive (RFC 7235), so `bearer` and `BEARER` work too.
fn bearer_credentials(value: &str) -> Option<&str> {
    let (scheme, token) = value.trim_start().split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then_some(token)
}

/// The value of cookie `name`, if sent.
pub fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers.get_all(header::COOKIE).iter().filter_map(|v| v.to_str().ok()).flat_map(|v| v.split(';')).find_map(|kv| {
        let (k, v) = kv.trim().split_once('=')?;
        (k == name).then(|| v.to_string())
    })
}

/// Why a request is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Refusal {
    Unauthorized(&'static str),
    Forbidden(&'static str),
    Login,
    /// Too many wrong tokens: seconds to wait.
    Throttled(u64),
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        match self {
            Refusal::Login => Redirect::to("/login").into_response(),
            Refusal::Unauthorized(why) => (
                StatusCode::UNAUTHORIZED,
                [(header::WWW_AUTHENTICATE, "Bearer")],
                axum::Json(serde_json::json!({ "error": why })),
            )
                .into_response(),
            Refusal::Forbidden(why) => {
                (StatusCode::FORBIDDEN, axum::Json(serde_json::json!({ "error": why }))).into_response()
            }
            Refusal::Throttled(secs) => throttled(secs),
        }
    }
}

/// `429 Too Many Requests` with `Retry-After`.
pub fn throttled(secs: u64) -> Response {
    (
        StatusCode::TOO_MANY_REQUESTS,
        [(header::RETRY_AFTER, secs.to_string())],
        axum::Json(serde_json::json!({ "error": format!("too many wrong tokens: try again in {secs} s") })),
    )
        .into_response()
}

fn is_public(path: &str) -> bool {
    path == "/healthz" || path == "/login" || path.starts_with("/assets/")
}

/// A loopback host name, with or without a port.
fn loopback_host(host: &str) -> bool {
    let name = if let Some(rest) = host.strip_prefix('[') {
        rest.split(']').next().unwrap_or("")
    } else {
        host.rsplit_once(':').map(|(h, _)| h).unwrap_or(host)
    };
    name == "localhost" || name.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// The check itself, separated from axum for unit tests.
fn check(auth: &Auth, method: &Method, path: &str, headers: &HeaderMap) -> Result<Access, Refusal> {
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or("");
    if auth.loopback() && !loopback_host(host) {
        return Err(Refusal::Forbidden("unexpected Host header: this server answers loopback names only"));
    }
    let access = auth.identify(headers)?;
    let safe = matches!(*method, Method::GET | Method::HEAD);
    if !safe {
        if let Some(origin) = headers.get(header::ORIGIN) {
            let same =
                origin.to_str().ok().is_some_and(|o| o == format!("http://{host}") || o == format!("https://{host}"));
            if !same {
                return Err(Refusal::Forbidden("cross-origin request refused"));
            }
        }
        let site = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok()).unwrap_or("");
        if matches!(site, "cross-site" | "same-site") {
            return Err(Refusal::Forbidden("cross-site request refused"));
        }
    }
    if is_public(path) {
        return Ok(access);
    }
    if auth.token_required() && access == Access::Anonymous {
        return Err(if safe && (path == "/" || path == "/index.html") {
            Refusal::Login
        } else {
            Refusal::Unauthorized("sign in or send Authorization: Bearer <web.token>")
        });
    }
    if !safe && access != Access::Bearer {
        let want = auth.csrf_for(&access);
        let sent = headers.get(CSRF_HEADER).and_then(|v| v.to_str().ok()).unwrap_or("");
        if !constant_time_eq(sent, &want) {
            return Err(Refusal::Forbidden("missing or wrong X-CSRF-Token header"));
        }
    }
    Ok(access)
}

/// Axum middleware: refuses or tags the request with its [`Access`].
pub async fn guard(State(st): State<WebState>, mut req: Request, next: Next) -> Response {
    match check(&st.auth, req.method(), req.uri().path(), req.headers()) {
        Ok(access) => {
            req.extensions_mut().insert(access);
            next.run(req).await
        }
        Err(refusal) => {
            tracing::info!(method = %req.method(), path = req.uri().path(), refusal = ?refusal, "web request refused");
            refusal.into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    /// Method, path, headers.
    type Case<'a> = (&'a str, &'a str, &'a [(&'static str, &'a str)]);

    /// One line per case: method, path, headers → outcome.
    fn run(auth: &Auth, cases: &[Case<'_>]) -> String {
        let mut out = String::new();
        for (m, p, h) in cases {
            let r = check(auth, &Method::from_bytes(m.as_bytes()).unwrap(), p, &headers(h));
            let r = match r {
                Ok(a) => format!("ok {}", a.who()),
                Err(e) => format!("{e:?}"),
            };
            out.push_str(&format!("{m} {p} {:?} -> {r}\n", h.iter().map(|(k, _)| *k).collect::<Vec<_>>()));
        }
        out
    }

    #[test]
    fn without_a_token_reads_are_open_and_posts_need_the_csrf_token_and_same_origin() {
        let auth = Auth::new(None);
        let csrf = auth.csrf_for(&Access::Anonymous);
        let host = ("host", "127.0.0.1:8484");
        let got = run(
            &auth,
            &[
                ("GET", "/api/status", &[host]),
                ("GET", "/api/status", &[("host", "evil.example:8484")]),
                ("POST", "/api/printer/pause", &[host]),
                ("POST", "/api/printer/pause", &[host, (CSRF_HEADER, "wrong")]),
                ("POST", "/api/printer/pause", &[host, (CSRF_HEADER, &csrf)]),
                ("POST", "/api/printer/pause", &[host, (CSRF_HEADER, &csrf), ("origin", "http://evil.example")]),
                ("POST", "/api/printer/pause", &[host, (CSRF_HEADER, &csrf), ("origin", "http://127.0.0.1:8484")]),
                ("POST", "/api/printer/pause", &[host, (CSRF_HEADER, &csrf), ("sec-fetch-site", "cross-site")]),
                ("POST", "/api/printer/pause", &[host, ("authorization", "Bearer anything")]),
            ],
        );
        expect_test::expect![[r#"
            GET /api/status ["host"] -> ok dashboard
            GET /api/status ["host"] -> Forbidden("unexpected Host header: this server answers loopback names only")
            POST /api/printer/pause ["host"] -> Forbidden("missing or wrong X-CSRF-Token header")
            POST /api/printer/pause ["host", "x-csrf-token"] -> Forbidden("missing or wrong X-CSRF-Token header")
            POST /api/printer/pause ["host", "x-csrf-token"] -> ok dashboard
            POST /api/printer/pause ["host", "x-csrf-token", "origin"] -> Forbidden("cross-origin request refused")
            POST /api/printer/pause ["host", "x-csrf-token", "origin"] -> ok dashboard
            POST /api/printer/pause ["host", "x-csrf-token", "sec-fetch-site"] -> Forbidden("cross-site request refused")
            POST /api/printer/pause ["host", "authorization"] -> Unauthorized("no access token is configured ([web] token)")
        "#]]
        .assert_eq(&got);
    }

    #[test]
    fn with_a_token_everything_but_health_and_login_needs_credentials() {
        let auth = Auth::new(Some("0123456789abcdef-token".into()));
        auth.set_loopback(false);
        let (sid, csrf) = auth.login("0123456789abcdef-token").unwrap();
        assert_eq!(auth.login("0123456789abcdef-tokeN"), Err(LoginRefused::Wrong));
        let cookie = format!("other=1; {SESSION_COOKIE}={sid}");
        let host = ("host", "printer.lan:8484");
        let got = run(
            &auth,
            &[
                ("GET", "/healthz", &[host]),
                ("GET", "/", &[host]),
                ("GET", "/api/status", &[host]),
                ("GET", "/metrics", &[host, ("authorization", "Bearer 0123456789abcdef-token")]),
                ("GET", "/api/status", &[host, ("authorization", "Bearer nope")]),
                ("GET", "/api/status", &[host, ("cookie", &cookie)]),
                ("POST", "/api/printer/pause", &[host, ("cookie", &cookie)]),
                ("POST", "/api/printer/pause", &[host, ("cookie", &cookie), (CSRF_HEADER, &csrf)]),
                ("POST", "/api/printer/pause", &[host, ("authorization", "Bearer 0123456789abcdef-token")]),
                ("POST", "/api/printer/pause", &[host, (CSRF_HEADER, &auth.csrf_for(&Access::Anonymous))]),
            ],
        );
        expect_test::expect![[r#"
            GET /healthz ["host"] -> ok dashboard
            GET / ["host"] -> Login
            GET /api/status ["host"] -> Unauthorized("sign in or send Authorization: Bearer <web.token>")
            GET /metrics ["host", "authorization"] -> ok api token
            GET /api/status ["host", "authorization"] -> Unauthorized("the bearer token is not valid")
            GET /api/status ["host", "cookie"] -> ok dashboard (signed in)
            POST /api/printer/pause ["host", "cookie"] -> Forbidden("missing or wrong X-CSRF-Token header")
            POST /api/printer/pause ["host", "cookie", "x-csrf-token"] -> ok dashboard (signed in)
            POST /api/printer/pause ["host", "authorization"] -> ok api token
            POST /api/printer/pause ["host", "x-csrf-token"] -> Unauthorized("sign in or send Authorization: Bearer <web.token>")
        "#]]
        .assert_eq(&got);
        auth.logout(&sid);
        assert_eq!(auth.identify(&headers(&[("cookie", &cookie)])), Ok(Access::Anonymous));
    }

    #[test]
    fn loopback_hosts() {
        for h in ["127.0.0.1:1", "localhost:8484", "[::1]:80", "localhost", "127.0.0.2:9"] {
            assert!(loopback_host(h), "{h}");
        }
        for h in ["evil.example", "127.0.0.1.evil.example:80", "", "[::2]:80"] {
            assert!(!loopback_host(h), "{h}");
        }
    }

    /// Issue 13 item 7: `/login` had no rate limit or back-off.
    #[test]
    fn wrong_tokens_are_throttled_with_a_growing_wait() {
        let auth = Auth::new(Some("0123456789abcdef-token".into()));
        let t0 = Instant::now();
        for _ in 0..FREE_FAILURES {
            assert_eq!(auth.login_at("guess", t0), Err(LoginRefused::Wrong));
        }
        // Locked for 1 s: even the right token waits, so guessing gains nothing.
        assert_eq!(auth.login_at("0123456789abcdef-token", t0), Err(LoginRefused::Throttled(Duration::from_secs(1))));
        let t1 = t0 + Duration::from_secs(1);
        assert_eq!(auth.login_at("guess", t1), Err(LoginRefused::Wrong));
        assert_eq!(auth.login_at("guess", t1), Err(LoginRefused::Throttled(Duration::from_secs(2))));
        let t2 = t1 + Duration::from_secs(2);
        assert!(auth.login_at("0123456789abcdef-token", t2).is_ok());
        assert_eq!(auth.login_at("guess", t2), Err(LoginRefused::Wrong), "a success resets the count");
    }

    /// Issue 13 item 7: the `bearer` scheme was case-sensitive.
    #[test]
    fn the_bearer_scheme_is_case_insensitive() {
        assert_eq!(bearer_credentials("bearer abc"), Some("abc"));
        assert_eq!(bearer_credentials("BEARER abc"), Some("abc"));
        assert_eq!(bearer_credentials("Bearer abc"), Some("abc"));
        assert_eq!(bearer_credentials("Basic abc"), None);
        assert_eq!(bearer_credentials("Bearerabc"), None);
    }
}
