//! End-to-end helpers: the real `layerwatch` binary as a child process with a
//! real config file, a camera (the MJPEG sim server) whose frames are
//! licence-clean sample photos, config sections, and polling with deadlines.
//!
//! The daemon child is spawned from one long-lived thread with
//! `PR_SET_PDEATHSIG` and in its own process group, and killed (SIGKILL) on
//! drop, so no daemon outlives a failed test.
#![allow(dead_code)]

#[path = "../printer_support/mod.rs"]
pub mod printer_support;

use std::io;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc as std_mpsc;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use bytes::Bytes;
use layerwatch::domain::Timestamp;
use layerwatch::sim::mjpeg_server::{MjpegServer, MjpegServerOptions};
use serde_json::Value;
use tokio::net::TcpListener;

pub const WEBHOOK_SECRET: &str = "e2e-webhook-secret-0123456789";
pub const TWILIO_SID: &str = "ACe2e0000000000000000000000000000";
pub const TWILIO_TOKEN: &str = "e2e-twilio-token";

// --- frames -------------------------------------------------------------------

fn sample(stem: &str) -> Vec<u8> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("datasets/samples/images/autozmj2n");
    let entry = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e} (the sample photos ship with the repository)", dir.display()))
        .flatten()
        .find(|e| e.file_name().to_string_lossy().starts_with(stem))
        .unwrap_or_else(|| panic!("no sample {stem}* in {}", dir.display()));
    std::fs::read(entry.path()).expect("read sample")
}

/// `n` distinct frames of normal prints (the built-in model scores them ~0.15).
pub fn normal_frames(n: usize) -> Vec<Bytes> {
    let stills = [sample("OK2_46_"), sample("OK2_94_"), sample("OK2_9_")];
    let refs: Vec<&[u8]> = stills.iter().map(|v| v.as_slice()).collect();
    layerwatch::app::demo::assets::variants(&refs, n).expect("frame variants")
}

/// `n` distinct frames of spaghetti (scored ~0.96, spaghetti or other failure dominating).
pub fn failure_frames(n: usize) -> Vec<Bytes> {
    let stills = [sample("spaghetti_32_"), sample("spaghetti_31_")];
    let refs: Vec<&[u8]> = stills.iter().map(|v| v.as_slice()).collect();
    layerwatch::app::demo::assets::variants(&refs, n).expect("frame variants")
}

/// `normal` normal frames, then `failure` failure frames; the camera loops them.
pub fn sequence(normal: usize, failure: usize) -> (Vec<Bytes>, usize) {
    let mut v = normal_frames(normal);
    v.extend(failure_frames(failure));
    (v, normal)
}

/// A camera whose port is bound now and which serves once `start` is called
/// (the daemon's first request waits in the listen backlog meanwhile).
pub struct Camera {
    listener: Option<TcpListener>,
    pub url: String,
    pub server: Option<MjpegServer>,
    started: Option<(Instant, Timestamp, f64)>,
}

impl Camera {
    pub async fn bind() -> Camera {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind camera");
        let url = format!("http://{}/stream", listener.local_addr().unwrap());
        Camera { listener: Some(listener), url, server: None, started: None }
    }

    pub fn start(&mut self, frames: Vec<Bytes>, fps: f64) {
        let listener = self.listener.take().expect("camera started once");
        self.started = Some((Instant::now(), Timestamp::now(), fps));
        self.server =
            Some(MjpegServer::start_with(listener, frames, MjpegServerOptions { fps, ..Default::default() }).unwrap());
    }

    /// When frame `n` (0-based) left the camera: it produces frame n at n / fps after starting.
    pub fn produced_at(&self, n: usize) -> Option<(Instant, Timestamp)> {
        let (i, t, fps) = self.started?;
        let d = Duration::from_secs_f64(n as f64 / fps);
        Some((i + d, t.add(d)))
    }

    pub fn frames_produced(&self) -> u64 {
        self.server.as_ref().map_or(0, |s| s.stats().frames_produced)
    }
}

// --- config -------------------------------------------------------------------

/// The sections every e2e config shares: data dir, JSON logs, camera, web on a
/// free port, fast decisions (the frames come every 250 ms).
pub fn base_config(data_dir: &Path, camera_url: &str) -> String {
    base_config_with(data_dir, camera_url, "")
}

