//! MQTT with Home Assistant discovery, end to end against a real broker:
//! Debian's `mosquitto`, started here on a free 127.0.0.1 port (with a
//! password file from `mosquitto_passwd` where a login is wanted, and a TLS
//! listener with a CA made by `trustme`), the real `layerwatch` binary on the
//! simulated Marlin firmware (host mode over a pty) and the MJPEG sim camera,
//! and an independent client: `tests/peers/mqtt_peer.py` (paho-mqtt) checks
//! every retained discovery config against Home Assistant's documented
//! schema, watches topics, and presses buttons.
//!
//! - discovery, the state message, a pause pressed on the bus (the printer
//!   parks, the audit log names `mqtt`), resume, and the password never logged;
//! - the last will: `kill -9` → `offline` from the broker; a restart → `online`;
//!   the broker restarted under the daemon → reconnect; SIGTERM → `offline`;
//! - wrong credentials: a plain error in the log, no secret; `doctor`'s MQTT
//!   check passes (exit 0) with the right login and fails (exit 1) with a wrong one;
//! - the MQTT light over TLS: on for the print, off after it, audited, and
//!   switched by `doctor --send`; a broker that wants a client certificate;
//! - a failure: the binary sensor and the incident's snapshot on the bus, and
//!   "not a failure" pressed there closes the incident (feedback by `mqtt`).

mod e2e_support;

use std::io::{BufRead, BufReader};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use e2e_support::printer_support::gcode::{self, Spec};
use e2e_support::*;
use layerwatch::sim::marlin::{MarlinSim, SimConfig};
use serde_json::Value;
use tokio_util::sync::CancellationToken;

