//! The dashboard page, its two static files and the sign-in form. Everything
//! is embedded in the binary (`include_str!`): no build step, no CDN.

use axum::Extension;
use axum::Form;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::auth::{Access, SESSION_COOKIE, cookie};
use super::server::WebState;

const INDEX: &str = include_str!("assets/index.html");
const APP_JS: &str = include_str!("assets/app.js");
const APP_CSS: &str = include_str!("assets/app.css");
const OPENAPI: &str = include_str!("assets/openapi.json");

/// Headers every page carries: no framing, no third-party anything.
const PAGE_CSP: &str = "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; \
                        connect-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'";

pub(super) fn html(body: String) -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
            (header::CONTENT_SECURITY_POLICY, PAGE_CSP),
            (header::X_FRAME_OPTIONS, "DENY"),
            (header::REFERRER_POLICY, "no-referrer"),
        ],
        Html(body),
    )
        .into_response()
}

/// Minimal escaping for text placed in HTML.
fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

pub async fn index(State(st): State<WebState>, Extension(access): Extension<Access>) -> Response {
    let csrf = st.auth.csrf_for(&access);
    let name = escape(&st.status.status().name);
    let signed_in = matches!(access, Access::Session { .. });
    html(
        INDEX
            .replace("__CSRF__", &csrf)
            .replace("__NAME__", &name)
            .replace("__SIGNED_IN__", if signed_in { "1" } else { "0" }),
    )
}

pub async fn asset(Path(file): Path<String>) -> Response {
    let (body, kind) = match file.as_str() {
        "app.js" => (APP_JS, "text/javascript; charset=utf-8"),
        "app.css" => (APP_CSS, "text/css; charset=utf-8"),
        _ => return (StatusCode::NOT_FOUND, "no such asset\n").into_response(),
    };
    ([(header::CONTENT_TYPE, kind), (header::CACHE_CONTROL, "public, max-age=3600")], body).into_response()
}

pub async fn openapi() -> Response {
    ([(header::CONTENT_TYPE, "application/json")], OPENAPI).into_response()
}

fn login_page(message: &str) -> String {
    format!(
        r#"<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width,initial-scale=1"><title>layerwatch: sign in</title><link rel="stylesheet" href="/assets/app.css"></head>
<body><main class="login"><h1>layerwatch</h1><form method="post" action="/login" class="card">
<label for="token">Access token (<code>[web] token</code>)</label>
<input id="token" name="token" type="password" autocomplete="current-password" required autofocus>
<p class="err">{}</p><button type="submit" class="btn primary">Sign in</button></form></main></body></html>"#,
        escape(message)
    )
}

pub async fn login_form(State(st): State<WebState>) -> Response {
    if !st.auth.token_required() {
        return Redirect::to("/").into_response();
    }
    html(login_page(""))
}

#[derive(Debug, Deserialize)]
pub struct Login {
    pub token: String,
}

pub async fn login(State(st): State<WebState>, Form(f): Form<Login>) -> Response {
    if !st.auth.token_required() {
        return Redirect::to("/").into_response();
    }
    match st.auth.login(&f.token) {
        Ok((sid, _csrf)) => {
            tracing::info!("dashboard sign-in");
            let cookie = format!("{SESSION_COOKIE}={sid}; HttpOnly; SameSite=Strict; Path=/");
            ([(header::SET_COOKIE, cookie)], Redirect::to("/")).into_response()
        }
        Err(super::auth::LoginRefused::Throttled(wait)) => {
            tracing::warn!(wait_s = wait.as_secs(), "dashboard sign-in refused: too many wrong tokens");
            super::auth::throttled(wait.as_secs().max(1))
        }
        Err(super::auth::LoginRefused::Wrong) => {
            tracing::warn!("dashboard sign-in refused: wrong token");
            let mut r = html(login_page("That token is not right."));
            *r.status_mut() = StatusCode::UNAUTHORIZED;
            r
        }
    }
}

pub async fn logout(State(st): State<WebState>, headers: HeaderMap) -> Response {
    if let Some(id) = cookie(&headers, SESSION_COOKIE) {
        st.auth.logout(&id);
    }
    let clear = format!("{SESSION_COOKIE}=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0");
    ([(header::SET_COOKIE, clear)], Redirect::to("/login")).into_response()
}
