//! Credentials (Twilio SID and token, Telegram bot token, webhook secret and
//! custom headers) never reach a log line (even at TRACE, dependencies
//! included), an error stored in the outbox, or `Debug` output. In its own
//! test binary: it installs the process-wide log subscriber.

mod actions_support;

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actions_support::delivery::{Delivery, SID, failure_alert, sms, webhook};
use actions_support::{eventually, fast_alerts};
use layerwatch::actions::AlertsConfig;
use layerwatch::actions::alerts::config::TelegramConfig;
use layerwatch::actions::alerts::{Secret, build_notifiers};
use layerwatch::domain::Level;
use layerwatch::sim::receivers::TwilioReceiver;

/// Collects every log line of the process.
#[derive(Clone, Default)]
struct Logs(Arc<Mutex<Vec<u8>>>);

impl Write for Logs {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_stay_out_of_logs_errors_and_debug_output() {
    let logs = Logs::default();
    let sink = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(move || sink.clone())
        .finish();
    tracing::subscriber::set_global_default(subscriber).expect("the only subscriber of this test binary");

    let secrets = [
        "AC99999999999999999999999999999999",
        "twilio-wrong-token",
        "654321:TG-bot-secret",
        "whsec_hidden",
        "Bearer hdr-secret",
    ];
    let twilio = TwilioReceiver::start(SID, "the-right-token").await.unwrap();
    let closed_port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let mut hook = webhook(format!("http://127.0.0.1:{closed_port}/hook"));
    hook.secret = Some(Secret::new(secrets[3]));
    hook.headers.insert("Authorization".into(), Secret::new(secrets[4]));
    let cfg = AlertsConfig {
        sms: Some(sms(twilio.base_url(), secrets[0], secrets[1])),
        telegram: Some(TelegramConfig {
            bot_token: Some(Secret::new(secrets[2])),
            chat_id: "42".into(),
            base_url: format!("http://127.0.0.1:{closed_port}"),
            min_level: Level::Warning,
        }),
        webhook: Some(hook),
        ..fast_alerts()
    };
    let debug = format!("{cfg:?} {:?}", build_notifiers(&cfg).unwrap().iter().map(|n| n.channel()).collect::<Vec<_>>());
    let d = Delivery::start(cfg.clone()).await;
    d.outbox.enqueue(&failure_alert(1, None, None)).await.unwrap();
    let all_failed = eventually(Duration::from_secs(20), || async {
        let rows = d.store.alerts_of_incident(1).await.unwrap();
        rows.len() == 3 && rows.iter().all(|r| r.attempts >= 2)
    })
    .await;
    assert!(all_failed, "{:#?}", d.store.alerts_of_incident(1).await.unwrap());
    let rows = d.store.alerts_of_incident(1).await.unwrap();
    d.stop().await;

    let logs = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    assert!(logs.contains("alert delivery failed; will retry"), "logs were captured:\n{logs}");
    let stored: String = rows.iter().map(|r| format!("{r:?}")).collect();
    for s in secrets {
        assert!(!logs.contains(s), "{s:?} leaked into the logs:\n{logs}");
        assert!(!stored.contains(s), "{s:?} leaked into the outbox rows");
        assert!(!debug.contains(s), "{s:?} leaked into Debug output");
    }
}