const USER: &str = "printer-farm";
const PASSWORD: &str = "mqtt-pass-7f3a9c21e5";
/// `general.name = "e2e printer"` → this base topic and discovery node id.
const BASE: &str = "layerwatch/e2e_printer";
const NODE: &str = "layerwatch_e2e_printer";
/// 13 sensors, 2 binary sensors, 2 images, 4 buttons.
const ENTITIES: usize = 21;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn python() -> PathBuf {
    let p = root().join(".tools/venv-mqtt/bin/python");
    assert!(p.exists(), "{} is missing: run `scripts/setup.sh test`", p.display());
    p
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A `mosquitto` of our own, killed on drop.
struct Broker {
    child: Option<Child>,
    port: u16,
    dir: tempfile::TempDir,
    /// The CA the TLS listener's certificate chains to (`tls` brokers only).
    ca: Option<PathBuf>,
    login: bool,
    /// The TLS listener wants a client certificate signed by the same CA.
    client_certs: bool,
}

impl Broker {
    fn start(login: bool, tls: bool) -> Broker {
        Broker::start_with(login, tls, false)
    }

    fn start_with(login: bool, tls: bool, client_certs: bool) -> Broker {
        let dir = tempfile::tempdir().unwrap();
        let ca = tls.then(|| {
            let out = Command::new(python())
                .arg("-c")
                .arg(
                    "import sys, trustme; ca = trustme.CA(); c = ca.issue_cert('127.0.0.1', 'localhost'); \
                     d = sys.argv[1]; ca.cert_pem.write_to_path(d + '/ca.pem'); \
                     c.private_key_pem.write_to_path(d + '/key.pem'); c.cert_chain_pems[0].write_to_path(d + '/cert.pem'); \
                     k = ca.issue_cert('layerwatch-client'); k.private_key_pem.write_to_path(d + '/client-key.pem'); \
                     k.cert_chain_pems[0].write_to_path(d + '/client.pem')",
                )
                .arg(dir.path())
                .output()
                .expect("trustme");
            assert!(out.status.success(), "trustme: {}", String::from_utf8_lossy(&out.stderr));
            dir.path().join("ca.pem")
        });
        if login {
            let st = Command::new("mosquitto_passwd")
                .args(["-b", "-c"])
                .arg(dir.path().join("passwd"))
                .args([USER, PASSWORD])
                .status()
                .expect("mosquitto_passwd (apt install mosquitto: scripts/setup.sh test)");
            assert!(st.success());
        }
        let mut b = Broker { child: None, port: free_port(), dir, ca, login, client_certs };
        b.spawn();
        b
    }

    fn spawn(&mut self) {
        let d = self.dir.path();
        let mut conf = format!("listener {} 127.0.0.1\npersistence false\nlog_type all\n", self.port);
        if self.login {
            conf += &format!("allow_anonymous false\npassword_file {}\n", d.join("passwd").display());
        } else {
            conf += "allow_anonymous true\n";
        }
        if self.ca.is_some() {
            conf += &format!(
                "cafile {}\ncertfile {}\nkeyfile {}\n",
                d.join("ca.pem").display(),
                d.join("cert.pem").display(),
                d.join("key.pem").display()
            );
            if self.client_certs {
                conf += "require_certificate true\n";
            }
        }
        // As root, mosquitto would switch to the `mosquitto` user and lose access to these files.
        if unsafe { libc::geteuid() } == 0 {
            conf += "user root\n";
        }
        std::fs::write(d.join("mosquitto.conf"), conf).unwrap();
        let log = std::fs::OpenOptions::new().create(true).append(true).open(d.join("mosquitto.log")).unwrap();
        let child = Command::new("mosquitto")
            .arg("-c")
            .arg(d.join("mosquitto.conf"))
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("mosquitto (apt install mosquitto: scripts/setup.sh test)");
        self.child = Some(child);
        let t0 = Instant::now();
        while TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(t0.elapsed() < Duration::from_secs(10), "mosquitto did not listen:\n{}", self.log());
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("mosquitto.log")).unwrap_or_default()
    }

    /// `[mqtt]` for this broker; `password` overrides the right one.
    fn section(&self, password: Option<&str>) -> String {
        let mut s = format!(
            "\n[mqtt]\nenabled = true\nhost = \"127.0.0.1\"\nport = {}\nkeepalive_s = 5\npublish_interval_s = 1\n\
             live_image_interval_s = 1\n",
            self.port
        );
        if self.login {
            s += &format!("username = {USER:?}\npassword = {:?}\n", password.unwrap_or(PASSWORD));
        }
        if let Some(ca) = &self.ca {
            s += &format!("tls = true\nca_file = {:?}\n", ca.display().to_string());
        }
        s
    }

    /// The peer's connection arguments.
    fn peer(&self) -> Command {
        let mut cmd = Command::new(python());
        cmd.env("PYTHONDONTWRITEBYTECODE", "1").arg(root().join("tests/peers/mqtt_peer.py"));
        cmd.args(["--port", &self.port.to_string()]);
        if self.login {
            cmd.args(["--user", USER, "--password-env", "PEER_PASSWORD"]).env("PEER_PASSWORD", PASSWORD);
        }
        if let Some(ca) = &self.ca {
            cmd.arg("--cafile").arg(ca);
        }
        cmd
    }

    async fn press(&self, button: &str) {
        let mut cmd = self.peer();
        cmd.args(["press", &format!("{BASE}/command/{button}")]);
        let out = tokio::task::spawn_blocking(move || cmd.output().unwrap()).await.unwrap();
        assert!(
            out.status.success(),
            "press {button}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// The discovery check's report (it exits 1 when a config breaks the schema).
    async fn discovery_report(&self) -> (bool, Value) {
        let mut cmd = self.peer();
        cmd.args(["discovery", "--node", NODE, "--expect", &ENTITIES.to_string(), "--timeout", "20"]);
        let out = tokio::task::spawn_blocking(move || cmd.output().unwrap()).await.unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        let report = serde_json::from_str(text.lines().last().unwrap_or(""))
            .unwrap_or_else(|e| panic!("discovery check: {e}: {text}{}", String::from_utf8_lossy(&out.stderr)));
        (out.status.success(), report)
    }

    /// A subscriber printing every message on `topics`.
    fn watch(&self, topics: &[&str]) -> Watcher {
        let mut cmd = self.peer();
        cmd.arg("watch").args(topics).stdout(Stdio::piped()).stderr(Stdio::inherit());
        let mut child = cmd.spawn().expect("mqtt_peer.py watch");
        let seen = Arc::new(Mutex::new(Vec::<Value>::new()));
        let out = child.stdout.take().unwrap();
        let s = seen.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                if let Ok(v) = serde_json::from_str::<Value>(&line) {
                    s.lock().unwrap().push(v);
                }
            }
        });
        let w = Watcher { child, seen };
        let t0 = Instant::now();
        while !w.messages().iter().any(|m| m["subscribed"] == true) {
            assert!(t0.elapsed() < Duration::from_secs(15), "the watcher did not subscribe: {:?}", w.messages());
            std::thread::sleep(Duration::from_millis(20));
        }
        w
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        self.stop();
    }
}

