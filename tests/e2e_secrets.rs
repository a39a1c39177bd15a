//! Issue 13 item 1 through the real binary: `validate-config --print` showed
//! `printer.octoprint.api_key`, `printer.moonraker.api_key`, `web.token` and URL
//! passwords in clear text, and `run` logged an OctoPrint URL's `user:password`.
//! Every secret of the config below must be absent from everything printed.

use std::process::{Command, Stdio};
use std::time::Duration;

const SECRETS: [&str; 7] = [
    "raspberry-pw",
    "OCTO0123456789KEY",
    "MOON0123456789KEY",
    "Zq8-web-token-9f86d0818",
    "hook-secret-value",
    "XyZ1234567890abcdefGHIJ",
    "q-secret-1",
];

fn config(dir: &std::path::Path, port: u16) -> std::path::PathBuf {
    let p = dir.join("layerwatch.toml");
    std::fs::write(
        &p,
        format!(
            r#"[general]
data_dir = "data"
[camera]
source = "folder"
path = "frames"
[printer]
kind = "octoprint"
[printer.octoprint]
url = "http://pi:raspberry-pw@127.0.0.1:{port}/"
api_key = "OCTO0123456789KEY"
[printer.moonraker]
url = "http://127.0.0.1:{port}"
api_key = "MOON0123456789KEY"
[alerts.webhook]
url = "https://hooks.slack.com/services/T0000/B0000/XyZ1234567890abcdefGHIJ?token=q-secret-1"
secret = "hook-secret-value"
[web]
bind = "127.0.0.1:0"
token = "Zq8-web-token-9f86d0818"
"#
        ),
    )
    .unwrap();
    std::fs::create_dir_all(dir.join("frames")).unwrap();
    p
}

fn leaked(text: &str) -> Vec<&'static str> {
    SECRETS.iter().copied().filter(|s| text.contains(s)).collect()
}

#[test]
fn validate_config_print_masks_every_secret() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = config(tmp.path(), 9);
    let out = Command::new(env!("CARGO_BIN_EXE_layerwatch"))
        .args(["validate-config", "--print", cfg.to_str().unwrap()])
        .output()
        .unwrap();
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert_eq!(leaked(&stdout), Vec::<&str>::new(), "{stdout}");
    assert!(stdout.contains("api_key = \"***\""), "{stdout}");
    assert!(stdout.contains("url = \"http://***@127.0.0.1:9/\""), "{stdout}");
    assert!(stdout.contains("/services/T0000/B0000/***?token=***"), "{stdout}");
    let reparsed: toml::Value = toml::from_str(stdout.split_once('\n').unwrap().1).expect("--print is TOML");
    assert_eq!(reparsed["web"]["token"].as_str(), Some("***"));
}

#[test]
fn run_logs_mask_the_octoprint_password() {
    let tmp = tempfile::tempdir().unwrap();
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let cfg = config(tmp.path(), closed);
    let child = Command::new(env!("CARGO_BIN_EXE_layerwatch"))
        .args(["--config", cfg.to_str().unwrap(), "-v", "run"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_secs(4));
    // SAFETY: plain signal to our own child process.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let out = child.wait_with_output().unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(text.contains("127.0.0.1"), "the link is logged at all:\n{text}");
    assert_eq!(leaked(&text), Vec::<&str>::new(), "{text}");
}
