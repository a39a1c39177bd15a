//! What `run` needs from the machine is checked up front (issue 13 item 5):
//! `validate-config` reports a missing model, calibration, data folder or
//! serial port with the file's own problems, and `run` stops at once with one
//! clear error instead of crash-looping the vision stage. Also through the real
//! binary: an OS error is not printed twice, and logs to a pipe carry no
//! ANSI colour codes (issue 13 item 7).

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

fn layerwatch(args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_layerwatch"));
    c.args(args).env_remove("LAYERWATCH_CONFIG").env_remove("NO_COLOR");
    c
}

fn run(mut c: Command) -> (i32, String, String) {
    let out = c.output().expect("run layerwatch");
    let (o, e) = (String::from_utf8_lossy(&out.stdout).to_string(), String::from_utf8_lossy(&out.stderr).to_string());
    assert!(!e.contains("panicked"), "layerwatch panicked:\n{e}");
    (out.status.code().unwrap_or(-1), o, e)
}

fn config(dir: &Path) -> std::path::PathBuf {
    let cfg = dir.join("layerwatch.toml");
    std::fs::write(
        &cfg,
        "[general]\ndata_dir = \"data\"\n\
         [vision]\nmodel = \"models/missing.toml\"\n\
         [decision]\ncalibration = \"cal/none.toml\"\n\
         [printer]\nkind = \"marlin\"\n[printer.serial]\npath = \"/dev/ttyLAYERWATCH-NONE\"\n",
    )
    .unwrap();
    cfg
}

#[test]
fn validate_config_reports_what_run_would_fail_on_and_run_fails_fast() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = config(tmp.path());
    let root = tmp.path().display().to_string();
    let (code, out, err) = run(layerwatch(&["validate-config", cfg.to_str().unwrap()]));
    assert_eq!(code, 1, "stdout:\n{out}\nstderr:\n{err}");
    expect_test::expect![[r#"
        $TMP/layerwatch.toml: invalid configuration:
          - vision.model = "$TMP/models/missing.toml": cannot be used: it does not exist
          - decision.calibration = "$TMP/cal/none.toml": cannot be read: it does not exist
          - printer.serial.path = "/dev/ttyLAYERWATCH-NONE": cannot be used: it does not exist (is the printer plugged in?)
    "#]]
    .assert_eq(&err.replace(&root, "$TMP"));

    let started = Instant::now();
    let (code, _, err) = run(layerwatch(&["--config", cfg.to_str().unwrap(), "run"]));
    assert!(started.elapsed() < Duration::from_secs(20), "run took {:?}", started.elapsed());
    assert_eq!(code, 2, "{err}");
    let errors: Vec<&str> = err.lines().filter(|l| l.starts_with("error:")).collect();
    assert_eq!(errors.len(), 1, "one error:\n{err}");
    assert!(errors[0].starts_with("error: cannot start: "), "{err}");
    assert!(err.contains("vision.model = "), "{err}");
    assert!(!err.contains("restart"), "no stage was started:\n{err}");
    assert!(!tmp.path().join("data").exists(), "nothing was created before the check");
}

#[test]
fn an_os_error_is_printed_once_and_logs_to_a_pipe_have_no_colour() {
    let tmp = tempfile::tempdir().unwrap();
    let missing = tmp.path().join("nope.toml");
    let (code, _, err) = run(layerwatch(&["--config", missing.to_str().unwrap(), "run"]));
    assert_eq!(code, 2);
    assert_eq!(err.matches("No such file or directory").count(), 1, "{err}");

    // A warning is logged (folder camera with no images) on stderr, a pipe here.
    let frames = tmp.path().join("frames");
    std::fs::create_dir(&frames).unwrap();
    let cfg = tmp.path().join("c.toml");
    std::fs::write(&cfg, format!("[camera]\nsource = \"folder\"\npath = {:?}\n", frames.display().to_string())).unwrap();
    let mut c = layerwatch(&["--config", cfg.to_str().unwrap(), "record", "--out"]);
    c.arg(tmp.path().join("rec")).arg("--duration").arg("1s");
    let (_, _, err) = run(c);
    assert!(err.contains("WARN"), "a log line was expected:\n{err}");
    assert!(!err.contains('\u{1b}'), "ANSI escape codes on a pipe:\n{err:?}");
}
