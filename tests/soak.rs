//! The compressed-week soak (issue 13, item 10), outside the default test run:
//! `scripts/soak.sh` runs it (or `SOAK_MINUTES=120 cargo test --release --test soak -- --ignored --nocapture`).
//!
//! The release daemon (`layerwatch run`, a child process with a real config)
//! follows OctoPrint's VirtualPrinter behind a pseudo-terminal in monitor mode:
//! the printer prints a real sliced file from its SD card at the
//! VirtualPrinter's pace (moves run 10× faster than real time), a simulated
//! MJPEG camera at 1 fps loops normal frames and then spaghetti, and alerts go
//! to a signing webhook receiver behind a gate that can refuse connections.
//! A stand-in owner starts a print whenever the printer is idle and cancels a
//! paused one through the dashboard API. On a schedule the soak injects
//! camera drops, printer unplugs (the pty closes; a freshly booted printer
//! comes back), webhook outages and `kill -9` of the daemon (restarted).
//!
//! Every ~10 s it samples the daemon's RSS, open file descriptors and threads
//! to `samples.csv`; injections go to `events.csv`, the receiver's log to
//! `receiver.jsonl`; at the end `report.md` gives RSS/FD over time, alerts
//! written vs delivered (by `X-Layerwatch-Delivery`, the dedupe key) and what
//! happened to the incidents open at each kill. The test fails on a lost
//! alert, a delivery the outbox never wrote, an incident left open, an
//! unexpected daemon exit, or memory/FD growth.

mod e2e_support;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt::Write as _;
use std::io::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI32, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use e2e_support::printer_support::vp::VirtualPrinter;
use e2e_support::*;
use layerwatch::sim::mjpeg_server::{MjpegServer, MjpegServerOptions};
use layerwatch::sim::receivers::{Outcome, WebhookReceiver};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;

const TOKEN: &str = "soak-7f3kQ9zR2mX8vB4wL6pT";
const PRINT_FILE: &str = "prusa_cube20.gcode";

// --- knobs -------------------------------------------------------------------------

/// Schedule of the run, from the environment (seconds unless said otherwise).
#[derive(Debug, Clone)]
struct Knobs {
    minutes: f64,
    out: PathBuf,
    kill_every: u64,
    camera_drop_every: u64,
    camera_down: u64,
    unplug_every: u64,
    unplug_down: u64,
    webhook_outage_every: u64,
    webhook_down: u64,
    sample_every: u64,
    normal_frames: usize,
    failure_frames: usize,
    /// Kill -9 after every 3rd failure too (0: only on the schedule, for long daemon lives).
    aimed_kills: bool,
}

fn env_num<T: std::str::FromStr>(key: &str, default: T) -> T {
    match std::env::var(key) {
        Ok(v) => v.trim().parse().unwrap_or_else(|_| panic!("{key}={v:?}: not a number")),
        Err(_) => default,
    }
}

impl Knobs {
    fn from_env() -> Knobs {
        let out = std::env::var("SOAK_OUT")
            .map(PathBuf::from)
            .unwrap_or_else(|_| std::env::temp_dir().join(format!("layerwatch-soak-{}", std::process::id())));
        Knobs {
            minutes: env_num("SOAK_MINUTES", 5.0),
            out,
            kill_every: env_num("SOAK_KILL_EVERY_S", 900),
            camera_drop_every: env_num("SOAK_CAMERA_DROP_EVERY_S", 420),
            camera_down: env_num("SOAK_CAMERA_DOWN_S", 20),
            unplug_every: env_num("SOAK_UNPLUG_EVERY_S", 1380),
            unplug_down: env_num("SOAK_UNPLUG_DOWN_S", 15),
            webhook_outage_every: env_num("SOAK_WEBHOOK_OUTAGE_EVERY_S", 660),
            webhook_down: env_num("SOAK_WEBHOOK_DOWN_S", 90),
            sample_every: env_num("SOAK_SAMPLE_EVERY_S", 10),
            normal_frames: env_num("SOAK_NORMAL_FRAMES", 180),
            failure_frames: env_num("SOAK_FAILURE_FRAMES", 30),
            aimed_kills: env_num("SOAK_AIMED_KILLS", 1) != 0,
        }
    }
}

// --- a webhook gate that goes down and comes back on the same port --------------------

/// A TCP forwarder on a fixed port in front of the receiver: `down` closes the
/// listener and cuts every open connection (the daemon sees "connection
/// refused"), `up` listens on the same port again.
struct Gate {
    port: u16,
    target: SocketAddr,
    running: Mutex<Option<CancellationToken>>,
}

impl Gate {
    async fn open(target: SocketAddr) -> Gate {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind gate");
        let port = listener.local_addr().expect("gate addr").port();
        let gate = Gate { port, target, running: Mutex::new(None) };
        gate.serve(listener);
        gate
    }

