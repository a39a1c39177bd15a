//! `Config::redacted_json`: what the dashboard shows never holds a secret.

use crate::config::Config;

#[test]
fn secrets_never_reach_the_json() {
    let toml = r#"
[printer]
kind = "octoprint"
[printer.octoprint]
url = "http://pi:secretpw@octopi.local/"
api_key = "OCTO-KEY-1234567890"
[alerts.webhook]
url = "https://hooks.example/x"
secret = "hook-secret-value"
[alerts.sms]
account_sid = "ACxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
auth_token = "twilio-token-value"
from = "+15550000001"
to = "+15550000002"
[web]
bind = "0.0.0.0:8484"
token = "web-token-0123456789"
"#;
    let cfg = Config::from_toml_str(toml).unwrap();
    let v = cfg.redacted_json();
    let text = serde_json::to_string(&v).unwrap();
    for secret in ["OCTO-KEY-1234567890", "hook-secret-value", "twilio-token-value", "web-token-0123456789", "secretpw"]
    {
        assert!(!text.contains(secret), "{secret} leaked: {text}");
    }
    assert_eq!(v["web"]["token"], "***");
    assert_eq!(v["web"]["bind"], "0.0.0.0:8484");
    assert_eq!(v["printer"]["octoprint"]["url"], "http://***@octopi.local/");
}

/// Issue 13 item 1: tokens in a webhook URL's query or path were shown.
#[test]
fn tokens_in_webhook_urls_are_masked() {
    let toml = r#"
[alerts.webhook]
url = "https://hooks.slack.com/services/T0000/B0000/XyZ1234567890abcdefGHIJ?token=q-secret-1"
[alerts.ntfy]
topic = "printer-room"
"#;
    let cfg = Config::from_toml_str(toml).unwrap();
    let v = cfg.redacted_json();
    assert_eq!(v["alerts"]["webhook"]["url"], "https://hooks.slack.com/services/T0000/B0000/***?token=***");
    let text = serde_json::to_string(&v).unwrap();
    assert!(!text.contains("XyZ1234567890") && !text.contains("q-secret-1"), "{text}");
}

/// Found by the `config_toml` fuzz property: a secret under a misplaced key (`token` in `[printer.octoprint]`) was
/// printed in the "unknown key" error, and so was a URL's password under a misspelt key.
#[test]
fn schema_errors_never_show_a_secret() {
    let toml = "[printer.octoprint]\ntoken = \"9f86d081884c7d659a2feaa0c55ad015\"\nurll = \"http://pi:secretpw@octopi.local/\"\n";
    let err = Config::from_toml_str(toml).unwrap_err().to_string();
    assert!(err.contains("printer.octoprint.token = \"***\": unknown key"), "{err}");
    assert!(err.contains("printer.octoprint.urll") && err.contains("***@octopi.local"), "{err}");
    for secret in ["9f86d081884c7d659a2feaa0c55ad015", "secretpw"] {
        assert!(!err.contains(secret), "{secret} leaked: {err}");
    }
}