struct Watcher {
    child: Child,
    seen: Arc<Mutex<Vec<Value>>>,
}

impl Watcher {
    fn messages(&self) -> Vec<Value> {
        self.seen.lock().unwrap().clone()
    }

    /// Texts received on `topic`, in order.
    fn texts(&self, topic: &str) -> Vec<String> {
        self.messages()
            .iter()
            .filter(|m| m["topic"] == topic)
            .filter_map(|m| m["text"].as_str().map(String::from))
            .collect()
    }

    fn count(&self, topic: &str) -> usize {
        self.messages().iter().filter(|m| m["topic"] == topic).count()
    }

    /// The newest JSON state message that satisfies `f`.
    fn state_where(&self, f: impl Fn(&Value) -> bool) -> Option<Value> {
        self.texts(&format!("{BASE}/state")).iter().rev().filter_map(|t| serde_json::from_str(t).ok()).find(|v| f(v))
    }
}

impl Drop for Watcher {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn sim_printer(dir: &Path, cancel: &CancellationToken) -> (layerwatch::sim::marlin::SimHandle, PathBuf) {
    let cfg = SimConfig { time_scale: 0.5, link: Some(dir.join("ttySIM")), ..SimConfig::default() };
    MarlinSim::spawn(cfg, cancel.child_token()).await.expect("simulated printer")
}

fn gcode_file(dir: &Path, layers: u32, moves: u32) -> PathBuf {
    let file = dir.join("print.gcode");
    std::fs::write(
        &file,
        gcode::generate(&Spec { layers, moves_per_layer: moves, feedrate: 6_000, ..Spec::default() }),
    )
    .unwrap();
    file
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn home_assistant_sees_valid_entities_and_a_pause_pressed_on_the_bus_pauses_the_printer() {
    let broker = Broker::start(true, false);
    let dir = tempfile::tempdir().unwrap();
    let peers = CancellationToken::new();
    let _stop = peers.clone().drop_guard();
    let (sim, pty) = sim_printer(dir.path(), &peers).await;
    let file = gcode_file(dir.path(), 60, 60);
    let mut cam = Camera::bind().await;
    cam.start(normal_frames(16), 4.0);
    let cfg = base_config(&dir.path().join("data"), &cam.url) + &marlin_host_section(&pty) + &broker.section(None);
    let watcher = broker.watch(&[&format!("{BASE}/#")]);
    let daemon = Daemon::start(dir.path(), &cfg, &["--print", file.to_str().unwrap()]);
    let client = http();
    let web = daemon.web_url(Duration::from_secs(30)).await;

    // (a) Every retained discovery config follows Home Assistant's schema.
    let (ok, report) = broker.discovery_report().await;
    assert!(ok, "discovery configs break Home Assistant's schema: {:#}", report["problems"]);
    assert_eq!(report["count"], ENTITIES as u64, "{report:#}");
    assert_eq!(report["platforms"], serde_json::json!({"sensor": 13, "binary_sensor": 2, "image": 2, "button": 4}));
    let configs = report["configs"].as_object().unwrap();
    let pause = &configs[&format!("homeassistant/button/{NODE}/pause/config")];
    assert_eq!(pause["command_topic"], format!("{BASE}/command/pause"));
    assert_eq!(pause["device"]["manufacturer"], "layerwatch");
    let failure = &configs[&format!("homeassistant/binary_sensor/{NODE}/failure/config")];
    assert_eq!(failure["device_class"], "problem");
    let time_left = &configs[&format!("homeassistant/sensor/{NODE}/time_left/config")];
    assert_eq!(
        (time_left["device_class"].as_str(), time_left["unit_of_measurement"].as_str()),
        (Some("duration"), Some("s"))
    );
    let live = &configs[&format!("homeassistant/image/{NODE}/live/config")];
    assert_eq!(
        (live["image_topic"].as_str(), live["content_type"].as_str()),
        (Some(&*format!("{BASE}/image/live")), Some("image/jpeg"))
    );
    assert!(watcher.texts(&format!("{BASE}/availability")).contains(&"online".to_string()));
    let metrics = client.get(format!("{web}/metrics")).send().await.unwrap().text().await.unwrap();
    assert!(metrics.lines().any(|l| l == "layerwatch_mqtt_connected 1"), "{metrics}");

    // The state message carries every field a value_template reads, and follows the print.
    let printing =
        eventually(Duration::from_secs(60), "a state message for a print on layer 2+", Some(&daemon), async || {
            watcher.state_where(|s| s["printer_state"] == "printing" && s["layer"].as_u64().is_some_and(|l| l >= 2))
        })
        .await;
    for (topic, c) in configs {
        if let Some(t) = c["value_template"].as_str() {
            let field = t.split("value_json.").nth(1).unwrap().split([' ', '}']).next().unwrap();
            assert!(printing.get(field).is_some(), "{topic} reads {field}, which the state lacks: {printing:#}");
        }
    }
    assert!(printing["layer_count"].as_u64().is_some_and(|n| n >= 50), "{printing:#}");
    assert!(printing["hotend"].as_f64().is_some() && printing["failure_score"].as_f64().is_some(), "{printing:#}");
    assert_eq!(printing["failure"], false);
    // The live picture arrives as raw JPEG bytes.
    eventually(Duration::from_secs(30), "a live picture", Some(&daemon), async || {
        watcher.messages().into_iter().find(|m| {
            m["topic"] == format!("{BASE}/image/live") && m["b64"].as_str().is_some_and(|b| b.starts_with("/9j/"))
        })
    })
    .await;

    // (b) Pause pressed on the bus: through the engine, onto the printer, into the audit log.
    broker.press("pause").await;
    eventually(Duration::from_secs(30), "the printer paused", Some(&daemon), async || {
        let (_, s) = get_json(&client, &format!("{web}/api/status")).await?;
        (s["printer"]["state"] == "paused" && pauses(&sim.executed()) == 1).then_some(())
    })
    .await;
    let db = daemon.db();
    let (actor, who, result): (String, String, String) = db
        .query_row("SELECT actor, who, result FROM audit_log WHERE command = 'pause'", [], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })
        .expect("the pause in the audit log");
    assert_eq!((actor.as_str(), who.as_str(), result.as_str()), ("user", "mqtt", "confirmed"));
    let paused = eventually(Duration::from_secs(15), "the state to say paused", Some(&daemon), async || {
        watcher.state_where(|s| s["printer_state"] == "paused")
    })
    .await;
    assert!(paused["last_command"].as_str().is_some_and(|c| c.starts_with("pause: ")), "{paused:#}");

    // "Not a failure" without an open incident is refused, and says so on the bus.
    broker.press("not_a_failure").await;
    eventually(Duration::from_secs(15), "the refusal on the bus", Some(&daemon), async || {
        watcher.state_where(|s| s["last_command"].as_str().is_some_and(|c| c.contains("refused")))
    })
    .await;
    // A payload other than PRESS is ignored.
    let mut cmd = broker.peer();
    cmd.args(["press", &format!("{BASE}/command/resume"), "please"]);
    assert!(cmd.output().unwrap().status.success());
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        db.query_row("SELECT count(*) FROM audit_log WHERE command = 'resume'", [], |r| r.get::<_, i64>(0)).unwrap(),
        0
    );

