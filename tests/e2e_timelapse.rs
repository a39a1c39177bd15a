//! Time-lapse per print, end to end against real peers: `layerwatch run` (the
//! binary, with a config file) prints an eight-layer file on the simulated Marlin
//! firmware (`sim::marlin`, host mode over a pseudo-terminal) while the MJPEG
//! sim camera shows a normal print. With `[timelapse] max_frames = 4` the layer
//! changes are decimated (eight changes keep layers 0, 2, 4 and 6); when the
//! print finishes the daemon writes `<data>/timelapses/<print>.mp4`, which
//! OpenCV's `VideoCapture` (and `ffprobe`, where installed) read back with the
//! frame count decimation implies,
//! the print history links it and the web route serves it as `video/mp4`.
//!
//! A second test follows a failure: the camera turns to spaghetti, the daemon
//! pauses the printer and the signed webhook alert links the print's
//! time-lapse under `alerts.public_url`; the owner cancels from the dashboard,
//! and the link's path then serves the video of the cancelled print.
//!
//! Prints the layer changes seen, the video's codec, size and frame count.

mod e2e_support;

use std::time::{Duration, Instant};

use e2e_support::printer_support::gcode::{self, Spec};
use e2e_support::*;
use layerwatch::sim::marlin::{MarlinSim, SimConfig};
use layerwatch::sim::receivers::WebhookReceiver;
use layerwatch::timelapse::decimate::Decimator;
use opencv::core::{Mat, MatTraitConst};
use opencv::prelude::{VideoCaptureTrait, VideoCaptureTraitConst};
use opencv::videoio;
use tokio_util::sync::CancellationToken;

/// Layers in the G-code; `MAX_FRAMES` keeps every second one past the fourth.
const LAYERS: u32 = 8;
const MAX_FRAMES: u32 = 4;

