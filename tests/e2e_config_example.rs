//! `config.example.toml` stays true: the real binary's `validate-config`
//! accepts it, and it shows every key that has a default with that default's
//! value (so a new config key, or a changed default, fails here until the
//! example documents it).

use std::path::Path;
use std::process::Command;

use toml::Value;

fn example_path() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("config.example.toml")
}

#[test]
fn the_example_config_passes_validate_config() {
    // The example's SMS channel names its credentials in the file; the environment must not matter.
    let out = Command::new(env!("CARGO_BIN_EXE_layerwatch"))
        .arg("--config")
        .arg(example_path())
        .arg("validate-config")
        .env_remove("TWILIO_ACCOUNT_SID")
        .env_remove("TWILIO_AUTH_TOKEN")
        .output()
        .expect("run layerwatch validate-config");
    assert!(
        out.status.success(),
        "validate-config rejected config.example.toml ({:?}):\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Every leaf of `defaults` is in `example` with the same value; returns the misses.
fn missing(prefix: &str, defaults: &Value, example: Option<&Value>, out: &mut Vec<String>) {
    match defaults {
        Value::Table(t) => {
            for (k, v) in t {
                let path = if prefix.is_empty() { k.clone() } else { format!("{prefix}.{k}") };
                let sub = example.and_then(|e| e.as_table()).and_then(|e| e.get(k));
                missing(&path, v, sub, out);
            }
        }
        leaf => match example {
            None => out.push(format!("{prefix} (default {leaf}) is not shown")),
            Some(e) if !same(leaf, e) => out.push(format!("{prefix} shows {e}, the default is {leaf}")),
            Some(_) => {}
        },
    }
}

fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Float(x), Value::Float(y)) => (x - y).abs() < 1e-6,
        (Value::Float(x), Value::Integer(y)) | (Value::Integer(y), Value::Float(x)) => (x - *y as f64).abs() < 1e-6,
        _ => a == b,
    }
}

#[test]
fn the_example_config_shows_every_default() {
    let text = std::fs::read_to_string(example_path()).expect("read config.example.toml");
    let example: Value = toml::from_str(&text).expect("config.example.toml is TOML");
    let defaults = Value::try_from(layerwatch::config::Config::default()).expect("defaults serialise");
    let mut misses = Vec::new();
    missing("", &defaults, Some(&example), &mut misses);
    assert!(misses.is_empty(), "config.example.toml is out of date:\n{}", misses.join("\n"));
}