/// [`base_config`] with more `[decision]` lines.
pub fn base_config_with(data_dir: &Path, camera_url: &str, decision: &str) -> String {
    format!(
        r#"
[general]
name = "e2e printer"
data_dir = {data:?}
log = "info,layerwatch=debug"
log_format = "json"

[camera]
name = "e2e camera"
source = "mjpeg"
url = {camera_url:?}
interval_ms = 250
timeout_ms = 30000
reconnect_max_ms = 1000

[decision]
half_life_s = 0.75
warmup_layers = 1
strict_layers = 0
{decision}
[web]
bind = "127.0.0.1:0"

[alerts.retry]
initial_ms = 200
max_ms = 1000
"#,
        data = data_dir.display().to_string(),
    )
}

pub fn webhook_section(url: &str) -> String {
    format!("\n[alerts.webhook]\nurl = {url:?}\nsecret = {WEBHOOK_SECRET:?}\nsnapshot = \"embed\"\n")
}

pub fn sms_section(base_url: &str) -> String {
    format!(
        "\n[alerts.sms]\naccount_sid = {TWILIO_SID:?}\nauth_token = {TWILIO_TOKEN:?}\n\
         from = \"+15550000001\"\nto = \"+15550000002\"\nbase_url = {base_url:?}\n"
    )
}

pub fn marlin_host_section(path: &Path) -> String {
    format!(
        "\n[printer]\nkind = \"marlin\"\ncommand_timeout_ms = 15000\n\n\
         [printer.serial]\npath = {:?}\nmode = \"host\"\nread_timeout_ms = 2000\n",
        path.display().to_string()
    )
}

// --- the daemon child ------------------------------------------------------------

type SpawnRequest = (Command, std_mpsc::Sender<io::Result<Child>>);

/// Spawns from a thread that lives as long as the test binary (the parent-death
/// signal fires when the spawning *thread* ends), in its own process group.
fn spawn(mut cmd: Command) -> io::Result<Child> {
    static SPAWNER: OnceLock<Mutex<std_mpsc::Sender<SpawnRequest>>> = OnceLock::new();
    cmd.process_group(0);
    // SAFETY: prctl is async-signal-safe; nothing else runs between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let tx = SPAWNER.get_or_init(|| {
        let (tx, rx) = std_mpsc::channel::<SpawnRequest>();
        std::thread::spawn(move || {
            for (mut cmd, reply) in rx {
                let _ = reply.send(cmd.spawn());
            }
        });
        Mutex::new(tx)
    });
    let (reply_tx, reply_rx) = std_mpsc::channel();
    tx.lock().unwrap_or_else(|e| e.into_inner()).send((cmd, reply_tx)).expect("spawner alive");
    reply_rx.recv().expect("spawner replied")
}

/// A `layerwatch run` child with its own config file and data folder.
pub struct Daemon {
    child: Option<Child>,
    pub dir: PathBuf,
    pub config: PathBuf,
    pub log: PathBuf,
    pub data: PathBuf,
    runs: u32,
    args: Vec<String>,
}

impl Daemon {
    /// Writes `config` to `<dir>/layerwatch.toml` and starts `layerwatch run` on it.
    pub fn start(dir: &Path, config: &str, args: &[&str]) -> Daemon {
        let path = dir.join("layerwatch.toml");
        std::fs::write(&path, config).expect("write config");
        let mut d = Daemon {
            child: None,
            dir: dir.to_path_buf(),
            config: path,
            log: dir.join("daemon-0.log"),
            data: dir.join("data"),
            runs: 0,
            args: args.iter().map(|s| s.to_string()).collect(),
        };
        d.spawn();
        d
    }

    fn spawn(&mut self) {
        self.log = self.dir.join(format!("daemon-{}.log", self.runs));
        self.runs += 1;
        let out = std::fs::File::create(&self.log).expect("daemon log");
        let err = out.try_clone().expect("clone log");
        // `LAYERWATCH_TEST_BIN`: another build of the daemon (scripts/soak.sh runs a copy, so that
        // rebuilding the checkout during a long soak changes nothing under it).
        let bin = std::env::var_os("LAYERWATCH_TEST_BIN")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_layerwatch")));
        let mut cmd = Command::new(bin);
        cmd.arg("--config").arg(&self.config).arg("run").args(&self.args);
        cmd.env_remove("RUST_LOG").stdin(Stdio::null()).stdout(out).stderr(err);
        self.child = Some(spawn(cmd).expect("start layerwatch"));
    }