fn frames_in(path: &std::path::Path) -> u32 {
    let mut cap = videoio::VideoCapture::from_file(path.to_str().unwrap(), videoio::CAP_FFMPEG).unwrap();
    assert!(cap.is_opened().unwrap(), "OpenCV cannot open {}", path.display());
    let mut m = Mat::default();
    let mut n = 0;
    while cap.read(&mut m).unwrap() && !m.empty() {
        n += 1;
    }
    n
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_finished_print_gets_a_decimated_mp4_linked_from_history_and_served() {
    let dir = tempfile::tempdir().unwrap();
    let peers = CancellationToken::new();
    let _stop = peers.clone().drop_guard();
    // Every layer lasts several camera frames (the camera sends 4 per second). Many moves per layer
    // keep the host's lead over the firmware's planner (the layer it reports) under one layer.
    let sim_cfg = SimConfig { time_scale: 0.5, link: Some(dir.path().join("ttySIM")), ..SimConfig::default() };
    let (_sim, pty) = MarlinSim::spawn(sim_cfg, peers.child_token()).await.expect("simulated printer");
    let file = dir.path().join("cube.gcode");
    std::fs::write(
        &file,
        gcode::generate(&Spec { layers: LAYERS, moves_per_layer: 40, feedrate: 15_000, ..Spec::default() }),
    )
    .unwrap();
    let mut cam = Camera::bind().await;
    cam.start(normal_frames(24), 4.0);
    let cfg = base_config(&dir.path().join("data"), &cam.url)
        + &marlin_host_section(&pty)
        + &format!("\n[timelapse]\nenabled = true\nfps = 5\nmax_frames = {MAX_FRAMES}\nencoder = \"opencv\"\n");
    let t0 = Instant::now();
    let mut daemon = Daemon::start(dir.path(), &cfg, &["--print", file.to_str().unwrap()]);
    let client = http();
    let web = daemon.web_url(Duration::from_secs(30)).await;

    let written = eventually(Duration::from_secs(120), "the time-lapse to be written", Some(&daemon), async || {
        daemon.log_records("time-lapse written").into_iter().next()
    })
    .await;
    let took = t0.elapsed();
    let layers_seen = daemon.log_records("time-lapse frame").len();
    let print = written["print"].as_i64().expect("print id");
    let video = daemon.data.join("timelapses").join(format!("{print}.mp4"));
    println!(
        "e2e time-lapse: {layers_seen} layer changes with a frame, {} frames kept, {} ({} bytes), written {:.1} s after start",
        written["frames"],
        written["codec"],
        written["bytes"],
        took.as_secs_f64()
    );
    assert!(
        layers_seen + 1 >= LAYERS as usize,
        "a frame per layer change (one may fall between status reports): {layers_seen}\n{}",
        daemon.log_tail(40)
    );
    // What decimation keeps of the changes seen: fewer frames than changes, evenly spread.
    let mut d = Decimator::new(MAX_FRAMES);
    (0..layers_seen).for_each(|_| drop(d.push()));
    let expected = d.kept().len() as u32;
    assert!(expected < layers_seen as u32 && expected <= MAX_FRAMES);
    assert_eq!(written["frames"], expected, "{written}");
    assert_eq!(written["ended"], "finished", "{written}");
    assert!(video.is_file(), "{} missing", video.display());
    assert_eq!(frames_in(&video), expected, "VideoCapture reads every frame back");
    if let Ok(out) = std::process::Command::new("ffprobe")
        .args(["-v", "error", "-count_frames", "-select_streams", "v:0", "-show_entries", "stream=nb_read_frames"])
        .args(["-of", "csv=p=0"])
        .arg(&video)
        .output()
    {
        assert_eq!(
            String::from_utf8_lossy(&out.stdout).trim(),
            expected.to_string(),
            "ffprobe: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let frames_dir = daemon.data.join("timelapses/frames").join(print.to_string());
    assert!(!frames_dir.exists(), "the frames were removed after encoding");

    // The history links it; the route serves the file itself, as video/mp4.
    let (_, prints) = get_json(&client, &format!("{web}/api/prints")).await.expect("prints");
    let row = prints.as_array().unwrap().iter().find(|p| p["id"] == print).unwrap_or_else(|| panic!("{prints:#}"));
    let url = row["timelapse_url"].as_str().unwrap_or_else(|| panic!("no link: {row:#}"));
    assert_eq!(url, format!("/api/prints/{print}/timelapse.mp4"));
    assert_eq!(row["outcome"], "finished");
    let r = client.get(format!("{web}{url}")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "video/mp4");
    let body = r.bytes().await.unwrap();
    assert_eq!(body.as_ref(), std::fs::read(&video).unwrap().as_slice(), "the same bytes as on disk");
    let r = client.get(format!("{web}/api/prints/{}/timelapse.mp4", print + 1)).send().await.unwrap();
    assert_eq!(r.status(), 404, "no video for a print that has none");

    // Counted in /metrics.
    let metrics = client.get(format!("{web}/metrics")).send().await.unwrap().text().await.unwrap();
    assert!(metrics.contains("layerwatch_timelapses_written_total 1\n"), "{metrics}");
    assert!(metrics.contains("layerwatch_timelapse_failures_total 0\n"), "{metrics}");

    daemon.signal(libc::SIGTERM);
    let status = daemon.wait_exit(Duration::from_secs(15)).expect("exited after SIGTERM");
    assert!(status.success(), "{status:?}\n{}", daemon.log_tail(20));
}

const TOKEN: &str = "e2e-dashboard-token-0123456789";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_failure_alert_links_the_time_lapse_of_the_print_it_cancelled() {
    let dir = tempfile::tempdir().unwrap();
    let peers = CancellationToken::new();
    let _stop = peers.clone().drop_guard();
    let sim_cfg = SimConfig { time_scale: 0.2, link: Some(dir.path().join("ttySIM")), ..SimConfig::default() };
    let (_sim, pty) = MarlinSim::spawn(sim_cfg, peers.child_token()).await.expect("simulated printer");
    let file = dir.path().join("long.gcode");
    std::fs::write(
        &file,
        gcode::generate(&Spec { layers: 300, moves_per_layer: 8, feedrate: 3_000, ..Spec::default() }),
    )
    .unwrap();
    let hook = WebhookReceiver::start(Some(WEBHOOK_SECRET.as_bytes())).await.unwrap();
    let mut cam = Camera::bind().await;
    let public = "https://printer.example.net";
    let base = base_config(&dir.path().join("data"), &cam.url);
    assert!(base.contains("bind = \"127.0.0.1:0\""), "base_config changed:\n{base}");
    let cfg = base.replace("bind = \"127.0.0.1:0\"", &format!("bind = \"127.0.0.1:0\"\ntoken = {TOKEN:?}"))
        + &marlin_host_section(&pty)
        + &webhook_section(&hook.url())
        + &format!("\n[alerts]\npublic_url = {public:?}\n")
        + "\n[timelapse]\nenabled = true\nfps = 5\nmax_frames = 100\nencoder = \"opencv\"\n";
    let mut daemon = Daemon::start(dir.path(), &cfg, &["--print", file.to_str().unwrap()]);
    let mut auth = reqwest::header::HeaderMap::new();
    auth.insert(reqwest::header::AUTHORIZATION, format!("Bearer {TOKEN}").parse().unwrap());
    let client = reqwest::Client::builder().default_headers(auth).build().unwrap();
    let web = daemon.web_url(Duration::from_secs(30)).await;
    eventually(Duration::from_secs(30), "the print to start", Some(&daemon), async || {
        let (_, s) = get_json(&client, &format!("{web}/api/status")).await?;
        (s["printer"]["state"] == "printing").then_some(())
    })
    .await;
    let (frames, _) = sequence(12, 400);
    cam.start(frames, 4.0);

    let alert = eventually(Duration::from_secs(60), "the failure alert", Some(&daemon), async || {
        hook.unique_accepted().into_iter().filter_map(|d| d.json).find(|j| j["level"] == "failure")
    })
    .await;
    let print = alert["timelapse"]["print_id"].as_i64().unwrap_or_else(|| panic!("no time-lapse link: {alert:#}"));
    let url = alert["timelapse"]["url"].as_str().unwrap();
    assert_eq!(url, format!("{public}/api/prints/{print}/timelapse.mp4"), "{alert:#}");
    // Not written before the print ends.
    let path = url.strip_prefix(public).unwrap();
    let r = client.get(format!("{web}{path}")).send().await.unwrap();
    assert_eq!(r.status(), 404);

    eventually(Duration::from_secs(30), "the pause", Some(&daemon), async || {
        let (_, s) = get_json(&client, &format!("{web}/api/status")).await?;
        (s["printer"]["state"] == "paused").then_some(())
    })
    .await;
    let r = client
        .post(format!("{web}/api/printer/cancel"))
        .json(&serde_json::json!({ "confirm": true }))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "cancel: {}", r.status());
    let written =
        eventually(Duration::from_secs(60), "the time-lapse of the cancelled print", Some(&daemon), async || {
            daemon.log_records("time-lapse written").into_iter().next()
        })
        .await;
    assert_eq!((written["print"].as_i64(), written["ended"].as_str()), (Some(print), Some("cancelled")), "{written}");
    let frames = written["frames"].as_u64().unwrap();
    assert!(frames >= 1, "{written}");
    let r = client.get(format!("{web}{path}")).send().await.unwrap();
    assert_eq!((r.status().as_u16(), r.headers()["content-type"].to_str().unwrap()), (200, "video/mp4"));
    let video = daemon.data.join("timelapses").join(format!("{print}.mp4"));
    assert_eq!(r.bytes().await.unwrap().len() as u64, std::fs::metadata(&video).unwrap().len());
    assert_eq!(u64::from(frames_in(&video)), frames);
    // Behind the dashboard's auth like the snapshots.
    let r = http().get(format!("{web}{path}")).send().await.unwrap();
    assert_eq!(r.status(), 401);
    println!("e2e time-lapse: the failure alert links {url}; the cancelled print's video has {frames} frames");

    daemon.signal(libc::SIGTERM);
    let status = daemon.wait_exit(Duration::from_secs(15)).expect("exited after SIGTERM");
    assert!(status.success(), "{status:?}\n{}", daemon.log_tail(20));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn frames_taken_before_a_kill_9_become_the_video_after_the_restart() {
    let dir = tempfile::tempdir().unwrap();
    let peers = CancellationToken::new();
    let _stop = peers.clone().drop_guard();
    let sim_cfg = SimConfig { time_scale: 0.5, link: Some(dir.path().join("ttySIM")), ..SimConfig::default() };
    let (_sim, pty) = MarlinSim::spawn(sim_cfg, peers.child_token()).await.expect("simulated printer");
    let file = dir.path().join("long.gcode");
    let spec = Spec { layers: 200, moves_per_layer: 40, feedrate: 15_000, ..Spec::default() };
    std::fs::write(&file, gcode::generate(&spec)).unwrap();
    let mut cam = Camera::bind().await;
    cam.start(normal_frames(24), 4.0);
    let cfg = base_config(&dir.path().join("data"), &cam.url)
        + &marlin_host_section(&pty)
        + "\n[timelapse]\nenabled = true\nfps = 5\nmax_frames = 100\nencoder = \"opencv\"\n";
    let mut daemon = Daemon::start(dir.path(), &cfg, &["--print", file.to_str().unwrap()]);
    eventually(Duration::from_secs(60), "three time-lapse frames", Some(&daemon), async || {
        (daemon.log_records("time-lapse frame").len() >= 3).then_some(())
    })
    .await;
    daemon.kill9();
    let frames_dir = daemon.data.join("timelapses/frames/1");
    let on_disk =
        std::fs::read_dir(&frames_dir).unwrap().flatten().filter(|e| e.path().extension() == Some("jpg".as_ref()));
    let on_disk = on_disk.count() as u64;
    assert!(on_disk >= 3, "{on_disk} frames in {}", frames_dir.display());

    // The host streamed the file, so the print stops with it: after the restart the printer is idle,
    // the print ends as interrupted, and the frames of the first run become its video.
    daemon.restart(&[]);
    let written = eventually(Duration::from_secs(60), "the time-lapse after the restart", Some(&daemon), async || {
        daemon.log_records("time-lapse written").into_iter().next()
    })
    .await;
    assert_eq!(written["print"], 1, "{written}");
    // Which of the two depends on whether the action engine ended the print before the recorder looked.
    assert!(matches!(written["ended"].as_str(), Some("interrupted" | "before the restart")), "{written}");
    assert_eq!(written["frames"].as_u64(), Some(on_disk), "every frame of the killed run is in the video: {written}");
    let video = daemon.data.join("timelapses/1.mp4");
    assert_eq!(u64::from(frames_in(&video)), on_disk);
    assert!(!frames_dir.exists(), "the frames were removed after encoding");
    println!("e2e time-lapse: {on_disk} frames from before kill -9 encoded after the restart");
    daemon.signal(libc::SIGTERM);
    let status = daemon.wait_exit(Duration::from_secs(15)).expect("exited after SIGTERM");
    assert!(status.success(), "{status:?}\n{}", daemon.log_tail(20));
}