    fn serve(&self, listener: TcpListener) {
        let cancel = CancellationToken::new();
        *self.running.lock().unwrap() = Some(cancel.clone());
        let target = self.target;
        tokio::spawn(async move {
            loop {
                let (mut inbound, _) = tokio::select! {
                    _ = cancel.cancelled() => return,
                    c = listener.accept() => match c { Ok(c) => c, Err(_) => continue },
                };
                let cancel = cancel.clone();
                tokio::spawn(async move {
                    let Ok(mut outbound) = TcpStream::connect(target).await else { return };
                    tokio::select! {
                        _ = cancel.cancelled() => {}
                        _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
                    }
                });
            }
        });
    }

    fn down(&self) {
        if let Some(c) = self.running.lock().unwrap().take() {
            c.cancel();
        }
    }

    async fn up(&self) -> bool {
        if self.running.lock().unwrap().is_some() {
            return true;
        }
        for _ in 0..50 {
            if let Ok(l) = TcpListener::bind(("127.0.0.1", self.port)).await {
                self.serve(l);
                return true;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        false
    }
}

// --- sampling ---------------------------------------------------------------------------

/// One sample of the daemon's process.
#[derive(Debug, Clone, Copy)]
struct Sample {
    t_s: f64,
    life: u32,
    age_s: f64,
    pid: i32,
    rss_kb: u64,
    fds: u64,
    threads: u64,
}

fn read_proc(pid: i32) -> Option<(u64, u64, u64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<u64>().ok())
    };
    let fds = std::fs::read_dir(format!("/proc/{pid}/fd")).ok()?.count() as u64;
    Some((field("VmRSS:")?, fds, field("Threads:")?))
}

/// What the sampler needs to know about the current daemon.
#[derive(Default)]
struct Current {
    pid: AtomicI32,
    life: AtomicU32,
    born: Mutex<Option<Instant>>,
}

fn spawn_sampler(
    current: Arc<Current>,
    start: Instant,
    every: Duration,
    csv: PathBuf,
    cancel: CancellationToken,
) -> tokio::task::JoinHandle<Vec<Sample>> {
    tokio::spawn(async move {
        let mut out = std::fs::File::create(&csv).expect("samples.csv");
        writeln!(out, "t_s,life,age_s,pid,rss_kb,fds,threads").unwrap();
        let mut all = Vec::new();
        let mut tick = tokio::time::interval(every);
        loop {
            tokio::select! {
                _ = cancel.cancelled() => return all,
                _ = tick.tick() => {}
            }
            let pid = current.pid.load(Ordering::SeqCst);
            let Some(born) = *current.born.lock().unwrap() else { continue };
            if pid <= 0 {
                continue;
            }
            let Some((rss_kb, fds, threads)) = read_proc(pid) else { continue };
            let s = Sample {
                t_s: start.elapsed().as_secs_f64(),
                life: current.life.load(Ordering::SeqCst),
                age_s: born.elapsed().as_secs_f64(),
                pid,
                rss_kb,
                fds,
                threads,
            };
            let _ =
                writeln!(out, "{:.1},{},{:.1},{},{},{},{}", s.t_s, s.life, s.age_s, s.pid, s.rss_kb, s.fds, s.threads);
            let _ = out.flush();
            all.push(s);
        }
    })
}

// --- the event log ---------------------------------------------------------------------

struct Events {
    start: Instant,
    file: std::fs::File,
    counts: BTreeMap<String, u32>,
}

impl Events {
    fn new(start: Instant, path: &Path) -> Events {
        let mut file = std::fs::File::create(path).expect("events.csv");
        writeln!(file, "t_s,event,detail").unwrap();
        Events { start, file, counts: BTreeMap::new() }
    }

    fn note(&mut self, event: &str, detail: &str) {
        let t = self.start.elapsed().as_secs_f64();
        let _ = writeln!(self.file, "{t:.1},{event},{}", detail.replace([',', '\n'], ";"));
        let _ = self.file.flush();
        *self.counts.entry(event.to_string()).or_default() += 1;
        println!("soak {t:7.1} s  {event} {detail}");
    }
}

// --- the daemon under test ---------------------------------------------------------------

fn config(data: &Path, camera_url: &str, serial: &Path, gcode_dir: &Path, hook_url: &str) -> String {
    format!(
        r#"
[general]
name = "soak printer"
data_dir = {data:?}
log = "info"
log_format = "json"

[camera]
name = "soak camera"
source = "mjpeg"
url = {camera_url:?}
interval_ms = 1000
timeout_ms = 10000
reconnect_max_ms = 2000

[decision]
half_life_s = 1.5
warmup_layers = 1
strict_layers = 0

[printer]
kind = "marlin"
command_timeout_ms = 15000

[printer.serial]
path = {serial:?}
mode = "monitor"
read_timeout_ms = 3000
gcode_dir = {gcode_dir:?}

[actions]
failure = "pause"
health = "notify"

[web]
bind = "127.0.0.1:0"
token = {TOKEN:?}

[alerts.retry]
initial_ms = 500
max_ms = 5000

# The default (6 an hour) is for real time; the soak runs 10x faster, so its hour holds ten.
[alerts.rate_limit]
max = 60
window_s = 3600
{webhook}"#,
        data = data.display().to_string(),
        serial = serial.display().to_string(),
        gcode_dir = gcode_dir.display().to_string(),
        webhook = webhook_section(hook_url),
    )
}

