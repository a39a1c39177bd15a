//! Several printers in one daemon (issue 14, part 3), end to end: `layerwatch run` with a
//! `[[printers]]` config watches two simulated Marlin printers (`sim::marlin`, monitor mode,
//! each printing from its SD card) through two MJPEG cameras (`sim::mjpeg_server`).
//!
//! - Printer `a`'s camera shows spaghetti: `a` is paused, `b` keeps printing, and each has
//!   its own API (`/p/<name>/api/…`), its own store (`data/<name>/`), its own `/metrics`
//!   series (`printer="<name>"`), and `/api/printers` lists both.
//! - Printer `b`'s serial port does not exist and its camera folder is missing: the daemon
//!   starts anyway, `a` is watched and paused as before, and `b` is reported unhealthy.

mod e2e_support;

use std::path::{Path, PathBuf};
use std::time::Duration;

use e2e_support::printer_support::gcode::{self, Spec};
use e2e_support::*;
use layerwatch::sim::marlin::{MarlinSim, SimConfig, SimHandle};
use tokio_util::sync::CancellationToken;

/// A simulated printer on its own pseudo-terminal, printing a long file from its SD card.
async fn printing_sim(dir: &Path, name: &str, cancel: &CancellationToken) -> (SimHandle, PathBuf) {
    let cfg = SimConfig { time_scale: 0.5, link: Some(dir.join(format!("tty-{name}"))), ..SimConfig::default() };
    let (sim, pty) = MarlinSim::spawn(cfg, cancel.child_token()).await.expect("simulated printer");
    let text = gcode::generate(&Spec { layers: 400, moves_per_layer: 40, feedrate: 3_000, ..Spec::default() });
    sim.put_sd_file("long.gco", text.into_bytes());
    sim.start_sd_print("long.gco");
    (sim, pty)
}

/// The shared sections, then one `[[printers]]` entry per `(name, entry lines)`.
fn farm_config(data: &Path, printers: &[(&str, String)]) -> String {
    let mut cfg = format!(
        r#"
[general]
data_dir = {data:?}
log = "info,layerwatch=debug"
log_format = "json"

[camera]
source = "mjpeg"
interval_ms = 250
timeout_ms = 30000
reconnect_max_ms = 1000

[printer]
kind = "marlin"
command_timeout_ms = 15000

[printer.serial]
mode = "monitor"
read_timeout_ms = 2000

[decision]
half_life_s = 0.75
warmup_layers = 1
strict_layers = 0
# SD prints in monitor mode report no layers: the time fallbacks apply.
warmup_fallback_s = 0
strict_fallback_s = 0

[web]
bind = "127.0.0.1:0"
"#,
        data = data.display().to_string()
    );
    for (name, entry) in printers {
        cfg.push_str(&format!("\n[[printers]]\nname = {name:?}\n{entry}\n"));
    }
    cfg
}

fn marlin_entry(pty: &Path, camera_url: &str) -> String {
    format!("printer.serial.path = {:?}\ncamera.url = {camera_url:?}\n", pty.display().to_string())
}

