//! OctoPrint's VirtualPrinter (the real peer) behind a pseudo-terminal, driven by
//! `tests/peers/virtual_printer_pty.py` from `.tools/venv-octoprint`.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// A running VirtualPrinter harness; killed on drop.
pub struct VirtualPrinter {
    child: Child,
    stdin: ChildStdin,
    lines: mpsc::Receiver<String>,
    pub dir: tempfile::TempDir,
    /// The stable path the host opens (a symlink to the current pty).
    pub link: PathBuf,
    pub exec_log: PathBuf,
    pub rx_log: PathBuf,
}

fn venv_python() -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let py = root.join(".tools/venv-octoprint/bin/python");
    assert!(
        py.exists(),
        "OctoPrint's venv is missing at {}: run `scripts/setup.sh test` \
         (it installs octoprint into .tools/venv-octoprint)",
        py.display()
    );
    py
}

impl VirtualPrinter {
    /// Starts the harness with VirtualPrinter options (`("sendBusy", "true")`, JSON values).
    pub fn start(options: &[(&str, &str)]) -> Self {
        Self::start_with(options, None)
    }

    /// Like `start`, with raw bytes the "board" prints before its boot banner.
    pub fn start_with(options: &[(&str, &str)], junk_hex: Option<&str>) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let link = dir.path().join("ttyVIRTUAL");
        let exec_log = dir.path().join("exec.log");
        let rx_log = dir.path().join("rx.log");
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/peers/virtual_printer_pty.py");
        let mut cmd = Command::new(venv_python());
        cmd.arg(&script)
            .arg("--link")
            .arg(&link)
            .arg("--basedir")
            .arg(dir.path().join("octoprint"))
            .arg("--exec-log")
            .arg(&exec_log)
            .arg("--rx-log")
            .arg(&rx_log);
        for (k, v) in options {
            cmd.arg("--set").arg(format!("{k}={v}"));
        }
        if let Some(j) = junk_hex {
            cmd.arg("--junk").arg(j);
        }
        cmd.stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        let mut child = cmd.spawn().expect("start the VirtualPrinter harness");
        let stdin = child.stdin.take().expect("stdin");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut vp = VirtualPrinter {
            child,
            stdin,
            lines: rx,
            dir,
            link,
            exec_log,
            rx_log,
        };
        let ready = vp.expect_line("READY", Duration::from_secs(30));
        assert!(ready.starts_with("READY /dev/"), "harness said {ready:?}");
        vp
    }

    fn expect_line(&mut self, prefix: &str, timeout: Duration) -> String {
        let deadline = std::time::Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(l) if l.starts_with(prefix) => return l,
                Ok(_) => continue,
                Err(_) => panic!("VirtualPrinter harness did not say {prefix:?} within {timeout:?}"),
            }
        }
    }

    /// Sends a control command (see the harness's doc) and waits until it is done.
    pub fn control(&mut self, cmd: &str) {
        writeln!(self.stdin, "{cmd}").expect("write to harness");
        self.stdin.flush().expect("flush harness stdin");
        let word = cmd.split_whitespace().next().unwrap_or("");
        if word == "replug" {
            self.expect_line("PLUGGED", Duration::from_secs(10));
        }
        self.expect_line(&format!("DONE {cmd}"), Duration::from_secs(10));
    }

    /// Commands the firmware executed so far, in order.
    pub fn executed(&self) -> Vec<String> {
        std::fs::read_to_string(&self.exec_log)
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect()
    }

    /// Raw lines the firmware received so far.
    pub fn received(&self) -> Vec<String> {
        std::fs::read_to_string(&self.rx_log)
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect()
    }
}

impl Drop for VirtualPrinter {
    fn drop(&mut self) {
        let _ = writeln!(self.stdin, "quit");
        let _ = self.stdin.flush();
        for _ in 0..20 {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
