//! The printer's light (`[printer.light]`) end to end, through the real
//! binary: `M355` on OctoPrint's VirtualPrinter (Marlin, host mode), and a
//! Klipper `[output_pin]` through a real Moonraker in front of the Klipper
//! stand-in, which checks `SET_PIN` the way Klipper does. The light goes on
//! when the print starts, off `off_after_s` after it ends, and a switch the
//! printer refuses is logged, counted in `/metrics` and retried without
//! disturbing the print.

mod e2e_support;
mod hosts_support;

use std::time::Duration;

use e2e_support::printer_support::gcode::{self, Spec};
use e2e_support::printer_support::vp::VirtualPrinter;
use e2e_support::*;
use hosts_support::moonraker::{Moonraker, Standin};

async fn metric(client: &reqwest::Client, web: &str, name: &str) -> Option<f64> {
    let text = client.get(format!("{web}/metrics")).send().await.ok()?.text().await.ok()?;
    text.lines().find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
}

async fn pin_value(client: &reqwest::Client, moonraker: &str, pin: &str) -> Option<f64> {
    let url = format!("{moonraker}/printer/objects/query?output_pin%20{pin}");
    let (_, j) = get_json(client, &url).await?;
    j["result"]["status"][format!("output_pin {pin}")]["value"].as_f64()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn m355_lights_a_marlin_print_and_switches_off_after_it_ends() {
    let vp = VirtualPrinter::start(&[("simulated_errors", "[]")]);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("short.gcode");
    std::fs::write(
        &file,
        gcode::generate(&Spec { layers: 6, moves_per_layer: 30, feedrate: 6_000, ..Spec::default() }),
    )
    .unwrap();
    let mut cam = Camera::bind().await;
    cam.start(normal_frames(16), 4.0);
    let cfg = base_config(&dir.path().join("data"), &cam.url)
        + &marlin_host_section(&vp.link)
        + "\n[printer.light]\nmethod = \"m355\"\nbrightness = 0.5\noff_after_s = 1\n";
    let daemon = Daemon::start(dir.path(), &cfg, &["--print", file.to_str().unwrap()]);
    let client = http();
    let web = daemon.web_url(Duration::from_secs(30)).await;

    let on = eventually(Duration::from_secs(30), "M355 S1 on the printer", Some(&daemon), async || {
        vp.executed().iter().position(|c| c == "M355 S1 P128")
    })
    .await;
    let (_, s) = get_json(&client, &format!("{web}/api/status")).await.unwrap();
    assert!(matches!(s["printer"]["state"].as_str(), Some("printing" | "heating")), "lit for the print: {s:#}");

    eventually(Duration::from_secs(60), "the print to finish", Some(&daemon), async || {
        let (_, s) = get_json(&client, &format!("{web}/api/status")).await?;
        (s["printer"]["state"] == "finished").then_some(())
    })
    .await;
    let off = eventually(Duration::from_secs(15), "M355 S0 after the print", Some(&daemon), async || {
        vp.executed().iter().rposition(|c| c == "M355 S0")
    })
    .await;
    assert!(off > on, "off after on: {:?}", vp.executed());
    let executed = vp.executed();
    assert_eq!(executed.iter().filter(|c| c.starts_with("M355")).count(), 2, "one on, one off: {executed:?}");
    assert_eq!(metric(&client, &web, "layerwatch_light_switches_total").await, Some(2.0));
    assert_eq!(metric(&client, &web, "layerwatch_light_switch_failures_total").await, Some(0.0));
    assert_eq!(metric(&client, &web, "layerwatch_light_on").await, Some(0.0));
    assert!(daemon.log_text().contains("light switched"), "{}", daemon.log_tail(30));
    // Audited like every printer command.
    let db = daemon.db();
    let count = |sql: &str| db.query_row(sql, [], |r| r.get::<_, i64>(0)).unwrap();
    assert_eq!(count("SELECT count(*) FROM audit_log WHERE command = 'light_on' AND result = 'confirmed'"), 1);
    assert_eq!(count("SELECT count(*) FROM audit_log WHERE command = 'light_off' AND result = 'confirmed'"), 1);
}

async fn moonraker_daemon(pin: &str) -> (Moonraker, tempfile::TempDir, Camera, Daemon, String) {
    let m = Moonraker::start(Standin { speed: 5.0, ..Standin::default() }).await;
    let dir = tempfile::tempdir().unwrap();
    let mut cam = Camera::bind().await;
    cam.start(normal_frames(16), 4.0);
    let cfg = base_config(&dir.path().join("data"), &cam.url)
        + "\n"
        + &m.config_toml()
        + &format!("\n[printer.light]\nmethod = \"klipper_pin\"\npin = {pin:?}\noff_after_s = 1\nretry_s = 1\n");
    let daemon = Daemon::start(dir.path(), &cfg, &[]);
    let web = daemon.web_url(Duration::from_secs(30)).await;
    (m, dir, cam, daemon, web)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_klipper_output_pin_lights_a_moonraker_print_and_goes_off_after_a_cancel() {
    let (m, _dir, _cam, daemon, web) = moonraker_daemon("caselight").await;
    let client = http();
    eventually(Duration::from_secs(30), "the printer link", Some(&daemon), async || {
        let (_, s) = get_json(&client, &format!("{web}/api/status")).await?;
        (s["printer"]["state"] == "idle").then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(pin_value(&client, &m.url, "caselight").await, Some(0.0), "idle: the light is left alone");

    m.upload_and_print(&hosts_support::fixture("gcode/cube_klipper.gcode"), "light.gcode").await;
    eventually(Duration::from_secs(30), "the pin on", Some(&daemon), async || {
        (pin_value(&client, &m.url, "caselight").await? == 1.0).then_some(())
    })
    .await;
    let r = client.post(format!("{}/printer/print/cancel", m.url)).send().await.expect("cancel");
    assert!(r.status().is_success(), "{r:?}");
    eventually(Duration::from_secs(30), "the pin off after the cancel", Some(&daemon), async || {
        (pin_value(&client, &m.url, "caselight").await? == 0.0).then_some(())
    })
    .await;
    assert_eq!(metric(&client, &web, "layerwatch_light_switches_total").await, Some(2.0));
    assert_eq!(metric(&client, &web, "layerwatch_light_on").await, Some(0.0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pin_klipper_does_not_know_is_refused_counted_retried_and_the_print_goes_on() {
    let (m, _dir, _cam, daemon, web) = moonraker_daemon("nolight").await;
    let client = http();
    eventually(Duration::from_secs(30), "the printer link", Some(&daemon), async || {
        let (_, s) = get_json(&client, &format!("{web}/api/status")).await?;
        (s["printer"]["state"] == "idle").then_some(())
    })
    .await;
    m.upload_and_print(&hosts_support::fixture("gcode/cube_klipper.gcode"), "light.gcode").await;
    eventually(Duration::from_secs(30), "two refused switches (a retry)", Some(&daemon), async || {
        (metric(&client, &web, "layerwatch_light_switch_failures_total").await? >= 2.0).then_some(())
    })
    .await;
    let log = daemon.log_text();
    assert!(log.contains("light switch failed") && log.contains("not valid for PIN"), "{}", daemon.log_tail(30));
    let (_, s) = get_json(&client, &format!("{web}/api/status")).await.unwrap();
    assert_eq!(s["printer"]["state"], "printing", "the print goes on: {s:#}");
    assert_eq!(metric(&client, &web, "layerwatch_light_switches_total").await, Some(0.0));
    assert_eq!(pin_value(&client, &m.url, "caselight").await, Some(0.0));
    let db = daemon.db();
    let (n, error): (i64, String) = db
        .query_row(
            "SELECT count(*), max(error) FROM audit_log WHERE command = 'light_on' AND result = 'failed'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert!(n >= 2 && error.contains("not valid for PIN"), "{n} {error}");
}
