//! Alert delivery against real HTTP servers on 127.0.0.1 (`sim::receivers`):
//! signed webhooks, Twilio's Messages API, ntfy and Telegram stand-ins, with
//! injected faults (5xx, 401, 429 + Retry-After, hangs, dropped connections),
//! and the rate limit. Secrets: `actions_secrets.rs`.

mod actions_support;

use std::time::Duration;

use actions_support::delivery::{Delivery, SECRET, SID, failure_alert, sms, webhook};
use actions_support::{DoublePrinter, Harness, fast_alerts, jpeg_frame, verdict};
use base64::Engine as _;
use expect_test::expect;
use layerwatch::actions::alerts::Secret;
use layerwatch::actions::alerts::build_notifiers;
use layerwatch::actions::alerts::config::{NtfyConfig, TelegramConfig};
use layerwatch::actions::{ActionsConfig, AlertsConfig, Clock, RateLimitConfig};
use layerwatch::domain::Level;
use layerwatch::sim::receivers::{Fault, Outcome, RecordingServer, Response, TwilioReceiver, WebhookReceiver};
use layerwatch::store::{Enqueued, OutboxState};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failure_reaches_the_webhook_signed_with_the_annotated_snapshot() {
    let receiver = WebhookReceiver::start(Some(SECRET)).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let printer = DoublePrinter::printing("benchy.gcode", 41);
    let alerts = AlertsConfig { webhook: Some(webhook(receiver.url())), ..fast_alerts() };
    let notifiers = build_notifiers(&alerts).unwrap();
    let h = Harness::start(dir.path(), ActionsConfig::default(), alerts, Some(printer), notifiers, Clock::System).await;
    h.engine.verdict(verdict(Level::Failure, 0.93, 41), Some(jpeg_frame(7))).await.unwrap();
    assert!(receiver.wait_accepted(1, Duration::from_secs(15)).await, "{:?}", receiver.deliveries());

    let d = receiver.deliveries().remove(0);
    assert!(d.signature_ok, "the receiver verified the HMAC with the shared secret");
    assert_eq!(d.request.header("x-layerwatch-event"), Some("incident"));
    let mut json = d.json.unwrap();
    assert_eq!(d.delivery_id.as_deref(), json["id"].as_str());
    let jpeg =
        base64::engine::general_purpose::STANDARD.decode(json["snapshot"]["jpeg_base64"].as_str().unwrap()).unwrap();
    assert_eq!(&jpeg[..2], &[0xFF, 0xD8]);
    let mat =
        opencv::imgcodecs::imdecode(&opencv::core::Vector::from_slice(&jpeg), opencv::imgcodecs::IMREAD_COLOR).unwrap();
    let px: opencv::core::Vec3b = *opencv::core::MatTraitConst::at_2d(&mat, 238, 160).unwrap();
    assert!(px[2] > 180 && px[1] < 80 && px[0] < 80, "red border drawn on a failure: {px:?}");

    for (k, v) in [("id", "<id>"), ("time", "<time>")] {
        json[k] = serde_json::Value::String(v.into());
    }
    json["snapshot"]["id"] = "<snapshot>".into();
    json["snapshot"]["jpeg_base64"] = "<base64>".into();
    json["incident_id"] = 1.into();
    expect![[r#"
        {
          "action": {
            "policy": "pause_and_park",
            "printer_stopped": true,
            "steps": [
              {
                "attempts": 1,
                "command": "pause",
                "error": null,
                "result": "confirmed"
              },
              {
                "attempts": 1,
                "command": "park",
                "error": null,
                "result": "confirmed"
              }
            ],
            "summary": "Paused and parked"
          },
          "cause": "spaghetti",
          "confidence": 0.93,
          "id": "<id>",
          "incident_id": 1,
          "kind": "incident",
          "level": "failure",
          "note": "smoothed 0.93 over 6 frames at layer 42/120, spaghetti",
          "print": {
            "file": "benchy.gcode",
            "layer": 41,
            "layer_count": 120,
            "progress": 0.34166667
          },
          "printer": "Test MK4",
          "resolution": null,
          "snapshot": {
            "id": "<snapshot>",
            "jpeg_base64": "<base64>",
            "url": null
          },
          "suppressed": null,
          "time": "<time>",
          "version": 1
        }"#]]
    .assert_eq(&serde_json::to_string_pretty(&json).unwrap());
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_500s_then_a_200_deliver_once_with_every_attempt_recorded() {
    let receiver = WebhookReceiver::start(Some(SECRET)).await.unwrap();
    receiver.push_fault(Fault::Status { status: 500, body: "database is down".into() }, 5);
    let d = Delivery::start(AlertsConfig { webhook: Some(webhook(receiver.url())), ..fast_alerts() }).await;
    let r = d.outbox.enqueue(&failure_alert(1, None, None)).await.unwrap();
    assert!(matches!(r[..], [(_, Enqueued::Queued(_))]), "{r:?}");

    let row = d.wait_state(1, OutboxState::Sent).await;
    assert_eq!(row.attempts, 6);
    assert_eq!(row.last_status, Some(200));
    let attempts = d.store.attempts_of(row.id).await.unwrap();
    let statuses: Vec<_> = attempts.iter().map(|a| a.status).collect();
    assert_eq!(statuses, [Some(500), Some(500), Some(500), Some(500), Some(500), Some(200)]);
    assert_eq!(attempts[0].error.as_deref(), Some("retryable: HTTP 500: database is down"));
    assert!(attempts.windows(2).all(|w| w[0].at <= w[1].at));
    assert_eq!(receiver.requests().len(), 6);
    assert_eq!(receiver.unique_accepted().len(), 1, "delivered once");
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twilio_gets_a_correct_form_with_basic_auth() {
    let twilio = TwilioReceiver::start(SID, "tw-auth-token").await.unwrap();
    let public = "https://printer.example.net";
    let cfg = AlertsConfig {
        public_url: Some(public.into()),
        sms: Some(sms(twilio.base_url(), SID, "tw-auth-token")),
        ..fast_alerts()
    };
    let d = Delivery::start(cfg).await;
    let snap = d.snapshot().await;
    let mut warning = failure_alert(2, None, None);
    warning.level = Level::Warning;
    let r = d.outbox.enqueue(&warning).await.unwrap();
    assert!(r.is_empty(), "SMS takes failures only by default: {r:?}");
    d.outbox.enqueue(&failure_alert(1, Some(&snap), Some(public))).await.unwrap();

    let row = d.wait_state(1, OutboxState::Sent).await;
    let msgs = twilio.messages();
    assert_eq!(msgs.len(), 1);
    let m = &msgs[0];
    assert_eq!(row.remote_id.as_deref(), Some(m.sid.as_str()));
    assert!(m.sid.starts_with("SM"));
    assert_eq!((m.to.as_str(), m.from.as_deref()), ("+15551234567", Some("+15005550006")));
    assert!(m.body.chars().count() <= 320);
    assert!(
        m.body.starts_with("layerwatch Test MK4: FAILURE spaghetti 93% at layer 42/120 (35%) of benchy.gcode"),
        "{}",
        m.body
    );
    assert_eq!(m.media_url.as_deref(), Some(format!("{public}/api/snapshots/{snap}.jpg").as_str()));
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_permanent_401_ends_failed_after_a_few_tries() {
    let twilio = TwilioReceiver::start(SID, "the-right-token").await.unwrap();
    let d = Delivery::start(AlertsConfig { sms: Some(sms(twilio.base_url(), SID, "a-wrong-token")), ..fast_alerts() })
        .await;
    d.outbox.enqueue(&failure_alert(1, None, None)).await.unwrap();
    let row = d.wait_state(1, OutboxState::Failed).await;
    assert_eq!((row.attempts, row.last_status), (3, Some(401)));
    assert_eq!(row.last_error.as_deref(), Some("permanent: HTTP 401: twilio error 20003: Authenticate"));
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(twilio.requests().len(), 3, "not retried forever");
    assert!(twilio.messages().is_empty());
    let backlog = d.outbox.backlog().await.unwrap();
    assert_eq!((backlog.failed, backlog.pending), (1, 0), "visible to health checks");
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_rate_limit_suppresses_the_excess_and_summarises_it_later() {
    let receiver = WebhookReceiver::start(Some(SECRET)).await.unwrap();
    let cfg = AlertsConfig {
        webhook: Some(webhook(receiver.url())),
        rate_limit: RateLimitConfig { max: 2, window_s: 2 },
        ..fast_alerts()
    };
    let d = Delivery::start(cfg).await;
    let mut outcomes = Vec::new();
    for i in 1..=4 {
        outcomes.extend(d.outbox.enqueue(&failure_alert(i, None, None)).await.unwrap());
    }
    let kinds: Vec<&str> = outcomes
        .iter()
        .map(|(_, e)| match e {
            Enqueued::Queued(_) => "queued",
            Enqueued::Suppressed { .. } => "suppressed",
            Enqueued::Duplicate(_) => "duplicate",
        })
        .collect();
    assert_eq!(kinds, ["queued", "queued", "suppressed", "suppressed"]);
    let dup = d.outbox.enqueue(&failure_alert(1, None, None)).await.unwrap();
    assert!(matches!(dup[..], [(_, Enqueued::Duplicate(_))]), "one incident, one alert per channel");
    let row = d.row(3).await;
    assert_eq!(row.suppressed_reason.as_deref(), Some("rate limit: 2 alerts per 2 s on webhook"));

    assert!(receiver.wait_accepted(3, Duration::from_secs(15)).await, "two alerts, then the summary");
    let summary = receiver.deliveries().remove(2).json.unwrap();
    assert_eq!((summary["kind"].as_str(), summary["suppressed"].as_u64()), (Some("summary"), Some(2)));
    assert!(summary["note"].as_str().unwrap().starts_with("2 alerts were not sent on webhook"));
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(receiver.requests().len(), 3, "a single summary");
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_after_is_honoured_and_hangs_and_dropped_connections_are_retried() {
    let receiver = WebhookReceiver::start(Some(SECRET)).await.unwrap();
    receiver.push_fault(Fault::TooManyRequests { retry_after_s: 1 }, 1);
    receiver.push_fault(Fault::Hang, 1);
    receiver.push_fault(Fault::Close, 1);
    let d = Delivery::start(AlertsConfig {
        webhook: Some(webhook(receiver.url())),
        request_timeout_ms: 1_000,
        ..fast_alerts()
    })
    .await;
    d.outbox.enqueue(&failure_alert(1, None, None)).await.unwrap();
    let row = d.wait_state(1, OutboxState::Sent).await;
    assert_eq!(row.attempts, 4);
    let reqs = receiver.requests();
    let outcomes: Vec<_> = reqs.iter().map(|e| e.outcome.clone()).collect();
    assert_eq!(outcomes, [Outcome::Answered(429), Outcome::Hung, Outcome::Closed, Outcome::Answered(200)]);
    let waited = reqs[1].request.at.millis() - reqs[0].request.at.millis();
    assert!(waited >= 1000, "Retry-After: 1 honoured, waited {waited} ms");
    let errors: Vec<_> = d.store.attempts_of(row.id).await.unwrap().into_iter().map(|a| a.error).collect();
    assert_eq!(errors[0].as_deref(), Some("retryable: HTTP 429: slow down"));
    assert_eq!(errors[1].as_deref(), Some("retryable: no answer within 1000 ms"));
    assert!(errors[2].as_deref().unwrap().starts_with("retryable: request failed"), "{errors:?}");
    receiver.stop();
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ntfy_gets_headers_auth_and_the_snapshot_as_attachment() {
    let server =
        RecordingServer::start(|_| Response::json(200, &serde_json::json!({"id": "n7Xq", "event": "message"})))
            .await
            .unwrap();
    let cfg = AlertsConfig {
        ntfy: Some(NtfyConfig {
            server: server.base_url().into(),
            topic: "printer_alerts".into(),
            token: Some(Secret::new("tk_ntfy_secret")),
            attach_snapshot: true,
            min_level: Level::Warning,
        }),
        ..fast_alerts()
    };
    let d = Delivery::start(cfg).await;
    let snap = d.snapshot().await;
    d.outbox.enqueue(&failure_alert(1, Some(&snap), None)).await.unwrap();
    assert_eq!(d.wait_state(1, OutboxState::Sent).await.remote_id.as_deref(), Some("n7Xq"));
    let mut no_pic = failure_alert(2, None, None);
    no_pic.printer = "Büro".into();
    d.outbox.enqueue(&no_pic).await.unwrap();
    d.wait_state(2, OutboxState::Sent).await;

    let reqs = server.requests();
    let put = &reqs[0].request;
    assert_eq!((put.method.as_str(), put.path.as_str()), ("PUT", "/printer_alerts"));
    assert_eq!(put.header("filename"), Some(format!("{snap}.jpg").as_str()));
    assert_eq!(put.header("title"), Some("Test MK4: FAILURE spaghetti"));
    assert_eq!((put.header("priority"), put.header("tags")), (Some("5"), Some("rotating_light")));
    assert_eq!(put.header("authorization"), Some("Bearer tk_ntfy_secret"));
    assert!(put.header("message").unwrap().starts_with("spaghetti 93% at layer 42/120"));
    assert_eq!(&put.body[..2], &[0xFF, 0xD8]);
    let post = &reqs[1].request;
    assert_eq!(post.method, "POST");
    assert_eq!(post.header("title"), Some("=?UTF-8?B?QsO8cm86IEZBSUxVUkUgc3BhZ2hldHRp?="));
    assert!(String::from_utf8_lossy(&post.body).starts_with("spaghetti 93%"));
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn telegram_gets_a_photo_with_a_caption() {
    let token = "123456:AAE-telegram-secret";
    let path = format!("/bot{token}/sendPhoto");
    let server = RecordingServer::start(move |req| {
        if req.path == path {
            Response::json(200, &serde_json::json!({"ok": true, "result": {"message_id": 77}}))
        } else {
            Response::json(404, &serde_json::json!({"ok": false, "error_code": 404, "description": "Not Found"}))
        }
    })
    .await
    .unwrap();
    let cfg = AlertsConfig {
        telegram: Some(TelegramConfig {
            bot_token: Some(Secret::new(token)),
            chat_id: "-100200300".into(),
            base_url: server.base_url().into(),
            min_level: Level::Warning,
        }),
        ..fast_alerts()
    };
    let d = Delivery::start(cfg).await;
    let snap = d.snapshot().await;
    d.outbox.enqueue(&failure_alert(1, Some(&snap), None)).await.unwrap();
    assert_eq!(d.wait_state(1, OutboxState::Sent).await.remote_id.as_deref(), Some("77"));
    let req = server.requests().remove(0).request;
    assert!(req.header("content-type").unwrap().starts_with("multipart/form-data; boundary="));
    let body = String::from_utf8_lossy(&req.body);
    for needle in [
        "name=\"chat_id\"\r\n\r\n-100200300\r\n",
        "name=\"caption\"\r\n\r\nTest MK4: FAILURE spaghetti\nspaghetti 93% at layer 42/120",
        "name=\"photo\"; filename=\"snapshot.jpg\"\r\nContent-Type: image/jpeg",
    ] {
        assert!(body.contains(needle), "multipart lacks {needle:?}");
    }
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn telegram_flood_control_retry_after_is_honoured() {
    let calls = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let seen = calls.clone();
    let server = RecordingServer::start(move |_| {
        if seen.fetch_add(1, std::sync::atomic::Ordering::SeqCst) == 0 {
            let body = serde_json::json!({"ok": false, "error_code": 429,
                "description": "Too Many Requests: retry after 1", "parameters": {"retry_after": 1}});
            Response::json(429, &body)
        } else {
            Response::json(200, &serde_json::json!({"ok": true, "result": {"message_id": 78}}))
        }
    })
    .await
    .unwrap();
    let cfg = AlertsConfig {
        telegram: Some(TelegramConfig {
            bot_token: Some(Secret::new("42:token")),
            chat_id: "@printers".into(),
            base_url: server.base_url().into(),
            min_level: Level::Warning,
        }),
        ..fast_alerts()
    };
    let d = Delivery::start(cfg).await;
    d.outbox.enqueue(&failure_alert(1, None, None)).await.unwrap();
    let row = d.wait_state(1, OutboxState::Sent).await;
    assert_eq!((row.attempts, row.remote_id.as_deref()), (2, Some("78")));
    let reqs = server.requests();
    assert_eq!(reqs[0].request.path, "/bot42:token/sendMessage", "no snapshot: a text message");
    let waited = reqs[1].request.at.millis() - reqs[0].request.at.millis();
    assert!(waited >= 1000, "retry_after: 1 honoured, waited {waited} ms");
    let first = d.store.attempts_of(row.id).await.unwrap().remove(0);
    assert_eq!(first.error.as_deref(), Some("retryable: HTTP 429: Too Many Requests: retry after 1"));
    d.stop().await;
}
