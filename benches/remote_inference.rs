//! Local vs remote inference, side by side in one run: the same sample frames scored by `OnnxClassifier`
//! (ONNX Runtime in this process) and by `RemoteClassifier` (a KServe v2 server, `KSERVE_URL`; the tensor as
//! JSON numbers and as binary), in alternating rounds so all see the same machine load. Per backend: frames
//! per wall-clock second, per-frame latency (p50, p95, p99: decode + preprocess + inference, and for remote the HTTP round trip),
//! this process's CPU per frame, and the server's CPU per frame (`KSERVE_PID`, from /proc).
//!
//! Run by `scripts/bench_remote.sh`, which starts the server; by hand:
//! `KSERVE_URL=http://127.0.0.1:8080 KSERVE_PID=<pid> cargo bench --bench remote_inference`.
//! `BENCH_SECONDS` (default 20): alternate rounds run for about twice that in all. Prints one JSON line per backend last.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use layerwatch::domain::{Frame, FrameImage, Timestamp};
use layerwatch::vision::{
    Classifier, ClassifierOptions, Fallback, Model, OnnxClassifier, RemoteClassifier, RemoteConfig,
};

fn cpu_self() -> Duration {
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: getrusage writes into the struct we own.
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) };
    let t = |tv: libc::timeval| Duration::from_secs(tv.tv_sec as u64) + Duration::from_micros(tv.tv_usec as u64);
    t(ru.ru_utime) + t(ru.ru_stime)
}

/// utime + stime of a process (and its reaped children) from /proc, in clock ticks converted to time.
fn cpu_of(pid: Option<u32>) -> Option<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{}/stat", pid?)).ok()?;
    let after = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = after.split_whitespace().collect();
    let ticks: u64 = f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?;
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
    Some(Duration::from_micros(ticks * 1_000_000 / hz))
}

#[derive(Default)]
struct Stats {
    latencies_ms: Vec<f64>,
    wall: Duration,
    cpu: Duration,
    server_cpu: Duration,
}

impl Stats {
    fn report(&mut self, name: &str, with_server: bool) -> String {
        self.latencies_ms.sort_by(|a, b| a.total_cmp(b));
        let n = self.latencies_ms.len().max(1);
        let pct = |p: f64| self.latencies_ms[((n as f64 * p).ceil() as usize).clamp(1, n) - 1];
        let per = |d: Duration| d.as_secs_f64() * 1e3 / n as f64;
        let server = if with_server {
            format!(", \"server_cpu_ms_per_frame\": {:.2}", per(self.server_cpu))
        } else {
            String::new()
        };
        format!(
            "{{\"backend\": \"{name}\", \"frames\": {n}, \"frames_per_s\": {:.1}, \"p50_ms\": {:.2}, \"p95_ms\": {:.2}, \
             \"p99_ms\": {:.2}, \"client_cpu_ms_per_frame\": {:.2}{server}}}",
            n as f64 / self.wall.as_secs_f64(),
            pct(0.50),
            pct(0.95),
            pct(0.99),
            per(self.cpu),
        )
    }
}

/// The sample frames (`datasets/samples/labels.csv`: 320×320 JPEGs from the labelled dataset).
fn frames(dir: &Path) -> Vec<Frame> {
    let mut rdr = csv::Reader::from_path(dir.join("labels.csv")).expect("datasets/samples/labels.csv");
    let paths: Vec<PathBuf> = rdr.records().map(|r| dir.join(&r.expect("csv row")[0])).collect();
    assert!(!paths.is_empty(), "no sample frames in {}", dir.display());
    paths
        .iter()
        .enumerate()
        .map(|(i, p)| Frame {
            seq: i as u64,
            captured_at: Timestamp::from_millis(0),
            source: Arc::from("bench"),
            image: FrameImage::Jpeg(std::fs::read(p).expect("read sample").into()),
        })
        .collect()
}

fn round(c: &mut dyn Classifier, frames: &[Frame], s: &mut Stats, server: Option<u32>) {
    let (cpu0, srv0, t0) = (cpu_self(), cpu_of(server), Instant::now());
    for f in frames {
        let t = Instant::now();
        c.classify(f).expect("classify");
        s.latencies_ms.push(t.elapsed().as_secs_f64() * 1e3);
    }
    s.wall += t0.elapsed();
    s.cpu += cpu_self().saturating_sub(cpu0);
    if let (Some(a), Some(b)) = (srv0, cpu_of(server)) {
        s.server_cpu += b.saturating_sub(a);
    }
}

fn main() {
    if std::env::args().any(|a| a == "--list" || a == "--test") {
        return; // `cargo test --all-targets` / `cargo bench -- --list`: nothing to list
    }
    let Ok(url) = std::env::var("KSERVE_URL") else {
        eprintln!("remote_inference: set KSERVE_URL (scripts/bench_remote.sh starts a server and does)");
        return;
    };
    let server_pid = std::env::var("KSERVE_PID").ok().and_then(|p| p.parse().ok());
    let seconds: f64 = std::env::var("BENCH_SECONDS").ok().and_then(|s| s.parse().ok()).unwrap_or(20.0);
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let frames = frames(&root.join("datasets/samples"));
    let opts = ClassifierOptions { threads: 1, ..ClassifierOptions::default() };
    let mut local = OnnxClassifier::new(Model::built_in().expect("model"), &opts).expect("local classifier");
    let cfg = RemoteConfig { url, timeout_ms: 10_000, retries: 0, fallback: Fallback::None, ..RemoteConfig::default() };
    let remote = |binary_tensors| {
        let cfg = RemoteConfig { binary_tensors, ..cfg.clone() };
        RemoteClassifier::new(Model::built_in().expect("model"), &cfg, None, None).expect("remote")
    };
    let (mut json, mut binary) = (remote(false), remote(true));
    // Warm all three (first requests open the connection, first inferences allocate).
    for _ in 0..2 {
        round(&mut local, &frames, &mut Stats::default(), None);
        round(&mut json, &frames, &mut Stats::default(), None);
        round(&mut binary, &frames, &mut Stats::default(), None);
    }
    let (mut l, mut j, mut b) = (Stats::default(), Stats::default(), Stats::default());
    let budget = Duration::from_secs_f64(seconds);
    // Alternate rounds (same number for each backend) for about three times the budget in all.
    while l.wall + j.wall + b.wall < 3 * budget {
        round(&mut local, &frames, &mut l, None);
        round(&mut json, &frames, &mut j, server_pid);
        round(&mut binary, &frames, &mut b, server_pid);
    }
    for c in [json.counts(), binary.counts()] {
        assert_eq!((c.remote_failed, c.fell_back), (0, 0), "every remote frame must be the server's: {c:?}");
    }
    println!("{}", l.report("local", false));
    println!("{}", j.report("kserve-json", server_pid.is_some()));
    println!("{}", b.report("kserve-binary", server_pid.is_some()));
}
