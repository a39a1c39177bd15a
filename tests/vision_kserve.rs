//! The remote inference backend (`[vision] backend = "kserve"`) against a real KServe model server
//! (`tests/peers/kserve_server.py`: the `kserve` package's ModelServer running models/classifier.onnx on
//! onnxruntime) on 127.0.0.1: the scores equal ONNX Runtime's here on the sample frames; a server that is
//! down at start or goes down mid-run means local scores, counted, and scoring goes back to the server
//! when it answers again; a slow server is cut off at `timeout_ms`; a server whose model does not fit the
//! description is a clear error naming the key; the bearer token is sent and never printed; and
//! `layerwatch classify` / `validate-config` with the remote backend.

mod vision_support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use layerwatch::domain::FrameScore;
use layerwatch::vision::{
    Classifier, ClassifierOptions, Fallback, Model, OnnxClassifier, RemoteClassifier, RemoteConfig, RemoteCounts,
};
use vision_support::*;

/// Probabilities from the two runtimes may differ by float rounding only.
const TOLERANCE: f32 = 1e-5;

fn python() -> PathBuf {
    let p = repo().join(".tools/venv-kserve/bin/python");
    assert!(p.is_file(), "{} is missing: run `scripts/setup.sh test`", p.display());
    p
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A KServe model server of our own, killed on drop. Its log is in `log` (shown when a test fails).
struct Server {
    child: Child,
    port: u16,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl Server {
    fn start(port: u16, extra: &[&str]) -> Server {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("server.log");
        let out = std::fs::File::create(&log).unwrap();
        let child = Command::new(python())
            .arg(repo().join("tests/peers/kserve_server.py"))
            .args(["--http_port", &port.to_string(), "--model"])
            .arg(repo().join("models/classifier.onnx"))
            .args(extra)
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .stdin(Stdio::null())
            .spawn()
            .expect("start tests/peers/kserve_server.py");
        let mut s = Server { child, port, log, _dir: dir };
        s.wait_ready();
        s
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!("the KServe server exited ({status}):\n{}", self.log_text());
            }
            if http_get(self.port, "/v2/models/classifier/ready").is_some_and(|r| r.starts_with("HTTP/1.1 200")) {
                return;
            }
            assert!(Instant::now() < deadline, "the KServe server is not ready after 60 s:\n{}", self.log_text());
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn stop(mut self) {
        self.kill();
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A plain HTTP/1.1 GET; `None` when nothing answers.
fn http_get(port: u16, path: &str) -> Option<String> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    write!(s, "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n").ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    Some(out)
}

fn model() -> Model {
    Model::built_in().unwrap()
}

fn local() -> OnnxClassifier {
    let opts = ClassifierOptions { ort_library: Some(require_ort()), warmup_runs: 1, ..ClassifierOptions::default() };
    OnnxClassifier::new(model(), &opts).unwrap()
}

fn remote_cfg(url: &str) -> RemoteConfig {
    RemoteConfig {
        url: url.to_string(),
        timeout_ms: 5000,
        retries: 0,
        recover_initial_ms: 300,
        recover_max_ms: 300,
        ..RemoteConfig::default()
    }
}

fn remote(cfg: &RemoteConfig) -> RemoteClassifier {
    let fallback = (cfg.fallback == Fallback::Local).then(local);
    RemoteClassifier::new(model(), cfg, None, fallback).unwrap()
}

fn assert_same(a: &FrameScore, b: &FrameScore, what: &str) {
    assert_eq!(a.scores.classes.len(), b.scores.classes.len());
    assert!((a.scores.failure - b.scores.failure).abs() <= TOLERANCE, "{what}: failure {a:?} vs {b:?}");
    for (x, y) in a.scores.classes.iter().zip(&b.scores.classes) {
        assert_eq!(x.label, y.label);
        assert!((x.p - y.p).abs() <= TOLERANCE, "{what}: {} {} vs {}", x.label, x.p, y.p);
    }
    assert_eq!((a.brightness, a.fingerprint), (b.brightness, b.fingerprint), "{what}: same preprocessing");
}

fn counts(ok: u64, failed: u64, fell_back: u64) -> RemoteCounts {
    RemoteCounts { remote_ok: ok, remote_failed: failed, fell_back }
}

#[test]
fn remote_scores_equal_local_scores_on_the_samples() {
    let server = Server::start(free_port(), &[]);
    let mut here = local();
    let cfg = RemoteConfig { fallback: Fallback::None, ..remote_cfg(&server.url()) };
    // JSON numbers, and the binary tensor extension.
    let mut json = remote(&cfg);
    let mut binary = remote(&RemoteConfig { binary_tensors: true, ..cfg });
    let samples = samples();
    let mut max_diff = 0f32;
    for (seq, (path, _)) in samples.iter().enumerate() {
        let frame = file_frame(seq as u64, path);
        let a = here.classify(&frame).unwrap();
        for there in [&mut json, &mut binary] {
            let b = there.classify(&frame).unwrap_or_else(|e| panic!("{}: {e}\n{}", path.display(), server.log_text()));
            assert_same(&a, &b, &path.display().to_string());
            max_diff = max_diff.max((a.scores.failure - b.scores.failure).abs());
        }
    }
    eprintln!("{} samples, largest failure-score difference {max_diff:e}", samples.len());
    for there in [&json, &binary] {
        assert_eq!(there.counts(), counts(samples.len() as u64, 0, 0));
        assert_eq!(there.remote_counts(), Some(there.counts()));
    }
}

#[test]
fn down_at_start_and_mid_run_falls_back_locally_and_recovers() {
    let port = free_port();
    let frame = file_frame(1, &samples()[0].0);
    let expected = local().classify(&frame).unwrap();
    // No server yet: the classifier still starts (fallback = local) and scores here.
    let mut c = remote(&remote_cfg(&format!("http://127.0.0.1:{port}")));
    assert_eq!(c.counts(), counts(0, 0, 0));
    let s = c.classify(&frame).unwrap();
    assert_same(&expected, &s, "down at start");
    assert_eq!(c.counts(), counts(0, 0, 1), "the start's failed check is not a frame: only scored locally");

    // The server comes up: after the backoff, the server scores again.
    let server = Server::start(port, &[]);
    std::thread::sleep(Duration::from_millis(400));
    assert_same(&expected, &c.classify(&frame).unwrap(), "server up");
    assert_eq!(c.counts(), counts(1, 0, 1));

    // It goes away mid-run: the frame is scored locally at once, counted.
    server.stop();
    assert_same(&expected, &c.classify(&frame).unwrap(), "down mid-run");
    assert_eq!(c.counts(), counts(1, 1, 2));
    // Within the backoff the server is not even tried.
    assert_same(&expected, &c.classify(&frame).unwrap(), "within the backoff");
    assert_eq!(c.counts(), counts(1, 1, 3));

    // Back again: remote again after the backoff.
    let _server = Server::start(port, &[]);
    std::thread::sleep(Duration::from_millis(400));
    assert_same(&expected, &c.classify(&frame).unwrap(), "back");
    assert_eq!(c.counts(), counts(2, 1, 3));
}

#[test]
fn a_slow_server_is_cut_off_at_the_timeout() {
    let server = Server::start(free_port(), &["--delay-ms", "3000"]);
    let frame = file_frame(1, &samples()[0].0);
    let cfg = RemoteConfig { timeout_ms: 400, retries: 1, fallback: Fallback::None, ..remote_cfg(&server.url()) };
    let mut c = remote(&cfg);
    let t0 = Instant::now();
    let err = c.classify(&frame).unwrap_err().to_string();
    let took = t0.elapsed();
    assert!(err.contains("no answer within 400 ms"), "{err}");
    // Two tries of 400 ms each, then the error: never the server's 3 s.
    assert!(took >= Duration::from_millis(800) && took < Duration::from_millis(2000), "took {took:?}");
    assert_eq!(c.counts(), counts(0, 1, 0));

    // With the local fallback, the same frame gets the local score after the timeouts.
    let mut c = remote(&RemoteConfig { fallback: Fallback::Local, retries: 0, ..cfg });
    let t0 = Instant::now();
    let s = c.classify(&frame).unwrap();
    assert!(t0.elapsed() < Duration::from_millis(1500), "took {:?}", t0.elapsed());
    assert_same(&local().classify(&frame).unwrap(), &s, "slow server, local fallback");
    assert_eq!(c.counts(), counts(0, 1, 1));
}

#[test]
fn a_server_model_that_does_not_fit_is_a_clear_error() {
    let server = Server::start(free_port(), &["--advertise-shape=-1,3,256,256"]);
    for fallback in [Fallback::Local, Fallback::None] {
        let cfg = RemoteConfig { fallback, ..remote_cfg(&server.url()) };
        let err = RemoteClassifier::new(model(), &cfg, None, None).unwrap_err().to_string();
        assert_eq!(
            err,
            "model vision.remote.model = \"classifier\": the server's input \"image\" has shape [-1, 3, 256, 256]; \
             the model description (input_width = 224, input_height = 224) needs [-1 or 1, 3, 224, 224]"
        );
    }
    // validate-config says so too, naming the key, and fails.
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(dir.path(), &server.url(), "local", None);
    let (code, _, err) = layerwatch(&cfg, &["validate-config"], &[]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("vision.remote.model = \"classifier\"") && err.contains("[-1, 3, 256, 256]"), "{err}");
}

#[test]
fn the_token_is_sent_and_never_printed() {
    const TOKEN: &str = "kserve-bearer-7f3a9c2e";
    let server = Server::start(free_port(), &["--token", TOKEN]);
    let frame = file_frame(1, &samples()[0].0);
    let cfg = RemoteConfig { fallback: Fallback::None, ..remote_cfg(&server.url()) };
    // Without the token the server refuses: not retried, and the error never shows a token.
    let mut c = remote(&cfg);
    let err = c.classify(&frame).unwrap_err().to_string();
    assert!(err.contains("HTTP 400") && err.contains("unauthorized"), "{err}");
    let mut c = remote(&RemoteConfig { token: Some(layerwatch::secret::Secret::new(TOKEN)), ..cfg.clone() });
    c.classify(&frame).unwrap();
    assert_eq!(c.counts(), counts(1, 0, 0));
    assert!(!format!("{c:?}").contains(TOKEN));

    // `layerwatch classify` through the server, logging everything: the scores are the server's, the token
    // is in no line of output.
    let dir = tempfile::tempdir().unwrap();
    let file = write_config(dir.path(), &server.url(), "none", Some(TOKEN));
    let samples = repo().join("datasets/samples");
    let (code, out, err) =
        layerwatch(&file, &["classify", "--json", samples.to_str().unwrap()], &[("RUST_LOG", "trace")]);
    assert_eq!(code, 0, "{err}");
    assert!(!out.contains(TOKEN) && !err.contains(TOKEN), "the token was printed");
    let summary: serde_json::Value = serde_json::from_str(out.lines().last().unwrap()).unwrap();
    let n = summary["decoded"].as_u64().unwrap();
    assert!(n >= 10, "{summary}");
    assert_eq!(summary["remote"], serde_json::json!({"remote_ok": n, "remote_failed": 0, "fell_back": 0}));
    // validate-config --print masks it.
    let (code, out, err) = layerwatch(&file, &["validate-config", "--print"], &[]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("token = \"***\"") && !out.contains(TOKEN), "{out}");
}

#[test]
fn validate_config_warns_when_the_server_is_down_and_fallback_is_local() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("http://127.0.0.1:{}", free_port());
    let (code, _, err) = layerwatch(&write_config(dir.path(), &url, "local", None), &["validate-config"], &[]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("warning: vision.remote.url") && err.contains("scored locally"), "{err}");
    let (code, _, err) = layerwatch(&write_config(dir.path(), &url, "none", None), &["validate-config"], &[]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("vision.remote.url") && err.contains("fallback = \"none\""), "{err}");
}

fn write_config(dir: &Path, url: &str, fallback: &str, token: Option<&str>) -> PathBuf {
    let token = token.map(|t| format!("token = \"{t}\"\n")).unwrap_or_default();
    let text = format!(
        "[general]\ndata_dir = \"{}\"\n\n[vision]\nbackend = \"kserve\"\nort_library = \"{}\"\n\n\
         [vision.remote]\nurl = \"{url}\"\nfallback = \"{fallback}\"\ntimeout_ms = 3000\n{token}",
        dir.join("data").display(),
        require_ort().display()
    );
    let path = dir.join(format!("layerwatch-{fallback}.toml"));
    std::fs::write(&path, text).unwrap();
    path
}

fn layerwatch(config: &Path, args: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_layerwatch"))
        .arg("--config")
        .arg(config)
        .args(args)
        .env("RUST_LOG", "warn")
        .env_remove("LAYERWATCH_KSERVE_TOKEN")
        .envs(env.iter().copied())
        .output()
        .expect("run layerwatch");
    let (o, e) = (String::from_utf8_lossy(&out.stdout).to_string(), String::from_utf8_lossy(&out.stderr).to_string());
    assert!(!e.contains("panicked"), "layerwatch panicked:\n{e}");
    (out.status.code().unwrap_or(-1), o, e)
}
