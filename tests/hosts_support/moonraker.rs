//! A real Moonraker 0.11 (from `.tools/venv-moonraker`) in front of the
//! Klipper stand-in (`tests/peers/klipper_standin.py`), one pair per test, in
//! a temp dir: `moonraker.conf` on 127.0.0.1 with a free port, trusted
//! 127.0.0.0/8, no update manager, the machine provider off and an empty
//! `usb.ids` (so nothing is fetched from the network at start-up).
//!
//! Either process can be killed and started again mid-test (same socket,
//! same port, same data) to exercise the link's recovery.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;

use super::{ChildGuard, free_port, http_client, tool};

/// How the stand-in simulates the printer.
#[derive(Debug, Clone, Copy)]
pub struct Standin {
    /// Time compression of moves (20 = twenty times faster than real).
    pub speed: f64,
    /// Heater slope, °C/s.
    pub heat_rate: f64,
}

impl Default for Standin {
    fn default() -> Self {
        Standin { speed: 20.0, heat_rate: 2_000.0 }
    }
}

pub struct Moonraker {
    pub url: String,
    pub port: u16,
    dir: tempfile::TempDir,
    opts: Standin,
    moonraker: Option<ChildGuard>,
    standin: Option<ChildGuard>,
    /// Seconds from spawning Moonraker to `klippy_state: ready`, first start.
    pub startup: Duration,
    /// Sent with the fixture's own requests once 127.0.0.1 is no longer trusted.
    pub api_key: Option<String>,
}

impl Moonraker {
    pub async fn start(opts: Standin) -> Moonraker {
        let dir = tempfile::Builder::new().prefix("lw-moonraker-").tempdir().expect("temp dir");
        let port = free_port();
        let data = dir.path().join("data");
        std::fs::create_dir_all(data.join("misc")).expect("data dir");
        std::fs::create_dir_all(data.join("gcodes")).expect("gcodes dir");
        std::fs::write(data.join("misc/usb.ids"), "").expect("usb.ids");
        let mut m = Moonraker {
            url: format!("http://127.0.0.1:{port}"),
            port,
            dir,
            opts,
            moonraker: None,
            standin: None,
            startup: Duration::ZERO,
            api_key: None,
        };
        m.write_conf(true);
        m.start_standin().await;
        let t0 = Instant::now();
        m.start_moonraker();
        m.wait_klippy("ready", Duration::from_secs(60)).await;
        m.startup = t0.elapsed();
        m
    }

    /// `moonraker.conf`: with `trusted`, 127.0.0.0/8 needs no key.
    fn write_conf(&self, trusted: bool) {
        let auth = if trusted { "[authorization]\ntrusted_clients:\n  127.0.0.0/8\n" } else { "[authorization]\n" };
        let conf = format!(
            "[server]\nhost: 127.0.0.1\nport: {port}\nklippy_uds_address: {sock}\n\n{auth}\n\
             [file_manager]\nenable_object_processing: False\n\n\
             [machine]\nprovider: none\nvalidate_service: False\n\n\
             [announcements]\ndev_mode: True\n",
            port = self.port,
            sock = self.path("klippy.sock").display()
        );
        std::fs::write(self.path("moonraker.conf"), conf).expect("moonraker.conf");
    }