async fn state_of(client: &reqwest::Client, web: &str, name: &str) -> Option<String> {
    let (code, s) = get_json(client, &format!("{web}/p/{name}/api/status")).await?;
    (code == 200).then(|| s["printer"]["state"].as_str().unwrap_or_default().to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failure_on_one_printer_pauses_it_and_the_other_keeps_printing() {
    let dir = tempfile::tempdir().unwrap();
    let peers = CancellationToken::new();
    let _stop = peers.clone().drop_guard();
    let (sim_a, pty_a) = printing_sim(dir.path(), "a", &peers).await;
    let (sim_b, pty_b) = printing_sim(dir.path(), "b", &peers).await;
    let (mut cam_a, mut cam_b) = (Camera::bind().await, Camera::bind().await);
    let cfg = farm_config(
        &dir.path().join("data"),
        &[("a", marlin_entry(&pty_a, &cam_a.url)), ("b", marlin_entry(&pty_b, &cam_b.url))],
    );
    let daemon = Daemon::start(dir.path(), &cfg, &[]);
    let client = http();
    let web = daemon.web_url(Duration::from_secs(30)).await;

    // Both printers print; then a's camera shows spaghetti while b's stays normal.
    for name in ["a", "b"] {
        eventually(Duration::from_secs(30), &format!("printer {name} printing"), Some(&daemon), async || {
            (state_of(&client, &web, name).await? == "printing").then_some(())
        })
        .await;
    }
    let (frames, _) = sequence(12, 400);
    cam_a.start(frames, 4.0);
    cam_b.start(normal_frames(16), 4.0);

    eventually(Duration::from_secs(60), "printer a paused", Some(&daemon), async || {
        (!sim_a.state().sd_printing).then_some(())
    })
    .await;
    eventually(Duration::from_secs(20), "a's API to say paused", Some(&daemon), async || {
        (state_of(&client, &web, "a").await? == "paused").then_some(())
    })
    .await;
    // b judged frames all along and still prints, 5 s after a paused.
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert!(sim_b.state().sd_printing, "b was not to be paused\n{}", daemon.log_tail(30));
    assert_eq!(state_of(&client, &web, "b").await.as_deref(), Some("printing"));
    let (_, b) = get_json(&client, &format!("{web}/p/b/api/status")).await.unwrap();
    assert_eq!(b["name"], "b");
    assert!(b["vision"]["classified"].as_u64().unwrap_or(0) > 0, "b's frames were scored: {:#}", b["vision"]);

    // The list, per printer.
    let (code, list) = get_json(&client, &format!("{web}/api/printers")).await.unwrap();
    assert_eq!(code, 200);
    let names: Vec<&str> = list.as_array().unwrap().iter().map(|p| p["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["a", "b"], "{list:#}");
    assert_eq!(list[0]["state"], "paused", "{list:#}");
    assert_eq!(list[0]["incidents_open"], 1, "{list:#}");
    assert_eq!((&list[1]["state"], &list[1]["incidents_open"]), (&"printing".into(), &0.into()), "{list:#}");
    assert_eq!(list[1]["url"], "/p/b/");

    // Separate stores: a's incident is in a's database only.
    let incidents = |name: &str| -> i64 {
        let db = rusqlite::Connection::open_with_flags(
            daemon.data.join(name).join("layerwatch.db"),
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
        )
        .unwrap_or_else(|e| panic!("{name}'s database: {e}"));
        db.query_row("SELECT COUNT(*) FROM incidents", [], |r| r.get(0)).unwrap()
    };
    assert_eq!((incidents("a"), incidents("b")), (1, 0));
    let (_, inc) = get_json(&client, &format!("{web}/p/a/api/incidents")).await.unwrap();
    assert_eq!(inc.as_array().map(Vec::len), Some(1), "{inc:#}");

    // /metrics: every series labelled by printer, each family described once.
    let metrics = client.get(format!("{web}/metrics")).send().await.unwrap().text().await.unwrap();
    for name in ["a", "b"] {
        let line = format!("layerwatch_frames_classified_total{{printer=\"{name}\"}} ");
        assert!(metrics.lines().any(|l| l.starts_with(&line)), "no {line}\n{metrics}");
        let verdict = format!("layerwatch_verdicts_total{{printer=\"{name}\",level=\"failure\"}} ");
        assert!(metrics.contains(&verdict), "no {verdict}\n{metrics}");
    }
    assert_eq!(metrics.matches("# TYPE layerwatch_frames_total counter").count(), 1, "{metrics}");
    assert!(metrics.lines().filter(|l| !l.starts_with('#')).all(|l| l.contains("printer=\"")), "{metrics}");

    // Pages and the old paths.
    let r = client.get(format!("{web}/p/a/")).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let page = r.text().await.unwrap();
    assert!(page.contains("src=\"assets/app.js\""), "the page's links are relative: {page}");
    let r = client.get(format!("{web}/p/a/assets/app.js")).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let nofollow = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).no_proxy().build().unwrap();
    let r = nofollow.get(format!("{web}/p/a")).send().await.unwrap();
    assert_eq!((r.status().as_u16(), r.headers()["location"].to_str().unwrap()), (308, "/p/a/"));
    let home = client.get(format!("{web}/")).send().await.unwrap().text().await.unwrap();
    assert!(home.contains("href=\"/p/a/\"") && home.contains("href=\"/p/b/\""), "{home}");
    let (code, body) = get_json(&client, &format!("{web}/api/status")).await.unwrap();
    assert_eq!(code, 400, "{body}");
    assert!(body["error"].as_str().unwrap().contains("/api/printers"), "{body}");
    let (code, _) = get_json(&client, &format!("{web}/p/nobody/api/status")).await.unwrap();
    assert_eq!(code, 404);

    // One model for both cameras.
    assert_eq!(daemon.log_records("vision worker started").len(), 1, "{}", daemon.log_tail(40));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_link_and_a_missing_camera_on_one_printer_never_stop_the_other() {
    let dir = tempfile::tempdir().unwrap();
    let peers = CancellationToken::new();
    let _stop = peers.clone().drop_guard();
    let (sim_a, pty_a) = printing_sim(dir.path(), "a", &peers).await;
    let mut cam_a = Camera::bind().await;
    let dead = format!(
        "printer.serial.path = {:?}\ncamera = {{ source = \"folder\", path = {:?} }}\n",
        dir.path().join("no-such-tty").display().to_string(),
        dir.path().join("no-such-folder").display().to_string()
    );
    let cfg = farm_config(&dir.path().join("data"), &[("a", marlin_entry(&pty_a, &cam_a.url)), ("b", dead)]);
    let mut daemon = Daemon::start(dir.path(), &cfg, &[]);
    let client = http();
    let web = daemon.web_url(Duration::from_secs(30)).await;

    eventually(Duration::from_secs(30), "printer a printing", Some(&daemon), async || {
        (state_of(&client, &web, "a").await? == "printing").then_some(())
    })
    .await;
    let (frames, _) = sequence(12, 400);
    cam_a.start(frames, 4.0);
    eventually(Duration::from_secs(60), "printer a paused", Some(&daemon), async || {
        (!sim_a.state().sd_printing).then_some(())
    })
    .await;
    assert!(daemon.exited().is_none(), "the daemon runs on\n{}", daemon.log_tail(30));

    // Counted per printer on the shared worker: a's frames are a's, b (no camera) scored none.
    let (_, a) = get_json(&client, &format!("{web}/p/a/api/status")).await.unwrap();
    let (_, b) = get_json(&client, &format!("{web}/p/b/api/status")).await.unwrap();
    assert!(a["vision"]["classified"].as_u64().unwrap_or(0) > 0, "{:#}", a["vision"]);
    assert_eq!(b["vision"]["classified"], 0, "{:#}", b["vision"]);

    // b is reported, not hidden: unhealthy, and /healthz says so by name.
    let (_, list) = get_json(&client, &format!("{web}/api/printers")).await.unwrap();
    assert_eq!(list[1]["name"], "b");
    assert_eq!(list[1]["healthy"], false, "{list:#}");
    assert_ne!(list[1]["state"], "printing", "{list:#}");
    let (code, h) = get_json(&client, &format!("{web}/healthz")).await.unwrap();
    assert_eq!(code, 503, "{h:#}");
    assert_eq!(h["printers"]["b"]["ok"], false, "{h:#}");
    assert!(h["problems"].as_array().unwrap().iter().all(|p| p.as_str().unwrap().starts_with("b: ")), "{h:#}");
    // The start-up check named b's devices as warnings, not as reasons to stop.
    let warned = daemon.log_records("one printer cannot reach its device yet; it retries, the others run");
    assert_eq!(warned.len(), 2, "{}", daemon.log_tail(40));
}