    /// Starts the same daemon again (after it exited or was killed).
    pub fn restart(&mut self, args: &[&str]) {
        assert!(self.child.is_none(), "the previous run was reaped");
        self.args = args.iter().map(|s| s.to_string()).collect();
        self.spawn();
    }

    pub fn pid(&self) -> i32 {
        self.child.as_ref().map_or(0, |c| c.id() as i32)
    }

    pub fn signal(&self, sig: i32) {
        // SAFETY: plain kill(2) on our own child.
        unsafe {
            libc::kill(self.pid(), sig);
        }
    }

    /// SIGKILL and reap.
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            // SAFETY: plain kill(2) on our own child's process group.
            unsafe {
                libc::kill(-(c.id() as i32), libc::SIGKILL);
            }
            let _ = c.wait();
        }
    }

    /// Waits for the child to exit; `None` on timeout (it keeps running).
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let start = Instant::now();
        loop {
            let c = self.child.as_mut()?;
            if let Ok(Some(s)) = c.try_wait() {
                self.child = None;
                return Some(s);
            }
            if start.elapsed() > timeout {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn exited(&mut self) -> Option<ExitStatus> {
        self.child.as_mut().and_then(|c| c.try_wait().ok().flatten())
    }

    /// This run's log (JSON lines).
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn log_tail(&self, n: usize) -> String {
        let t = self.log_text();
        let lines: Vec<&str> = t.lines().collect();
        lines[lines.len().saturating_sub(n)..].join("\n")
    }

    /// Log records (JSON) whose message is `message`.
    pub fn log_records(&self, message: &str) -> Vec<Value> {
        self.log_text()
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter(|v| v["message"] == message)
            .collect()
    }

    /// The API's base URL, read from the "web server listening" log line.
    pub async fn web_url(&self, timeout: Duration) -> String {
        let start = Instant::now();
        loop {
            if let Some(addr) =
                self.log_records("web server listening").last().and_then(|v| v["addr"].as_str().map(String::from))
            {
                return format!("http://{addr}");
            }
            assert!(start.elapsed() < timeout, "the web server did not start:\n{}", self.log_tail(30));
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The SQLite database, opened read-only (never `Store::open`: its start-up
    /// repairs would race the daemon).
    pub fn db(&self) -> rusqlite::Connection {
        rusqlite::Connection::open_with_flags(
            self.data.join("layerwatch.db"),
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .expect("open the daemon's database read-only")
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.kill9();
    }
}

// --- HTTP and waiting -------------------------------------------------------------

pub fn http() -> reqwest::Client {
    layerwatch::net::install_tls_provider();
    reqwest::Client::builder().timeout(Duration::from_secs(5)).no_proxy().build().expect("client")
}

pub async fn get_json(client: &reqwest::Client, url: &str) -> Option<(u16, Value)> {
    let r = client.get(url).send().await.ok()?;
    let status = r.status().as_u16();
    Some((status, r.json().await.unwrap_or(Value::Null)))
}

/// Polls `f` every 20 ms until it returns `Some`; panics with `what` and the daemon's log tail.
pub async fn eventually<T>(
    timeout: Duration,
    what: &str,
    daemon: Option<&Daemon>,
    mut f: impl AsyncFnMut() -> Option<T>,
) -> T {
    let start = Instant::now();
    loop {
        if let Some(v) = f().await {
            return v;
        }
        if start.elapsed() > timeout {
            let tail = daemon.map(|d| d.log_tail(40)).unwrap_or_default();
            panic!("timed out after {timeout:?} waiting for {what}\n--- daemon log ---\n{tail}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The park-and-lift line of the pause sequence (`[printer.park]` defaults).
pub const PAUSE_LIFT: &str = "G1 Z10 F600";

/// How many pause sequences the printer ran (each lifts once).
pub fn pauses(executed: &[String]) -> usize {
    executed.windows(2).filter(|w| w[0] == "G91" && w[1] == PAUSE_LIFT).count()
}