/// The web API's address of the current run, without panicking (a soak goes on).
async fn web_of(daemon: &Daemon, timeout: Duration) -> Option<String> {
    let start = Instant::now();
    loop {
        if let Some(addr) =
            daemon.log_records("web server listening").last().and_then(|v| v["addr"].as_str().map(String::from))
        {
            return Some(format!("http://{addr}"));
        }
        if start.elapsed() > timeout {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The daemon's database, read-only (`None` before it exists).
fn db_of(daemon: &Daemon) -> Option<rusqlite::Connection> {
    rusqlite::Connection::open_with_flags(
        daemon.data.join("layerwatch.db"),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .ok()
}

/// `GET /api/status` with the token.
async fn status(client: &reqwest::Client, base: &str) -> Option<serde_json::Value> {
    let r = client.get(format!("{base}/api/status")).bearer_auth(TOKEN).send().await.ok()?;
    if !r.status().is_success() {
        return None;
    }
    r.json().await.ok()
}

fn open_incidents(daemon: &Daemon) -> Vec<i64> {
    let Some(db) = db_of(daemon) else { return vec![] };
    let Ok(mut st) = db.prepare("SELECT id FROM incidents WHERE closed_at IS NULL") else { return vec![] };
    st.query_map([], |r| r.get::<_, i64>(0)).map(|rows| rows.flatten().collect()).unwrap_or_default()
}

/// A periodic injection: due at `every`, 2·`every`… (offset so they do not coincide).
struct Every {
    period: Duration,
    next: Duration,
}

impl Every {
    fn new(period_s: u64, offset_s: u64) -> Every {
        let period = Duration::from_secs(period_s.max(1));
        Every { period, next: Duration::from_secs(offset_s) + period }
    }

    fn due(&mut self, elapsed: Duration) -> bool {
        if elapsed >= self.next {
            self.next += self.period;
            true
        } else {
            false
        }
    }
}

// --- the soak ------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "long: minutes to hours; run scripts/soak.sh"]
async fn soak() {
    let k = Knobs::from_env();
    std::fs::create_dir_all(&k.out).expect("SOAK_OUT");
    let run_dir = k.out.join("run");
    let _ = std::fs::remove_dir_all(&run_dir);
    std::fs::create_dir_all(&run_dir).unwrap();
    let start = Instant::now();
    let duration = Duration::from_secs_f64(k.minutes * 60.0);
    let mut ev = Events::new(start, &k.out.join("events.csv"));
    ev.note("start", &format!("{:?}", k));

    // The printer and its SD card; the local copy maps byte positions to layers.
    let mut vp = VirtualPrinter::start(&[("simulated_errors", "[]")]);
    let gcode_dir = run_dir.join("gcode");
    std::fs::create_dir_all(&gcode_dir).unwrap();
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/gcode").join(PRINT_FILE);
    std::fs::copy(&src, gcode_dir.join(PRINT_FILE)).expect("copy the print file");
    let estimate_s = layerwatch::gcode::analyze_file(&src).ok().and_then(|a| a.estimated_time_s);
    vp.control(&format!("sd {PRINT_FILE} {}", src.display()));

    // The camera: normal frames, then spaghetti, looped, at 1 fps.
    let mut frames = normal_frames(k.normal_frames);
    frames.extend(failure_frames(k.failure_frames));
    let cam_started = Instant::now();
    let cam = MjpegServer::start_with(
        TcpListener::bind("127.0.0.1:0").await.unwrap(),
        frames,
        MjpegServerOptions { fps: 1.0, ..Default::default() },
    )
    .expect("camera");

    // The webhook receiver behind the gate.
    let hook = WebhookReceiver::start(Some(WEBHOOK_SECRET.as_bytes())).await.unwrap();
    let hook_addr: SocketAddr = hook.base_url().trim_start_matches("http://").parse().unwrap();
    let gate = Gate::open(hook_addr).await;
    let hook_url = format!("http://127.0.0.1:{}/hooks/layerwatch", gate.port);

    let cfg = config(&run_dir.join("data"), &cam.url(), &vp.link, &gcode_dir, &hook_url);
    let mut daemon = Daemon::start(&run_dir, &cfg, &[]);
    let current = Arc::new(Current::default());
    let mut life = 0u32;
    current.pid.store(daemon.pid(), Ordering::SeqCst);
    *current.born.lock().unwrap() = Some(Instant::now());
    let stop_sampler = CancellationToken::new();
    let sampler = spawn_sampler(
        Arc::clone(&current),
        start,
        Duration::from_secs(k.sample_every),
        k.out.join("samples.csv"),
        stop_sampler.clone(),
    );

    let client = http();
    let mut web = web_of(&daemon, Duration::from_secs(60)).await;
    let mut kill = Every::new(k.kill_every, 0);
    let mut camera_drop = Every::new(k.camera_drop_every, 37);
    let mut unplug = Every::new(k.unplug_every, 73);
    let mut outage = Every::new(k.webhook_outage_every, 19);
    // Injections aimed at the failures (the camera shows spaghetti from frame N of every N+M, at 1 fps):
    // every 2nd failure finds the webhook down; every 3rd is followed by a kill -9 while its incident is
    // fresh and its alert may still be on the way.
    let cycle = (k.normal_frames + k.failure_frames) as f64;
    let failure_at = |j: u64| cam_started + Duration::from_secs_f64(k.normal_frames as f64 + j as f64 * cycle);
    let mut segment = 0u64;
    let mut webhook_back: Option<Instant> = None;
    let mut replug_at: Option<Instant> = None;
    let mut state_since: (String, Instant) = (String::new(), Instant::now());
    let mut open_at_kills: Vec<(u32, Vec<i64>)> = Vec::new();
    let mut unexpected_exits = 0u32;

    while start.elapsed() < duration {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let now = start.elapsed();

        // The daemon must only ever exit when we kill it.
        if let Some(status) = daemon.wait_exit(Duration::ZERO) {
            unexpected_exits += 1;
            ev.note("unexpected_exit", &format!("{status:?}: {}", daemon.log_tail(5)));
            life += 1;
            daemon.restart(&[]);
            current.life.store(life, Ordering::SeqCst);
            current.pid.store(daemon.pid(), Ordering::SeqCst);
            *current.born.lock().unwrap() = Some(Instant::now());
            web = web_of(&daemon, Duration::from_secs(60)).await;
            continue;
        }

        let next_failure = failure_at(segment);
        let aimed_outage = segment.is_multiple_of(2) && Instant::now() + Duration::from_secs(5) >= next_failure;
        // ~10 s to pause after the first spaghetti frame, 20 s paused before the owner cancels: at 25 s the
        // incident holds the printer.
        let aimed_kill = k.aimed_kills && segment % 3 == 1 && Instant::now() >= next_failure + Duration::from_secs(25);
        if Instant::now() >= next_failure + Duration::from_secs(25) {
            segment += 1;
        }
        if kill.due(now) || aimed_kill {
            let open = open_incidents(&daemon);
            let why = if aimed_kill { "after a failure" } else { "scheduled" };
            ev.note("kill9", &format!("{why}: life {life} pid {} open incidents {open:?}", daemon.pid()));
            open_at_kills.push((life, open));
            current.pid.store(0, Ordering::SeqCst);
            daemon.kill9();
            tokio::time::sleep(Duration::from_secs(2)).await;
            life += 1;
            daemon.restart(&[]);
            current.life.store(life, Ordering::SeqCst);
            current.pid.store(daemon.pid(), Ordering::SeqCst);
            *current.born.lock().unwrap() = Some(Instant::now());
            web = web_of(&daemon, Duration::from_secs(60)).await;
            ev.note("restarted", &format!("life {life} pid {} web {web:?}", daemon.pid()));
        }
        if camera_drop.due(now) {
            cam.restart(Duration::from_secs(k.camera_down));
            ev.note("camera_drop", &format!("{} s", k.camera_down));
        }
        if unplug.due(now) && replug_at.is_none() {
            tokio::task::block_in_place(|| vp.control("unplug"));
            replug_at = Some(Instant::now() + Duration::from_secs(k.unplug_down));
            ev.note("printer_unplug", &format!("{} s", k.unplug_down));
        }
        if replug_at.is_some_and(|t| Instant::now() >= t) {
            replug_at = None;
            tokio::task::block_in_place(|| vp.control("replug"));
            ev.note("printer_replug", "");
        }
        if (outage.due(now) || aimed_outage) && webhook_back.is_none() {
            gate.down();
            webhook_back = Some(Instant::now() + Duration::from_secs(k.webhook_down));
            let why = if aimed_outage { "before a failure" } else { "scheduled" };
            ev.note("webhook_down", &format!("{why}: {} s", k.webhook_down));
        }
        if webhook_back.is_some_and(|t| Instant::now() >= t) {
            webhook_back = None;
            let ok = gate.up().await;
            ev.note("webhook_up", if ok { "" } else { "could not listen again" });
        }

        // The owner: starts a print on an idle printer, cancels a paused one after a while.
        if replug_at.is_some() {
            continue;
        }
        let Some(base) = web.clone() else {
            web = web_of(&daemon, Duration::from_secs(1)).await;
            continue;
        };
        let Some(s) = status(&client, &base).await else { continue };
        let state = s["printer"]["state"].as_str().unwrap_or("").to_string();
        if state != state_since.0 {
            ev.note("printer_state", &state);
            state_since = (state.clone(), Instant::now());
        }
        let held = state_since.1.elapsed();
        match state.as_str() {
            "idle" | "finished" | "cancelled" if held > Duration::from_secs(5) => {
                tokio::task::block_in_place(|| vp.control(&format!("debug start_sd {PRINT_FILE}")));
                ev.note("print_started", "");
                state_since = ("starting".into(), Instant::now());
            }
            "paused" if held > Duration::from_secs(20) => {
                let r = client
                    .post(format!("{base}/api/printer/cancel"))
                    .bearer_auth(TOKEN)
                    .json(&serde_json::json!({ "confirm": true }))
                    .send()
                    .await;
                let code = r.map(|r| r.status().as_u16()).unwrap_or(0);
                ev.note("owner_cancel", &code.to_string());
                state_since = ("cancelling".into(), Instant::now());
            }
            _ => {}
        }
    }

    // Wind down: the webhook is back, the outbox drains, the daemon stops cleanly.
    ev.note("wind_down", "");
    if replug_at.take().is_some() {
        tokio::task::block_in_place(|| vp.control("replug"));
    }
    gate.up().await;
    // The owner cancels what is on the printer, so every incident can close before the stop.
    if let Some(base) = web_of(&daemon, Duration::from_secs(30)).await {
        let state = status(&client, &base).await.map(|s| s["printer"]["state"].clone());
        if state
            .as_ref()
            .and_then(|s| s.as_str())
            .is_some_and(|s| matches!(s, "printing" | "paused" | "heating" | "pausing"))
        {
            let r = client
                .post(format!("{base}/api/printer/cancel"))
                .bearer_auth(TOKEN)
                .json(&serde_json::json!({ "confirm": true }))
                .send()
                .await;
            ev.note("owner_cancel", &r.map(|r| r.status().as_u16()).unwrap_or(0).to_string());
        }
    }
    let t = Instant::now();
    while !open_incidents(&daemon).is_empty() && t.elapsed() < Duration::from_secs(90) {
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    ev.note("open_incidents_before_stop", &format!("{:?}", open_incidents(&daemon)));
    let drained = {
        let t = Instant::now();
        loop {
            let pending: i64 = db_of(&daemon)
                .and_then(|db| {
                    db.query_row("SELECT count(*) FROM outbox WHERE state IN ('pending', 'sending')", [], |r| r.get(0))
                        .ok()
                })
                .unwrap_or(-1);
            if pending == 0 {
                break true;
            }
            if t.elapsed() > Duration::from_secs(120) {
                break false;
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    };
    ev.note("outbox_drained", &drained.to_string());
    current.pid.store(0, Ordering::SeqCst);
    daemon.signal(libc::SIGTERM);
    let exit = daemon.wait_exit(Duration::from_secs(30));
    ev.note("sigterm_exit", &format!("{exit:?}"));
    stop_sampler.cancel();
    let samples = sampler.await.unwrap();

    // The receiver's log, one JSON line per request.
    let deliveries = hook.deliveries();
    {
        let mut f = std::fs::File::create(k.out.join("receiver.jsonl")).unwrap();
        for d in &deliveries {
            let j = d.json.as_ref();
            let line = serde_json::json!({
                "at_ms": d.request.at.millis(),
                "delivery_id": d.delivery_id,
                "outcome": format!("{:?}", d.outcome),
                "signature_ok": d.signature_ok,
                "kind": j.and_then(|j| j["kind"].as_str()),
                "level": j.and_then(|j| j["level"].as_str()),
            });
            writeln!(f, "{line}").unwrap();
        }
    }

    let facts = Facts::collect(&daemon, &deliveries, &open_at_kills);
    let report = report(&k, start.elapsed(), estimate_s, &ev, &samples, &facts, unexpected_exits, exit);
    std::fs::write(k.out.join("report.md"), &report).unwrap();
    println!("{report}");

    // What must hold.
    assert_eq!(unexpected_exits, 0, "the daemon exited on its own; see events.csv");
    assert!(exit.is_some_and(|s| s.success()), "SIGTERM: {exit:?}");
    assert!(drained, "alerts still pending after the webhook came back");
    assert!(facts.lost.is_empty(), "alerts written but never delivered: {:?}", facts.lost);
    assert!(facts.phantom.is_empty(), "deliveries the outbox never wrote: {:?}", facts.phantom);
    assert_eq!(facts.bad_signature, 0, "deliveries with a bad signature");
    assert!(facts.open_at_end.is_empty(), "incidents still open after a clean stop: {:?}", facts.open_at_end);
    assert!(
        facts.kill_open_not_closed.is_empty(),
        "incidents open at a kill never closed: {:?}",
        facts.kill_open_not_closed
    );
    let g = growth(&samples);
    assert!(g.rss_kb_per_h < 20_000.0, "RSS grows {:.0} KiB/h within a daemon's life", g.rss_kb_per_h);
    assert!(g.fd_spread <= 16, "open file descriptors vary by {} once warmed up", g.fd_spread);
}

// --- facts from the store and the receiver -----------------------------------------------------

#[derive(Debug, Default)]
struct Facts {
    outbox_by_state: BTreeMap<String, i64>,
    outbox_by_kind: BTreeMap<String, i64>,
    written: usize,
    delivered_unique: usize,
    accepted_requests: usize,
    requests: usize,
    refused_or_failed: usize,
    /// Alert ids accepted more than once (at-least-once: a kill between the 2xx and "sent").
    accepted_twice: Vec<String>,
    /// Sent or due alerts whose id the receiver never accepted.
    lost: Vec<String>,
    /// Accepted ids that are not in the outbox.
    phantom: Vec<String>,
    bad_signature: usize,
    /// Incident with more than one accepted alert of the same kind under different ids.
    incident_doubled: Vec<String>,
    incidents: i64,
    incidents_by_reason: BTreeMap<String, i64>,
    open_at_end: Vec<i64>,
    open_at_kills: usize,
    kill_open_not_closed: Vec<i64>,
    prints_by_outcome: BTreeMap<String, i64>,
    finished_print_s: Vec<f64>,
    pauses_confirmed: i64,
    cancels: i64,
    /// Delivery attempts the daemon recorded, and those that failed (refused while the gate was down…).
    attempts: i64,
    attempts_failed: i64,
}

impl Facts {
    fn collect(
        daemon: &Daemon,
        deliveries: &[layerwatch::sim::receivers::WebhookDelivery],
        kills: &[(u32, Vec<i64>)],
    ) -> Facts {
        let db = daemon.db();
        let mut f = Facts::default();
        let rows: Vec<(String, Option<i64>, String, String)> = {
            let mut st = db.prepare("SELECT alert_id, incident_id, kind, state FROM outbox").unwrap();
            st.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))).unwrap().flatten().collect()
        };
        f.written = rows.len();
        for (_, _, kind, state) in &rows {
            *f.outbox_by_state.entry(state.clone()).or_default() += 1;
            *f.outbox_by_kind.entry(kind.clone()).or_default() += 1;
        }
        f.requests = deliveries.len();
        let mut accepted: HashMap<String, usize> = HashMap::new();
        for d in deliveries {
            let ok = matches!(d.outcome, Outcome::Answered(s) if (200..300).contains(&s));
            if !d.signature_ok {
                f.bad_signature += 1;
            }
            if ok {
                f.accepted_requests += 1;
                *accepted.entry(d.delivery_id.clone().unwrap_or_default()).or_default() += 1;
            } else {
                f.refused_or_failed += 1;
            }
        }
        f.delivered_unique = accepted.len();
        f.accepted_twice = accepted.iter().filter(|(_, n)| **n > 1).map(|(id, _)| id.clone()).collect();
        let written: HashSet<&str> = rows.iter().map(|r| r.0.as_str()).collect();
        f.phantom = accepted.keys().filter(|id| !written.contains(id.as_str())).cloned().collect();
        f.lost = rows
            .iter()
            .filter(|r| r.3 != "suppressed" && !accepted.contains_key(&r.0))
            .map(|r| format!("{} ({}, {})", r.0, r.2, r.3))
            .collect();
        let mut per_incident: HashMap<(i64, String), HashSet<&str>> = HashMap::new();
        for (id, inc, kind, _) in &rows {
            if let Some(inc) = inc
                && accepted.contains_key(id)
            {
                per_incident.entry((*inc, kind.clone())).or_default().insert(id);
            }
        }
        f.incident_doubled =
            per_incident.iter().filter(|(_, ids)| ids.len() > 1).map(|((i, k), _)| format!("{i}/{k}")).collect();

        let count = |sql: &str| db.query_row(sql, [], |r| r.get::<_, i64>(0)).unwrap_or(-1);
        f.incidents = count("SELECT count(*) FROM incidents");
        let mut st = db.prepare("SELECT coalesce(closed_reason, 'open'), count(*) FROM incidents GROUP BY 1").unwrap();
        f.incidents_by_reason =
            st.query_map([], |r| Ok((r.get(0)?, r.get(1)?))).unwrap().flatten().collect::<BTreeMap<_, _>>();
        let mut st = db.prepare("SELECT id FROM incidents WHERE closed_at IS NULL").unwrap();
        f.open_at_end = st.query_map([], |r| r.get(0)).unwrap().flatten().collect();
        let closed: HashSet<i64> = {
            let mut st = db.prepare("SELECT id FROM incidents WHERE closed_at IS NOT NULL").unwrap();
            st.query_map([], |r| r.get(0)).unwrap().flatten().collect()
        };
        for (_, open) in kills {
            f.open_at_kills += open.len();
            f.kill_open_not_closed.extend(open.iter().filter(|i| !closed.contains(i)));
        }
        let mut st = db.prepare("SELECT coalesce(outcome, 'open'), count(*) FROM prints GROUP BY 1").unwrap();
        f.prints_by_outcome =
            st.query_map([], |r| Ok((r.get(0)?, r.get(1)?))).unwrap().flatten().collect::<BTreeMap<_, _>>();
        let mut st =
            db.prepare("SELECT (ended_at - started_at) / 1000.0 FROM prints WHERE outcome = 'finished'").unwrap();
        f.finished_print_s = st.query_map([], |r| r.get(0)).unwrap().flatten().collect();
        f.pauses_confirmed = count(
            "SELECT count(*) FROM audit_log WHERE command = 'pause' AND actor = 'daemon' AND result = 'confirmed'",
        );
        f.cancels = count("SELECT count(*) FROM audit_log WHERE command = 'cancel'");
        f.attempts = count("SELECT count(*) FROM outbox_attempts");
        f.attempts_failed =
            count("SELECT count(*) FROM outbox_attempts WHERE status IS NULL OR status < 200 OR status >= 300");
        f
    }
}

// --- growth ----------------------------------------------------------------------------------

/// How a daemon's footprint moves once warmed up (age ≥ 120 s), pooled over its lives.
#[derive(Debug, Default)]
struct Growth {
    /// Least-squares slope of RSS against the daemon's age.
    rss_kb_per_h: f64,
    fd_min: u64,
    fd_max: u64,
    fd_spread: u64,
    samples: usize,
}

fn slope(points: &[(f64, f64)]) -> f64 {
    let n = points.len() as f64;
    if points.len() < 3 {
        return 0.0;
    }
    let mx = points.iter().map(|p| p.0).sum::<f64>() / n;
    let my = points.iter().map(|p| p.1).sum::<f64>() / n;
    let sxx: f64 = points.iter().map(|p| (p.0 - mx).powi(2)).sum();
    let sxy: f64 = points.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum();
    if sxx == 0.0 { 0.0 } else { sxy / sxx }
}

fn growth(samples: &[Sample]) -> Growth {
    let warm: Vec<&Sample> = samples.iter().filter(|s| s.age_s >= 120.0).collect();
    let points: Vec<(f64, f64)> = warm.iter().map(|s| (s.age_s / 3600.0, s.rss_kb as f64)).collect();
    let fd_min = warm.iter().map(|s| s.fds).min().unwrap_or(0);
    let fd_max = warm.iter().map(|s| s.fds).max().unwrap_or(0);
    Growth { rss_kb_per_h: slope(&points), fd_min, fd_max, fd_spread: fd_max - fd_min, samples: warm.len() }
}

// --- the report --------------------------------------------------------------------------------

#[allow(clippy::too_many_arguments)]
fn report(
    k: &Knobs,
    wall: Duration,
    estimate_s: Option<f64>,
    ev: &Events,
    samples: &[Sample],
    f: &Facts,
    unexpected_exits: u32,
    exit: Option<std::process::ExitStatus>,
) -> String {
    let mut r = String::new();
    let c = |name: &str| ev.counts.get(name).copied().unwrap_or(0);
    let _ = writeln!(r, "# layerwatch soak report\n");
    let _ = writeln!(
        r,
        "Wall time {:.1} min. Command: `SOAK_MINUTES={} SOAK_OUT={} scripts/soak.sh` (knobs in `events.csv`, first line).\n",
        wall.as_secs_f64() / 60.0,
        k.minutes,
        k.out.display()
    );
    let _ = writeln!(r, "## Pace\n");
    let median = {
        let mut v = f.finished_print_s.clone();
        v.sort_by(f64::total_cmp);
        v.get(v.len() / 2).copied()
    };
    match (estimate_s, median) {
        (Some(e), Some(m)) if m > 0.0 => {
            let _ = writeln!(
                r,
                "`{PRINT_FILE}`: slicer estimate {:.1} min; finished prints took {:.1} min of wall time (median of {}), \
                 a pace of {:.1}× (VirtualPrinter runs moves 10× faster, timed by their longest axis, and heats 10 °C/s). {:.1} h of printer time in all.\n",
                e / 60.0,
                m / 60.0,
                f.finished_print_s.len(),
                e / m,
                f.finished_print_s.len() as f64 * e / 3600.0
            );
        }
        _ => {
            let _ = writeln!(r, "No print finished, so the pace was not measured (estimate {estimate_s:?} s).\n");
        }
    }
    let _ = writeln!(r, "## Injections\n");
    let _ = writeln!(
        r,
        "| kill -9 + restart | camera drops | printer unplugs | webhook outages | prints started | owner cancels | unexpected exits |\n|---|---|---|---|---|---|---|\n| {} | {} | {} | {} | {} | {} | {} |\n",
        c("kill9"),
        c("camera_drop"),
        c("printer_unplug"),
        c("webhook_down"),
        c("print_started"),
        c("owner_cancel"),
        unexpected_exits
    );
    let _ = writeln!(r, "## Memory and file descriptors (`samples.csv`, every {} s)\n", k.sample_every);
    let _ = writeln!(
        r,
        "Per daemon life (a kill -9 ends each), from its first sample at age ≥ 10 s:\n\n\
         | life | samples | age (min) | RSS first / last / max (MiB) | FDs first / last / max | threads max |"
    );
    let _ = writeln!(r, "|---|---|---|---|---|---|");
    let mut lives: BTreeMap<u32, Vec<&Sample>> = BTreeMap::new();
    for s in samples.iter().filter(|s| s.age_s >= 10.0) {
        lives.entry(s.life).or_default().push(s);
    }
    let mb = |kb: u64| kb as f64 / 1024.0;
    for (life, v) in &lives {
        let (a, z) = (v[0], v[v.len() - 1]);
        let _ = writeln!(
            r,
            "| {life} | {} | {:.1} | {:.1} / {:.1} / {:.1} | {} / {} / {} | {} |",
            v.len(),
            z.age_s / 60.0,
            mb(a.rss_kb),
            mb(z.rss_kb),
            mb(v.iter().map(|s| s.rss_kb).max().unwrap_or(0)),
            a.fds,
            z.fds,
            v.iter().map(|s| s.fds).max().unwrap_or(0),
            v.iter().map(|s| s.threads).max().unwrap_or(0),
        );
    }
    let g = growth(samples);
    let warm: Vec<&Sample> = samples.iter().filter(|s| s.age_s >= 120.0).collect();
    let all_rss: Vec<(f64, f64)> = warm.iter().map(|s| (s.t_s / 3600.0, s.rss_kb as f64)).collect();
    let _ = writeln!(
        r,
        "\nOnce warmed up (age ≥ 2 min, {} samples): RSS slope against the daemon's age {:+.0} KiB/h; \
         against wall time over the whole run {:+.0} KiB/h; open FDs between {} and {}. \
         RSS of the warm samples: first {:.1} MiB, last {:.1} MiB, max {:.1} MiB.\n",
        g.samples,
        g.rss_kb_per_h,
        slope(&all_rss),
        g.fd_min,
        g.fd_max,
        warm.first().map_or(0.0, |s| mb(s.rss_kb)),
        warm.last().map_or(0.0, |s| mb(s.rss_kb)),
        mb(warm.iter().map(|s| s.rss_kb).max().unwrap_or(0)),
    );
    let _ = writeln!(r, "## Alerts (outbox vs the receiver's log, `receiver.jsonl`)\n");
    let _ = writeln!(
        r,
        "- written to the outbox: {} (by kind {:?}; by state {:?})\n\
         - delivery attempts recorded by the daemon: {} ({} failed: refused while the webhook was down, or cut off by a kill)\n\
         - requests at the receiver: {} ({} accepted, {} not)\n\
         - delivered (distinct `X-Layerwatch-Delivery` ids accepted): {}\n\
         - lost (written, due, never accepted): {}\n\
         - accepted twice under the same id (a kill between the 2xx and `sent`; a receiver de-duplicating on the id keeps one): {}\n\
         - doubled under different ids for one incident and kind: {}\n\
         - accepted ids the outbox never wrote: {}; bad signatures: {}\n",
        f.written,
        f.outbox_by_kind,
        f.outbox_by_state,
        f.attempts,
        f.attempts_failed,
        f.requests,
        f.accepted_requests,
        f.refused_or_failed,
        f.delivered_unique,
        f.lost.len(),
        f.accepted_twice.len(),
        f.incident_doubled.len(),
        f.phantom.len(),
        f.bad_signature,
    );
    let _ = writeln!(r, "## Incidents and prints\n");
    let _ = writeln!(
        r,
        "- incidents: {} (by close reason {:?}); open after the clean stop: {:?}\n\
         - open when a kill -9 hit: {}; of those never closed later: {:?}\n\
         - pauses confirmed by the printer: {}; cancels: {}\n\
         - prints by outcome: {:?}\n",
        f.incidents,
        f.incidents_by_reason,
        f.open_at_end,
        f.open_at_kills,
        f.kill_open_not_closed,
        f.pauses_confirmed,
        f.cancels,
        f.prints_by_outcome,
    );
    let _ = writeln!(r, "Daemon exit after SIGTERM at the end: {exit:?}.");
    r
}