    /// Reads Moonraker's API key (while trusted), then restarts it trusting
    /// nobody, so every request needs the key.
    pub async fn require_api_key(&mut self) -> String {
        let r = http_client().get(format!("{}/access/api_key", self.url)).send().await.expect("GET /access/api_key");
        let body: Value = r.json().await.expect("api key json");
        let key = body["result"].as_str().expect("api key in result").to_string();
        self.kill_moonraker();
        self.write_conf(false);
        self.api_key = Some(key.clone());
        self.start_moonraker();
        self.wait_klippy("ready", Duration::from_secs(60)).await;
        key
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    pub fn gcode_dir(&self) -> PathBuf {
        self.path("data/gcodes")
    }

    pub async fn start_standin(&mut self) {
        let sock = self.path("klippy.sock");
        let mut cmd = Command::new(tool("venv-moonraker/bin/python"));
        cmd.env("PYTHONDONTWRITEBYTECODE", "1");
        cmd.arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/peers/klipper_standin.py"))
            .arg("--socket")
            .arg(&sock)
            .arg("--gcode-dir")
            .arg(self.gcode_dir())
            .args(["--speed", &self.opts.speed.to_string(), "--heat-rate", &self.opts.heat_rate.to_string()]);
        let mut g = ChildGuard::start("klipper stand-in", cmd, &self.path("standin.log"));
        let t0 = Instant::now();
        while !sock.exists() {
            if let Some(s) = g.exited() {
                panic!("klipper stand-in exited ({s}):\n{}", g.log_tail(30));
            }
            assert!(t0.elapsed() < Duration::from_secs(20), "stand-in socket never appeared:\n{}", g.log_tail(30));
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        self.standin = Some(g);
    }

    /// SIGKILL, like a crashed Klippy host process.
    pub fn kill_standin(&mut self) {
        if let Some(mut g) = self.standin.take() {
            g.kill();
        }
    }

    pub fn start_moonraker(&mut self) {
        let mut cmd = Command::new(tool("venv-moonraker/bin/moonraker"));
        cmd.arg("-d").arg(self.path("data")).arg("-c").arg(self.path("moonraker.conf")).arg("-n");
        self.moonraker = Some(ChildGuard::start("moonraker", cmd, &self.path("moonraker.log")));
    }

    pub fn kill_moonraker(&mut self) {
        if let Some(mut g) = self.moonraker.take() {
            g.kill();
        }
    }

    pub async fn server_info(&self) -> Option<Value> {
        let mut req = http_client().get(format!("{}/server/info", self.url));
        if let Some(k) = &self.api_key {
            req = req.header("X-Api-Key", k);
        }
        let r = req.send().await.ok()?;
        r.json::<Value>().await.ok().map(|v| v["result"].clone())
    }

    /// Waits until Moonraker reports `klippy_state == state`.
    pub async fn wait_klippy(&mut self, state: &str, timeout: Duration) {
        let t0 = Instant::now();
        loop {
            if let Some(g) = self.moonraker.as_mut()
                && let Some(s) = g.exited()
            {
                panic!("moonraker exited ({s}):\n{}", g.log_tail(40));
            }
            if let Some(info) = self.server_info().await
                && info["klippy_state"] == state
            {
                return;
            }
            assert!(t0.elapsed() < timeout, "klippy not {state} after {timeout:?}:\n{}", self.logs());
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Uploads `file` as `name` through Moonraker and starts printing it.
    pub async fn upload_and_print(&self, file: &Path, name: &str) {
        let bytes = std::fs::read(file).expect("read gcode fixture");
        let (dir, base) = name.rsplit_once('/').unwrap_or(("", name));
        let part = reqwest::multipart::Part::bytes(bytes).file_name(base.to_string());
        let form =
            reqwest::multipart::Form::new().part("file", part).text("path", dir.to_string()).text("print", "true");
        let r = http_client()
            .post(format!("{}/server/files/upload", self.url))
            .multipart(form)
            .send()
            .await
            .expect("upload");
        let status = r.status();
        let body: Value = r.json().await.unwrap_or(Value::Null);
        assert!(status.is_success(), "upload {name}: {status} {body}");
        assert_eq!(body["print_started"], Value::Bool(true), "print not started: {body}");
    }

    pub fn config_toml(&self) -> String {
        self.config_toml_with_key(None)
    }

    pub fn config_toml_with_key(&self, api_key: Option<&str>) -> String {
        let key = api_key.map(|k| format!("api_key = \"{k}\"\n")).unwrap_or_default();
        format!(
            "[printer]\nkind = \"moonraker\"\ncommand_timeout_ms = 15000\n\n[printer.moonraker]\nurl = \"{}\"\n\
             reconnect_max_ms = 1000\nrequest_timeout_ms = 5000\n{key}",
            self.url
        )
    }

    /// How many command requests the stand-in received whose method starts with `prefix`
    /// (`pause_resume/pause`, `gcode/script`), from its request log.
    pub fn standin_requests(&self, prefix: &str) -> usize {
        let log = std::fs::read_to_string(self.path("standin.log")).unwrap_or_default();
        log.lines().filter(|l| l.split(" request ").nth(1).is_some_and(|r| r.starts_with(prefix))).count()
    }

    /// The tails of both logs, for failure messages.
    pub fn logs(&self) -> String {
        format!(
            "--- moonraker ---\n{}\n--- stand-in ---\n{}",
            super::log_tail(&self.path("moonraker.log"), 30),
            super::log_tail(&self.path("standin.log"), 15)
        )
    }
}
