//! The Discord, Pushover and e-mail channels against real servers on
//! 127.0.0.1, through the durable outbox: HTTP receivers (`sim::receivers`)
//! answering as Discord's webhook and Pushover's Messages API answer
//! (success, refusals, rate limits), and a real SMTP server, Python's
//! `aiosmtpd` (from `.tools/venv-smtp`), with STARTTLS and AUTH required,
//! its certificate from a CA made for the test (`trustme`).

mod actions_support;
mod hosts_support;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use actions_support::delivery::{Delivery, failure_alert};
use actions_support::fast_alerts;
use hosts_support::{ChildGuard, tool};
use layerwatch::actions::AlertsConfig;
use layerwatch::actions::alerts::Secret;
use layerwatch::actions::alerts::config::{DiscordConfig, EmailConfig, EmailSecurity, PushoverConfig};
use layerwatch::config_issues::Issues;
use layerwatch::domain::Level;
use layerwatch::sim::receivers::{RecordingServer, Response};
use layerwatch::store::OutboxState;
use std::process::Command;

const DISCORD_TOKEN: &str = "k3Y-discord-webhook-token_0123456789";
const PUSHOVER_APP: &str = "azGDORePK8gMaC0QOYAMyEEuzJnyUi";
const PUSHOVER_USER: &str = "uQiRzpo4DXghDmr9QzzfQu27cmVRsG";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn discord_gets_an_embed_with_the_snapshot_and_honours_its_rate_limit() {
    let calls = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let seen = calls.clone();
    let path = format!("/api/webhooks/123/{DISCORD_TOKEN}?wait=true");
    let server = RecordingServer::start(move |req| {
        if req.path != path {
            return Response::json(401, &serde_json::json!({"message": "Invalid Webhook Token", "code": 50027}));
        }
        if seen.fetch_add(1, std::sync::atomic::Ordering::SeqCst) == 0 {
            // Discord's rate limit: retry_after in (fractional) seconds in the body.
            return Response::json(
                429,
                &serde_json::json!({"message": "You are being rate limited.",
                "retry_after": 0.4, "global": false}),
            );
        }
        Response::json(200, &serde_json::json!({"id": "1180000000000000001", "type": 0}))
    })
    .await
    .unwrap();
    let cfg = AlertsConfig {
        discord: Some(DiscordConfig {
            webhook_url: Some(Secret::new(format!("{}/api/webhooks/123/{DISCORD_TOKEN}", server.base_url()))),
            attach_snapshot: true,
            min_level: Level::Warning,
        }),
        ..fast_alerts()
    };
    let d = Delivery::start(cfg).await;
    let snap = d.snapshot().await;
    d.outbox.enqueue(&failure_alert(1, Some(&snap), Some("https://printer.example.net"))).await.unwrap();
    let row = d.wait_state(1, OutboxState::Sent).await;
    assert_eq!((row.attempts, row.remote_id.as_deref()), (2, Some("1180000000000000001")));
    let reqs = server.requests();
    assert_eq!(reqs.len(), 2);
    let gap = reqs[1].request.at.millis() - reqs[0].request.at.millis();
    assert!(gap >= 350, "the second try came {gap} ms after a 429 asking for 400 ms");
    let req = &reqs[1].request;
    assert!(req.header("content-type").unwrap().starts_with("multipart/form-data; boundary="));
    let body = String::from_utf8_lossy(&req.body);
    let json_start = body.find("name=\"payload_json\"\r\n\r\n").expect("payload_json part") + 23;
    let json_end = json_start + body[json_start..].find("\r\n--").unwrap();
    let payload: serde_json::Value = serde_json::from_str(&body[json_start..json_end]).unwrap();
    let embed = &payload["embeds"][0];
    assert_eq!(embed["title"], "Test MK4: FAILURE spaghetti");
    assert!(embed["description"].as_str().unwrap().starts_with("spaghetti 93% at layer 42/120"), "{embed}");
    assert_eq!(embed["color"], 0xD6312F);
    assert_eq!(embed["image"]["url"], "attachment://snapshot.jpg");
    assert_eq!(embed["url"], format!("https://printer.example.net/api/snapshots/{}.jpg", snap.as_str()));
    assert_eq!(payload["allowed_mentions"]["parse"], serde_json::json!([]), "no pings from alert text");
    assert!(body.contains("name=\"files[0]\"; filename=\"snapshot.jpg\"\r\nContent-Type: image/jpeg"));
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_discord_token_fails_for_good_without_showing_the_token() {
    let server = RecordingServer::start(|_| {
        Response::json(401, &serde_json::json!({"message": "Invalid Webhook Token", "code": 50027}))
    })
    .await
    .unwrap();
    let cfg = AlertsConfig {
        discord: Some(DiscordConfig {
            webhook_url: Some(Secret::new(format!("{}/api/webhooks/9/{DISCORD_TOKEN}", server.base_url()))),
            attach_snapshot: false,
            min_level: Level::Warning,
        }),
        ..fast_alerts()
    };
    let d = Delivery::start(cfg).await;
    d.outbox.enqueue(&failure_alert(1, None, None)).await.unwrap();
    let row = d.wait_state(1, OutboxState::Failed).await;
    let err = row.last_error.unwrap_or_default();
    assert!(err.contains("HTTP 401") && err.contains("Invalid Webhook Token"), "{err}");
    assert!(!err.contains(DISCORD_TOKEN), "the token leaked into the outbox: {err}");
    // Without a snapshot: plain JSON.
    let req = server.requests().remove(0).request;
    assert_eq!(req.header("content-type"), Some("application/json"));
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pushover_gets_keys_priority_and_the_snapshot_and_its_refusals_are_permanent() {
    let server = RecordingServer::start(|req| {
        let body = String::from_utf8_lossy(&req.body);
        if body.contains(PUSHOVER_USER) {
            Response::json(200, &serde_json::json!({"status": 1, "request": "5042853c-402d-4a18-abcb-168734a801de"}))
        } else {
            Response::json(400, &serde_json::json!({"user": "invalid", "errors": ["user identifier is not a valid user, group, or subscribed user key"], "status": 0, "request": "x"}))
        }
    })
    .await
    .unwrap();
    let pushover = |user: &str| PushoverConfig {
        app_token: Some(Secret::new(PUSHOVER_APP)),
        user_key: Some(Secret::new(user)),
        device: Some("phone".into()),
        base_url: server.base_url().into(),
        attach_snapshot: true,
        min_level: Level::Warning,
    };
    let d = Delivery::start(AlertsConfig { pushover: Some(pushover(PUSHOVER_USER)), ..fast_alerts() }).await;
    let snap = d.snapshot().await;
    d.outbox.enqueue(&failure_alert(1, Some(&snap), None)).await.unwrap();
    let row = d.wait_state(1, OutboxState::Sent).await;
    assert_eq!(row.remote_id.as_deref(), Some("5042853c-402d-4a18-abcb-168734a801de"));
    let req = server.requests().remove(0).request;
    assert_eq!((req.method.as_str(), req.path.as_str()), ("POST", "/1/messages.json"));
    let body = String::from_utf8_lossy(&req.body);
    for needle in [
        format!("name=\"token\"\r\n\r\n{PUSHOVER_APP}\r\n"),
        format!("name=\"user\"\r\n\r\n{PUSHOVER_USER}\r\n"),
        "name=\"title\"\r\n\r\nTest MK4: FAILURE spaghetti\r\n".into(),
        "name=\"priority\"\r\n\r\n1\r\n".into(),
        "name=\"device\"\r\n\r\nphone\r\n".into(),
        "name=\"attachment\"; filename=\"snapshot.jpg\"\r\nContent-Type: image/jpeg".into(),
    ] {
        assert!(body.contains(&needle), "multipart lacks {needle:?}");
    }
    d.stop().await;

    let wrong = "uQiRzpo4DXghDmr9QzzfQu27cmVRxx";
    let d = Delivery::start(AlertsConfig { pushover: Some(pushover(wrong)), ..fast_alerts() }).await;
    d.outbox.enqueue(&failure_alert(2, None, None)).await.unwrap();
    let row = d.wait_state(2, OutboxState::Failed).await;
    let err = row.last_error.unwrap_or_default();
    assert!(err.contains("HTTP 400: user identifier is not a valid user"), "{err}");
    assert!(!err.contains(PUSHOVER_APP) && !err.contains(wrong), "a key leaked: {err}");
    d.stop().await;
}

#[test]
fn channel_configs_name_the_key_and_the_value() {
    let mut out = Issues::default();
    let discord =
        DiscordConfig { webhook_url: Some(Secret::new("discord.com/x")), attach_snapshot: true, min_level: Level::Ok };
    discord.validate("alerts.discord", &mut out);
    let pushover = PushoverConfig {
        app_token: Some(Secret::new("short")),
        user_key: Some(Secret::new(PUSHOVER_USER)),
        device: Some("my phone".into()),
        base_url: "ftp://x".into(),
        attach_snapshot: true,
        min_level: Level::Warning,
    };
    pushover.validate("alerts.pushover", &mut out);
    let email = EmailConfig {
        security: EmailSecurity::None,
        password: Some(Secret::new("hunter2-password")),
        username: None,
        to: vec!["not an address".into()],
        ..email_config("smtp.example.com", 0, None)
    };
    email.validate("alerts.email", &mut out);
    let text: Vec<String> = out.iter().map(|i| i.to_string()).collect();
    let text = text.join("\n");
    for line in [
        "alerts.discord.webhook_url = \"***\": must be an http:// or https:// URL",
        "alerts.discord.min_level = \"ok\": must be \"warning\" or \"failure\"",
        "alerts.pushover.app_token = \"***\": must be Pushover's 30 letters and digits",
        "alerts.pushover.device = \"my phone\": must be 1-25 characters",
        "alerts.pushover.base_url = \"ftp://x\": must be an http:// or https:// URL",
        "alerts.email.to = \"not an address\": is not an e-mail address",
        "alerts.email.username = \"\": is required with a password",
        "alerts.email.security = \"none\": sends mail (and any password) in clear text",
    ] {
        assert!(text.contains(line), "missing {line:?} in:\n{text}");
    }
    assert!(!text.contains("hunter2"), "{text}");
}

fn email_config(server: &str, port: u16, ca: Option<PathBuf>) -> EmailConfig {
    EmailConfig {
        server: server.into(),
        port: Some(port),
        security: EmailSecurity::Starttls,
        username: Some("printer".into()),
        password: Some(Secret::new("correct-horse-battery")),
        from: "Test MK4 <printer@example.com>".into(),
        to: vec!["owner@example.com".into(), "Farm <farm@example.com>".into()],
        ca_file: ca,
        attach_snapshot: true,
        min_level: Level::Warning,
    }
}

/// A real SMTP server (aiosmtpd) on 127.0.0.1 with STARTTLS and AUTH
/// required; it writes each message it accepts to `<dir>/mail/N.eml`.
struct SmtpServer {
    _guard: ChildGuard,
    dir: tempfile::TempDir,
    port: u16,
}

impl SmtpServer {
    async fn start() -> SmtpServer {
        let dir = tempfile::tempdir().unwrap();
        let ready = dir.path().join("ready");
        let mut cmd = Command::new(tool("venv-smtp/bin/python"));
        cmd.env("PYTHONDONTWRITEBYTECODE", "1")
            .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/peers/smtp_server.py"))
            .arg("--dir")
            .arg(dir.path())
            .args(["--user", "printer", "--password", "correct-horse-battery"]);
        let mut guard = ChildGuard::start("aiosmtpd", cmd, &dir.path().join("smtp.log"));
        let t0 = Instant::now();
        while !ready.exists() {
            if let Some(s) = guard.exited() {
                panic!("the SMTP server exited ({s}):\n{}", guard.log_tail(30));
            }
            assert!(t0.elapsed() < Duration::from_secs(20), "the SMTP server never started:\n{}", guard.log_tail(30));
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let port = std::fs::read_to_string(&ready).unwrap().trim().parse().unwrap();
        SmtpServer { _guard: guard, dir, port }
    }

    fn ca(&self) -> PathBuf {
        self.dir.path().join("ca.pem")
    }

    fn mails(&self) -> Vec<String> {
        let mut names: Vec<_> = std::fs::read_dir(self.dir.path().join("mail"))
            .map(|r| r.filter_map(|e| e.ok()).map(|e| e.path()).collect())
            .unwrap_or_default();
        names.sort();
        names.iter().map(|p| std::fs::read_to_string(p).unwrap()).collect()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn email_goes_through_starttls_and_auth_with_the_snapshot_attached() {
    let smtp = SmtpServer::start().await;
    let cfg = AlertsConfig { email: Some(email_config("localhost", smtp.port, Some(smtp.ca()))), ..fast_alerts() };
    let d = Delivery::start(cfg).await;
    let snap = d.snapshot().await;
    let alert = failure_alert(1, Some(&snap), Some("https://printer.example.net"));
    d.outbox.enqueue(&alert).await.unwrap();
    let row = d.wait_state(1, OutboxState::Sent).await;
    assert_eq!(row.attempts, 1);
    let mails = smtp.mails();
    assert_eq!(mails.len(), 1, "{mails:?}");
    let m = &mails[0];
    for needle in [
        "X-Peer-TLS: yes".to_string(),
        "X-Peer-Auth: printer".into(),
        "X-Rcpt: owner@example.com,farm@example.com".into(),
        "Subject: Test MK4: FAILURE spaghetti".into(),
        "From: \"Test MK4\" <printer@example.com>".into(),
        format!("Message-ID: <{}@layerwatch>", alert.id),
        "spaghetti 93% at layer 42/120".into(),
        format!("https://printer.example.net/api/snapshots/{}.jpg", snap.as_str()),
        "Content-Disposition: attachment; filename=\"snapshot.jpg\"".into(),
        "Content-Type: image/jpeg".into(),
    ] {
        assert!(m.contains(&needle), "the mail lacks {needle:?}:\n{m}");
    }
    assert!(!m.contains("correct-horse-battery"));
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_password_an_untrusted_certificate_and_a_dead_server_each_say_why() {
    let smtp = SmtpServer::start().await;
    // Wrong password: 535, permanent, the password never in the error.
    let mut cfg = email_config("localhost", smtp.port, Some(smtp.ca()));
    cfg.password = Some(Secret::new("wrong-horse-battery"));
    let d = Delivery::start(AlertsConfig { email: Some(cfg), ..fast_alerts() }).await;
    d.outbox.enqueue(&failure_alert(1, None, None)).await.unwrap();
    let row = d.wait_state(1, OutboxState::Failed).await;
    let err = row.last_error.unwrap_or_default();
    assert!(err.contains("535"), "{err}");
    assert!(!err.contains("wrong-horse-battery"), "{err}");
    d.stop().await;
    // The test CA not trusted: the TLS handshake fails, nothing is sent in clear.
    let cfg = email_config("localhost", smtp.port, None);
    let d = Delivery::start(AlertsConfig { email: Some(cfg), ..fast_alerts() }).await;
    d.outbox.enqueue(&failure_alert(2, None, None)).await.unwrap();
    let row = d.wait_state(2, OutboxState::Failed).await;
    let err = row.last_error.unwrap_or_default();
    assert!(err.to_lowercase().contains("certificate") || err.to_lowercase().contains("tls"), "{err}");
    assert!(smtp.mails().is_empty());
    d.stop().await;
    // Nobody listening: retried, not given up at once.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let d = Delivery::start(AlertsConfig { email: Some(email_config("localhost", port, None)), ..fast_alerts() }).await;
    d.outbox.enqueue(&failure_alert(3, None, None)).await.unwrap();
    assert!(
        actions_support::eventually(Duration::from_secs(10), || async { d.row(3).await.attempts >= 2 }).await,
        "a refused connection must be retried"
    );
    let state = d.row(3).await.state;
    assert!(!matches!(state, OutboxState::Failed | OutboxState::Sent), "{state}");
    d.stop().await;
}
