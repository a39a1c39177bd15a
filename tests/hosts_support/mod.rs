//! Test support for the print-host links: real peers started as child
//! processes (OctoPrint, Moonraker, the Klipper stand-in), always killed at
//! the end, plus status recording and waiting helpers.
//!
//! Children are spawned from one long-lived thread with `PR_SET_PDEATHSIG`
//! and in their own process group: a guard kills the group on drop (also on
//! panic), and the kernel kills a child if the test binary dies without
//! running destructors.
#![allow(dead_code)]

pub mod moonraker;
pub mod octoprint;
pub mod proxy;

use std::io;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc as std_mpsc;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use layerwatch::domain::{PrinterState, PrinterStatus};
use tokio::sync::watch;

/// `<repo>/.tools/<rel>`, or a panic that says how to install it.
pub fn tool(rel: &str) -> PathBuf {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join(".tools").join(rel);
    assert!(
        p.exists(),
        "{} is missing: run `scripts/setup.sh test` (it installs the test peers into .tools/)",
        p.display()
    );
    p
}

/// A file under `tests/hosts_support/` (fixtures shipped with these tests).
pub fn fixture(rel: &str) -> PathBuf {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/hosts_support").join(rel);
    assert!(p.exists(), "fixture {} is missing", p.display());
    p
}

/// Test logs: `RUST_LOG=layerwatch=debug cargo test …` shows the links' tracing output.
pub fn init_logs() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "off".into());
    let _ = tracing_subscriber::fmt().with_test_writer().with_env_filter(filter).try_init();
}

/// A plain HTTP client for driving the peers (installs the rustls provider reqwest needs).
pub fn http_client() -> reqwest::Client {
    layerwatch::net::install_tls_provider();
    reqwest::Client::builder().timeout(Duration::from_secs(20)).build().expect("http client")
}

/// A TCP port on 127.0.0.1 that was free a moment ago.
pub fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    l.local_addr().expect("local addr").port()
}

type SpawnRequest = (Command, std_mpsc::Sender<io::Result<Child>>);

/// Spawns `cmd` from a thread that lives as long as the test binary, in a new
/// process group, with SIGKILL as its parent-death signal.
pub fn spawn(mut cmd: Command) -> io::Result<Child> {
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
        std::thread::Builder::new()
            .name("peer-spawner".into())
            .spawn(move || {
                for (mut cmd, reply) in rx {
                    let _ = reply.send(cmd.spawn());
                }
                // The sender lives in a static, so this thread never ends.
            })
            .expect("spawn the peer-spawner thread");
        Mutex::new(tx)
    });
    let (reply_tx, reply_rx) = std_mpsc::channel();
    tx.lock().unwrap_or_else(|e| e.into_inner()).send((cmd, reply_tx)).expect("peer-spawner alive");
    reply_rx.recv().expect("peer-spawner replied")
}

/// A child process group, killed (SIGKILL) when dropped.
pub struct ChildGuard {
    pub name: String,
    child: Option<Child>,
    pub log: PathBuf,
}

impl ChildGuard {
    /// Starts `cmd` with stdout and stderr appended to `log`.
    pub fn start(name: &str, mut cmd: Command, log: &Path) -> ChildGuard {
        let out = std::fs::OpenOptions::new().create(true).append(true).open(log).expect("open peer log");
        let err = out.try_clone().expect("clone log handle");
        cmd.stdin(Stdio::null()).stdout(out).stderr(err);
        let child = spawn(cmd).unwrap_or_else(|e| panic!("cannot start {name}: {e}"));
        ChildGuard { name: name.to_string(), child: Some(child), log: log.to_path_buf() }
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().map(|c| c.id()).unwrap_or(0)
    }

    /// `Some(status)` once the process has exited.
    pub fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child.as_mut().and_then(|c| c.try_wait().ok().flatten())
    }

    /// Kills the whole group now and waits for the leader.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            // SAFETY: plain syscall; a negative pid addresses the process group we created.
            unsafe {
                libc::kill(-(c.id() as i32), libc::SIGKILL);
            }
            let _ = c.wait();
        }
    }

    /// The last `n` lines of the peer's log, for failure messages.
    pub fn log_tail(&self, n: usize) -> String {
        log_tail(&self.log, n)
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        self.kill();
    }
}

pub fn log_tail(path: &Path, n: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// Polls `f` every 50 ms until it returns `Some`, or panics after `timeout` with `what`.
pub async fn eventually<T>(timeout: Duration, what: &str, mut f: impl AsyncFnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(start.elapsed() < timeout, "timed out after {timeout:?} waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits until the published status satisfies `pred`; panics with the last status otherwise.
pub async fn wait_status(
    rx: &mut watch::Receiver<PrinterStatus>,
    timeout: Duration,
    what: &str,
    pred: impl Fn(&PrinterStatus) -> bool,
) -> PrinterStatus {
    let got = tokio::time::timeout(timeout, rx.wait_for(|s| pred(s))).await.map(|r| r.map(|s| s.clone()));
    match got {
        Ok(Ok(s)) => s,
        Ok(Err(_)) => panic!("status channel closed while waiting for {what}"),
        Err(_) => panic!("timed out after {timeout:?} waiting for {what}; last status: {:?}", *rx.borrow()),
    }
}

/// Every status a link published, in order, recorded by a background task.
pub struct Recorder {
    seen: Arc<Mutex<Vec<PrinterStatus>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Recorder {
    pub fn start(mut rx: watch::Receiver<PrinterStatus>) -> Recorder {
        let seen = Arc::new(Mutex::new(vec![rx.borrow_and_update().clone()]));
        let sink = seen.clone();
        let task = tokio::spawn(async move {
            while rx.changed().await.is_ok() {
                let s = rx.borrow_and_update().clone();
                sink.lock().unwrap_or_else(|e| e.into_inner()).push(s);
            }
        });
        Recorder { seen, task }
    }

    pub fn all(&self) -> Vec<PrinterStatus> {
        self.seen.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// State names in order, consecutive duplicates collapsed.
    pub fn state_names(&self) -> Vec<&'static str> {
        let mut out: Vec<&'static str> = Vec::new();
        for s in self.all() {
            let n = s.state.name();
            if out.last() != Some(&n) {
                out.push(n);
            }
        }
        out
    }

    /// The layer of every status with an active job (printing/paused…), in order.
    pub fn layers(&self) -> Vec<u32> {
        self.all()
            .iter()
            .filter(|s| {
                matches!(
                    s.state,
                    PrinterState::Printing { .. } | PrinterState::Pausing { .. } | PrinterState::Paused { .. }
                )
            })
            .filter_map(|s| s.state.job().and_then(|j| j.layer))
            .collect()
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Asserts `v` never decreases, naming the first step back.
pub fn assert_monotonic(what: &str, v: &[u32]) {
    if let Some(w) = v.windows(2).find(|w| w[1] < w[0]) {
        panic!("{what} went backwards ({} → {}) in {v:?}", w[0], w[1]);
    }
}

/// Removes leftovers of earlier runs (`<prefix>*` older than an hour) under `dir`.
pub fn sweep_old(dir: &Path, prefix: &str) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for e in entries.flatten() {
        let old = e
            .metadata()
            .and_then(|m| m.modified())
            .is_ok_and(|t| t.elapsed().is_ok_and(|a| a > Duration::from_secs(3600)));
        if old && e.file_name().to_string_lossy().starts_with(prefix) {
            let _ = std::fs::remove_dir_all(e.path());
        }
    }
}
