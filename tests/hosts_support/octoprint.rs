//! A real OctoPrint 1.11 server (from `.tools/venv-octoprint`) with its
//! VirtualPrinter, one per test binary, set up non-interactively:
//!
//! 1. `octoprint --basedir B user add --password … --admin layerwatch` (its CLI),
//! 2. the user's API key written into `users.yaml`,
//! 3. `config.yaml` written in one go: first-run wizard off, online checks,
//!    tracking, announcements, software update, plugin manager and the other
//!    network-using or UI-only plugins disabled; VirtualPrinter enabled, with
//!    no injected resend errors and an ambient temperature above the test
//!    file's targets, so `M190`/`M109` return at once instead of simulating a
//!    20 s heat-up (VirtualPrinter heats at 10 °C/s; its `pinnedExtruders`
//!    setting does not work from YAML because the keys arrive as strings),
//! 4. `octoprint serve --host 127.0.0.1 --port P --basedir B --iknowwhatimdoing`,
//! 5. `POST /api/connection {"command": "connect", "port": "VIRTUAL"}`.
//!
//! Writing `config.yaml` replaces ten `octoprint config set` runs of ~0.5 s each.
//! The server is killed when the test binary exits (atexit + parent-death signal).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::sync::OnceCell;

use super::{ChildGuard, free_port, sweep_old, tool};

pub const USER: &str = "layerwatch";

/// The running server.
pub struct OctoPrint {
    pub url: String,
    pub api_key: String,
    pub basedir: PathBuf,
    pub startup: StartupTimes,
}

/// Where the start-up time went (printed once per test binary).
#[derive(Debug, Clone, Copy)]
pub struct StartupTimes {
    pub user_add: Duration,
    pub serve: Duration,
    pub printer_connect: Duration,
}

static SERVER: OnceCell<OctoPrint> = OnceCell::const_new();
static CLEANUP: Mutex<Option<(ChildGuard, PathBuf)>> = Mutex::new(None);
/// Tests that drive the one virtual printer take this lock, so they run one at a time.
pub static PRINTER: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

extern "C" fn cleanup_at_exit() {
    if let Ok(mut g) = CLEANUP.lock()
        && let Some((mut child, dir)) = g.take()
    {
        child.kill();
        let _ = std::fs::remove_dir_all(dir);
    }
}

/// The shared server, started on first use.
pub async fn shared() -> &'static OctoPrint {
    SERVER.get_or_init(start).await
}

