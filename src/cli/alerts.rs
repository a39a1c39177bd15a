//! `layerwatch alerts test`: sends one test alert, with a test picture, straight
//! to every configured channel (no outbox, no retries) and prints each answer.

use std::process::ExitCode;
use std::sync::Arc;

use crate::actions::alerts::snapshot::{Annotation, annotate};
use crate::actions::alerts::{Alert, build_notifiers};
use crate::domain::{FrameImage, Level, RgbImage, Timestamp};
use crate::store::AlertKind;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    pub command: AlertsCommand,
}

#[derive(Debug, clap::Subcommand)]
pub enum AlertsCommand {
    /// Send a test alert to every channel in [alerts] and report what each answered.
    Test,
}

pub async fn run(args: Args, global: &super::Global) -> anyhow::Result<ExitCode> {
    let AlertsCommand::Test = args.command;
    let cfg = global.load_config()?;
    let notifiers = build_notifiers(&cfg.alerts)?;
    if notifiers.is_empty() {
        eprintln!(
            "no alert channel configured: add [alerts.webhook], [alerts.sms], [alerts.ntfy], [alerts.telegram], \
             [alerts.discord], [alerts.pushover] or [alerts.email]"
        );
        return Ok(ExitCode::from(1));
    }
    let mut failed = 0;
    for (channel, r) in send_test(&cfg.general.name, &notifiers).await {
        match r {
            Ok(answer) => println!("{channel}: ok ({answer})"),
            Err(e) => {
                failed += 1;
                println!("{channel}: {e}");
            }
        }
    }
    Ok(if failed == 0 { ExitCode::SUCCESS } else { ExitCode::from(1) })
}

/// Sends one test alert, with a test picture, to each notifier (no outbox, no
/// retries): the channel's name, and its answer or why it failed.
pub async fn send_test(
    printer: &str,
    notifiers: &[Arc<dyn crate::actions::alerts::Notifier>],
) -> Vec<(String, Result<String, crate::actions::alerts::NotifyError>)> {
    let now = Timestamp::now();
    let mut alert = Alert::new(AlertKind::Test, printer, now, Level::Warning);
    alert.note = "Test alert from layerwatch: this channel works".into();
    let picture = test_picture(printer).ok();
    if picture.is_some() {
        alert.snapshot = Some(crate::actions::alerts::SnapshotRef { id: "test".into(), url: None, jpeg_base64: None });
    }
    let mut out = Vec::new();
    for n in notifiers {
        let r = n.send(&alert, picture.as_deref()).await.map(|d| {
            let code = if n.channel() == crate::store::Channel::Email { "SMTP" } else { "HTTP" };
            format!("{code} {}{}", d.status, d.remote_id.map(|r| format!(", id {r}")).unwrap_or_default())
        });
        out.push((n.channel().to_string(), r));
    }
    out
}

/// A grey 640×360 picture with the test banner drawn on it.
fn test_picture(name: &str) -> Result<Vec<u8>, crate::actions::alerts::snapshot::SnapshotError> {
    let img = RgbImage { width: 640, height: 360, data: vec![96; 640 * 360 * 3] };
    let a = Annotation {
        level: Level::Warning,
        score: 0.0,
        label: "test".into(),
        layer: None,
        layer_count: None,
        detail: format!("{name}  layerwatch alerts test"),
        overlay: None,
        region: None,
    };
    annotate(&FrameImage::Rgb(Arc::new(img)), &a, 85)
}