    broker.press("resume").await;
    eventually(Duration::from_secs(30), "the print resumed", Some(&daemon), async || {
        let (_, s) = get_json(&client, &format!("{web}/api/status")).await?;
        (s["printer"]["state"] == "printing").then_some(())
    })
    .await;
    assert_eq!(
        db.query_row("SELECT count(*) FROM audit_log WHERE command = 'resume' AND who = 'mqtt'", [], |r| r
            .get::<_, i64>(0))
            .unwrap(),
        1
    );
    // The password is in no log line and not in the dashboard's config view.
    assert!(!daemon.log_text().contains(PASSWORD), "the MQTT password is in the log");
    let (_, c) = get_json(&client, &format!("{web}/api/config")).await.unwrap();
    assert!(!c.to_string().contains(PASSWORD), "the MQTT password is served: {c}");
    assert!(daemon.log_text().contains("MQTT connected"), "{}", daemon.log_tail(30));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_last_will_says_offline_and_the_daemon_comes_back_after_the_broker_restarts() {
    let mut broker = Broker::start(false, false);
    let dir = tempfile::tempdir().unwrap();
    let mut cam = Camera::bind().await;
    cam.start(normal_frames(8), 4.0);
    let cfg = base_config(&dir.path().join("data"), &cam.url) + &broker.section(None);
    let avail = format!("{BASE}/availability");
    let watcher = broker.watch(&[&avail]);
    let mut daemon = Daemon::start(dir.path(), &cfg, &[]);
    let online = |n: usize| {
        let w = &watcher;
        let avail = avail.clone();
        async move || (w.texts(&avail).iter().filter(|t| *t == "online").count() >= n).then_some(())
    };
    eventually(Duration::from_secs(30), "online", Some(&daemon), online(1)).await;

    // kill -9: the broker sees the socket close and publishes the last will.
    daemon.kill9();
    let t0 = Instant::now();
    eventually(Duration::from_secs(20), "offline from the last will", None, async || {
        (watcher.texts(&avail).last().map(String::as_str) == Some("offline")).then_some(())
    })
    .await;
    println!("last will after kill -9: {} ms", t0.elapsed().as_millis());

    daemon.restart(&[]);
    eventually(Duration::from_secs(30), "online again after the restart", Some(&daemon), online(2)).await;

    // The broker goes away and comes back on the same port: the daemon reconnects by itself.
    broker.stop();
    tokio::time::sleep(Duration::from_secs(2)).await;
    broker.spawn();
    let t0 = Instant::now();
    eventually(Duration::from_secs(60), "online after the broker restarted", Some(&daemon), online(3)).await;
    println!("reconnected {} ms after the broker came back", t0.elapsed().as_millis());
    assert!(!daemon.log_records("MQTT broker not available").is_empty(), "{}", daemon.log_tail(30));
    assert!(daemon.log_records("MQTT connected").len() >= 2, "{}", daemon.log_tail(30));

    // A clean stop says offline itself (a clean disconnect sends no last will).
    daemon.signal(libc::SIGTERM);
    assert!(daemon.wait_exit(Duration::from_secs(30)).is_some(), "the daemon did not stop");
    eventually(Duration::from_secs(10), "offline at a clean stop", None, async || {
        (watcher.texts(&avail).last().map(String::as_str) == Some("offline")).then_some(())
    })
    .await;
}

/// `layerwatch doctor` on a set-up whose only possible failure is MQTT.
fn doctor(dir: &Path, mqtt: &str) -> (Option<i32>, String) {
    let frames = dir.join("frames");
    std::fs::create_dir_all(&frames).unwrap();
    for n in 0..2 {
        let name = format!("{n:06}.jpg");
        std::fs::copy(root().join("datasets/demo/frames").join(&name), frames.join(&name)).unwrap();
    }
    let config = dir.join("doctor.toml");
    std::fs::write(
        &config,
        format!(
            "[general]\nname = \"e2e printer\"\ndata_dir = {:?}\n\n[camera]\nname = \"bench\"\nsource = \"folder\"\npath = {:?}\n{mqtt}",
            dir.join("data").display().to_string(),
            frames.display().to_string()
        ),
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_layerwatch"))
        .arg("-c")
        .arg(&config)
        .args(["doctor", "--timeout-s", "5"])
        .env("RUST_LOG", "warn")
        .env_remove("LAYERWATCH_CONFIG")
        .env_remove("LAYERWATCH_MQTT_PASSWORD")
        .output()
        .expect("run layerwatch doctor");
    (out.status.code(), format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_credentials_are_said_plainly_never_logged_and_doctor_checks_the_login() {
    let broker = Broker::start(true, false);
    let dir = tempfile::tempdir().unwrap();
    let wrong = "not-the-pass-4242xyz";

    let (code, text) = doctor(dir.path(), &broker.section(None));
    let line = text.lines().find(|l| l.contains(" mqtt ")).unwrap_or_default().to_string();
    assert_eq!(code, Some(0), "doctor with the right login:\n{text}");
    assert!(line.starts_with("ok") && line.contains("published and read back"), "{text}");

    let (code, text) = doctor(dir.path(), &broker.section(Some(wrong)));
    assert_eq!(code, Some(1), "doctor with a wrong password:\n{text}");
    let line = text.lines().find(|l| l.starts_with("FAIL") && l.contains(" mqtt ")).unwrap_or_default();
    assert!(line.contains("not authorised") && line.contains(USER), "{text}");
    assert!(text.contains("fix: set mqtt.username and mqtt.password"), "{text}");
    assert!(!text.contains(wrong) && !text.contains(PASSWORD), "a password in doctor's output:\n{text}");

    let stopped = Broker {
        child: None,
        port: free_port(),
        dir: tempfile::tempdir().unwrap(),
        ca: None,
        login: false,
        client_certs: false,
    };
    let (code, text) = doctor(dir.path(), &stopped.section(None));
    assert_eq!(code, Some(1), "{text}");
    assert!(text.contains("cannot reach the broker") && text.contains("check mqtt.host and mqtt.port"), "{text}");

    // The daemon keeps running, says why in plain words, and never logs the password.
    let mut cam = Camera::bind().await;
    cam.start(normal_frames(8), 4.0);
    let cfg = base_config(&dir.path().join("data"), &cam.url) + &broker.section(Some(wrong));
    let daemon = Daemon::start(dir.path(), &cfg, &[]);
    let rec = eventually(Duration::from_secs(30), "the refused login in the log", Some(&daemon), async || {
        daemon.log_records("MQTT broker not available").into_iter().next()
    })
    .await;
    let err = rec["error"].as_str().unwrap_or_default().to_string();
    assert!(err.contains("not authorised") && err.contains("mqtt.password"), "{rec}");
    tokio::time::sleep(Duration::from_secs(3)).await;
    let log = daemon.log_text();
    assert!(!log.contains(wrong), "the wrong password is in the log");
    let web = daemon.web_url(Duration::from_secs(5)).await;
    let (status, _) = get_json(&http(), &format!("{web}/healthz")).await.unwrap();
    assert!(status == 200 || status == 503, "the daemon still serves: {status}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broker_that_wants_a_client_certificate_gets_the_configured_one() {
    let broker = Broker::start_with(false, true, true);
    let dir = tempfile::tempdir().unwrap();
    let d = broker.dir.path();
    let with_cert = broker.section(None)
        + &format!(
            "client_cert_file = {:?}\nclient_key_file = {:?}\n",
            d.join("client.pem").display().to_string(),
            d.join("client-key.pem").display().to_string()
        );
    let (code, text) = doctor(dir.path(), &with_cert);
    assert_eq!(code, Some(0), "doctor with the client certificate:\n{text}");
    assert!(text.lines().any(|l| l.starts_with("ok    mqtt          mqtts://")), "{text}");

    let (code, text) = doctor(dir.path(), &broker.section(None));
    assert_eq!(code, Some(1), "doctor without the client certificate:\n{text}");
    let fail = text.lines().find(|l| l.starts_with("FAIL  mqtt")).unwrap_or_else(|| panic!("{text}"));
    println!("without the client certificate: {fail}");
    assert!(fail.contains("TLS with the broker") && fail.contains("wants a client certificate"), "{text}");
    // A CA that did not sign the broker's certificate.
    let wrong_ca = with_cert.replace("ca.pem", "client.pem");
    let (code, text) = doctor(dir.path(), &wrong_ca);
    assert_eq!(code, Some(1), "{text}");
    let fail = text.lines().find(|l| l.starts_with("FAIL  mqtt")).unwrap_or_else(|| panic!("{text}"));
    println!("with the wrong CA: {fail}");
    assert!(fail.contains("not trusted") && fail.contains("mqtt.ca_file"), "{text}");
    // A key that does not exist is named with its key.
    let missing =
        broker.section(None) + "client_cert_file = \"/nonexistent/c.pem\"\nclient_key_file = \"/nonexistent/k.pem\"\n";
    let (code, text) = doctor(dir.path(), &missing);
    assert_eq!(code, Some(1), "{text}");
    assert!(text.contains("mqtt.client_cert_file /nonexistent/c.pem: cannot read it"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_mqtt_light_over_tls_goes_on_for_the_print_and_off_after_it() {
    let broker = Broker::start(false, true);
    let dir = tempfile::tempdir().unwrap();
    let peers = CancellationToken::new();
    let _stop = peers.clone().drop_guard();
    let (_sim, pty) = sim_printer(dir.path(), &peers).await;
    let file = gcode_file(dir.path(), 5, 30);
    let mut cam = Camera::bind().await;
    cam.start(normal_frames(16), 4.0);
    let light_topic = "zigbee2mqtt/printer_light/set";
    let cfg = base_config(&dir.path().join("data"), &cam.url)
        + &marlin_host_section(&pty)
        + &format!("\n[printer.light]\nmethod = \"mqtt\"\nmqtt_topic = {light_topic:?}\noff_after_s = 1\n")
        + &broker.section(None);
    let watcher = broker.watch(&[light_topic, &format!("{BASE}/availability")]);
    let daemon = Daemon::start(dir.path(), &cfg, &["--print", file.to_str().unwrap()]);
    let client = http();
    let web = daemon.web_url(Duration::from_secs(30)).await;
    eventually(Duration::from_secs(30), "online over TLS", Some(&daemon), async || {
        watcher.texts(&format!("{BASE}/availability")).contains(&"online".to_string()).then_some(())
    })
    .await;
    eventually(Duration::from_secs(30), "the light on", Some(&daemon), async || {
        watcher.texts(light_topic).first().filter(|t| *t == r#"{"state":"ON"}"#).map(|_| ())
    })
    .await;
    eventually(Duration::from_secs(90), "the print to finish", Some(&daemon), async || {
        let (_, s) = get_json(&client, &format!("{web}/api/status")).await?;
        (s["printer"]["state"] == "finished").then_some(())
    })
    .await;
    eventually(Duration::from_secs(20), "the light off", Some(&daemon), async || {
        (watcher.texts(light_topic) == [r#"{"state":"ON"}"#, r#"{"state":"OFF"}"#]).then_some(())
    })
    .await;
    let db = daemon.db();
    let count = |sql: &str| db.query_row(sql, [], |r| r.get::<_, i64>(0)).unwrap();
    assert_eq!(count("SELECT count(*) FROM audit_log WHERE command = 'light_on' AND result = 'confirmed'"), 1);
    assert_eq!(count("SELECT count(*) FROM audit_log WHERE command = 'light_off' AND result = 'confirmed'"), 1);
    assert_eq!(watcher.count(light_topic), 2, "one on, one off: {:?}", watcher.texts(light_topic));

    // `doctor --send` switches the MQTT light on and off once, over the same TLS broker.
    let mut daemon = daemon;
    daemon.kill9();
    let out = Command::new(env!("CARGO_BIN_EXE_layerwatch"))
        .arg("-c")
        .arg(&daemon.config)
        .args(["doctor", "--send", "--timeout-s", "8"])
        .env("RUST_LOG", "warn")
        .output()
        .expect("run layerwatch doctor");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(text.contains("switched on and off in the MQTT check below"), "{text}");
    assert!(text.contains(&format!("ok    light         {light_topic:?}: switched on and off over MQTT")), "{text}");
    assert!(text.lines().any(|l| l.starts_with("ok    mqtt          mqtts://127.0.0.1:")), "{text}");
    eventually(Duration::from_secs(10), "doctor's on and off", None, async || {
        (watcher.count(light_topic) == 4).then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failure_shows_on_the_bus_with_its_snapshot_and_not_a_failure_pressed_there_closes_it() {
    let broker = Broker::start(false, false);
    let dir = tempfile::tempdir().unwrap();
    let peers = CancellationToken::new();
    let _stop = peers.clone().drop_guard();
    let sim_cfg = SimConfig { time_scale: 0.2, link: Some(dir.path().join("ttySIM")), ..SimConfig::default() };
    let (sim, pty) = MarlinSim::spawn(sim_cfg, peers.child_token()).await.expect("simulated printer");
    let file = dir.path().join("long.gcode");
    std::fs::write(
        &file,
        gcode::generate(&Spec { layers: 300, moves_per_layer: 8, feedrate: 3_000, ..Spec::default() }),
    )
    .unwrap();
    let mut cam = Camera::bind().await;
    let cfg = base_config(&dir.path().join("data"), &cam.url) + &marlin_host_section(&pty) + &broker.section(None);
    let watcher = broker.watch(&[&format!("{BASE}/#")]);
    let daemon = Daemon::start(dir.path(), &cfg, &["--print", file.to_str().unwrap()]);
    let client = http();
    let web = daemon.web_url(Duration::from_secs(30)).await;
    eventually(Duration::from_secs(30), "the print to start", Some(&daemon), async || {
        let (_, s) = get_json(&client, &format!("{web}/api/status")).await?;
        (s["printer"]["state"] == "printing").then_some(())
    })
    .await;
    let (frames, _) = sequence(12, 400);
    cam.start(frames, 4.0);

    let failing = eventually(Duration::from_secs(60), "failure on the bus", Some(&daemon), async || {
        watcher.state_where(|s| s["failure"] == true)
    })
    .await;
    let incident = failing["incident"].as_i64().expect("the incident's id");
    eventually(Duration::from_secs(30), "the incident's snapshot on the bus", Some(&daemon), async || {
        watcher.messages().into_iter().find(|m| {
            m["topic"] == format!("{BASE}/image/incident") && m["b64"].as_str().is_some_and(|b| b.starts_with("/9j/"))
        })
    })
    .await;
    eventually(Duration::from_secs(30), "the daemon's own pause", Some(&daemon), async || {
        let (_, s) = get_json(&client, &format!("{web}/api/status")).await?;
        (s["printer"]["state"] == "paused" && pauses(&sim.executed()) == 1).then_some(())
    })
    .await;

    broker.press("not_a_failure").await;
    eventually(Duration::from_secs(30), "the failure cleared on the bus", Some(&daemon), async || {
        watcher.state_where(|s| {
            s["failure"] == false && s["last_command"].as_str().is_some_and(|c| c.starts_with("not_a_failure: "))
        })
    })
    .await;
    let db = daemon.db();
    let (closed, who): (Option<String>, Option<String>) = db
        .query_row(
            "SELECT i.closed_reason, f.who FROM incidents i JOIN feedback f ON f.incident_id = i.id \
             WHERE i.id = ?1 AND f.kind = 'not_a_failure'",
            [incident],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .expect("the incident and its feedback");
    assert_eq!((closed.as_deref(), who.as_deref()), (Some("not_a_failure"), Some("mqtt")));
    assert_eq!(pauses(&sim.executed()), 1, "one incident, one pause");
}