async fn start() -> OctoPrint {
    let bin = tool("venv-octoprint/bin/octoprint");
    let tmp = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    sweep_old(&tmp, "octoprint-");
    let basedir = tmp.join(format!("octoprint-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&basedir);
    std::fs::create_dir_all(&basedir).expect("create octoprint basedir");

    let t0 = Instant::now();
    let password = format!("pw-{}-{}", std::process::id(), t0.elapsed().as_nanos());
    let out = Command::new(&bin)
        .arg("--basedir")
        .arg(&basedir)
        .args(["user", "add", "--password", &password, "--admin", USER])
        .output()
        .expect("run `octoprint user add`");
    assert!(out.status.success(), "octoprint user add failed: {}", String::from_utf8_lossy(&out.stderr));
    let user_add = t0.elapsed();

    let api_key = format!("lw-test-{:x}", std::process::id() as u64 * 2_654_435_761);
    set_api_key(&basedir.join("users.yaml"), &api_key);
    write_config(&basedir.join("config.yaml"));

    let port = free_port();
    let url = format!("http://127.0.0.1:{port}");
    let t1 = Instant::now();
    let mut cmd = Command::new(&bin);
    cmd.arg("serve")
        .args(["--host", "127.0.0.1", "--port", &port.to_string()])
        .arg("--basedir")
        .arg(&basedir)
        .arg("--iknowwhatimdoing");
    let mut child = ChildGuard::start("octoprint", cmd, &basedir.join("serve.log"));
    // The intermediary start-up server answers 404; the real one 200 (with the key).
    loop {
        if let Some(status) = child.exited() {
            panic!("octoprint exited during start-up ({status}):\n{}", child.log_tail(40));
        }
        if get_status(&url, &api_key, "api/version").await == Some(200) {
            break;
        }
        assert!(t1.elapsed() < Duration::from_secs(90), "octoprint not up after 90 s:\n{}", child.log_tail(40));
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let serve = t1.elapsed();

    *CLEANUP.lock().unwrap_or_else(|e| e.into_inner()) = Some((child, basedir.clone()));
    // SAFETY: registers a plain extern "C" fn; it only touches a Mutex-guarded static.
    unsafe {
        libc::atexit(cleanup_at_exit);
    }

    let server =
        OctoPrint { url, api_key, basedir, startup: StartupTimes { user_add, serve, printer_connect: Duration::ZERO } };
    let t2 = Instant::now();
    server.connect_printer().await;
    let startup = StartupTimes { printer_connect: t2.elapsed(), ..server.startup };
    eprintln!(
        "octoprint ready: user add {:.1} s, serve {:.1} s, printer connect {:.1} s",
        startup.user_add.as_secs_f64(),
        startup.serve.as_secs_f64(),
        startup.printer_connect.as_secs_f64()
    );
    OctoPrint { startup, ..server }
}

fn set_api_key(users: &Path, key: &str) {
    let text = std::fs::read_to_string(users).expect("read users.yaml");
    assert!(text.contains("apikey: null"), "users.yaml has no `apikey: null` to replace:\n{text}");
    std::fs::write(users, text.replacen("apikey: null", &format!("apikey: {key}"), 1)).expect("write users.yaml");
}

/// JSON is YAML: OctoPrint reads this as its `config.yaml`.
fn write_config(path: &Path) {
    let disabled = [
        "achievements",
        "action_command_notification",
        "action_command_prompt",
        "announcements",
        "backup",
        "classicwebcam",
        "corewizard",
        "customcontrolmanager",
        "discovery",
        "errortracking",
        "eventmanager",
        "gcodeviewer",
        "health_check",
        "logging",
        "pluginmanager",
        "softwareupdate",
        "tracking",
        "uploadmanager",
    ];
    let cfg = json!({
        "server": {"firstRun": false, "onlineCheck": {"enabled": false}, "pluginBlacklist": {"enabled": false}},
        "plugins": {
            "_disabled": disabled,
            "virtual_printer": {
                "enabled": true,
                "simulated_errors": [],
                "throttle": 0.001,
                "ambientTemperature": 215.0
            }
        },
        "serial": {"autoconnect": false, "log": false},
        "feature": {"sdSupport": false}
    });
    std::fs::write(path, serde_json::to_string_pretty(&cfg).expect("json")).expect("write config.yaml");
}

async fn get_status(url: &str, key: &str, path: &str) -> Option<u16> {
    let r = super::http_client().get(format!("{url}/{path}")).header("X-Api-Key", key).send().await.ok()?;
    Some(r.status().as_u16())
}

fn client() -> reqwest::Client {
    super::http_client()
}

impl OctoPrint {
    pub async fn get(&self, path: &str) -> Value {
        let r =
            client().get(format!("{}/{path}", self.url)).header("X-Api-Key", &self.api_key).send().await.expect("GET");
        let status = r.status();
        let body: Value = r.json().await.unwrap_or(Value::Null);
        assert!(status.is_success(), "GET {path}: {status} {body}");
        body
    }

    pub async fn post(&self, path: &str, body: Value) -> u16 {
        let r = client()
            .post(format!("{}/{path}", self.url))
            .header("X-Api-Key", &self.api_key)
            .json(&body)
            .send()
            .await
            .expect("POST");
        r.status().as_u16()
    }

    pub async fn connection_state(&self) -> String {
        self.get("api/connection").await["current"]["state"].as_str().unwrap_or("").to_string()
    }

    /// Connects the VirtualPrinter (if it is not) and waits for `Operational`.
    pub async fn connect_printer(&self) {
        let state = self.connection_state().await;
        if state != "Operational" {
            if !state.starts_with("Closed") && !state.starts_with("Offline") && !state.is_empty() {
                self.post("api/connection", json!({"command": "disconnect"})).await;
            }
            let code =
                self.post("api/connection", json!({"command": "connect", "port": "VIRTUAL", "baudrate": 115200})).await;
            assert_eq!(code, 204, "connecting the virtual printer");
        }
        let start = Instant::now();
        loop {
            let s = self.connection_state().await;
            if s == "Operational" {
                return;
            }
            assert!(start.elapsed() < Duration::from_secs(20), "virtual printer stuck in {s:?}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Uploads `file` as `name` and starts printing it (`select=true&print=true`).
    pub async fn upload_and_print(&self, file: &Path, name: &str) {
        let bytes = std::fs::read(file).expect("read gcode fixture");
        let part = reqwest::multipart::Part::bytes(bytes).file_name(name.to_string());
        let form = reqwest::multipart::Form::new().part("file", part).text("select", "true").text("print", "true");
        let r = client()
            .post(format!("{}/api/files/local", self.url))
            .header("X-Api-Key", &self.api_key)
            .multipart(form)
            .send()
            .await
            .expect("upload");
        let status = r.status();
        let body: Value = r.json().await.unwrap_or(Value::Null);
        assert_eq!(status.as_u16(), 201, "upload {name}: {body}");
        assert_eq!(body["effectivePrint"], json!(true), "print not started: {body}");
    }

    /// A `[printer]` config for this server (`url` lets a test go through a proxy).
    pub fn config_toml(&self, url: &str, api_key: &str) -> String {
        format!(
            "[printer]\nkind = \"octoprint\"\ncommand_timeout_ms = 15000\n\n[printer.octoprint]\nurl = \"{url}\"\n\
             api_key = \"{api_key}\"\npoll_ms = 300\nreconnect_max_ms = 1000\nrequest_timeout_ms = 5000\n"
        )
    }

    pub fn log_tail(&self, n: usize) -> String {
        super::log_tail(&self.basedir.join("serve.log"), n)
    }
}
