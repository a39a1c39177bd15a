//! `[alerts]`: channels, their keys and values, and secrets that never print.

use expect_test::expect;

use crate::config::Config;

#[test]
fn channel_errors_name_key_and_value() {
    let toml = r#"
[alerts.webhook]
url = "ftp://x"
snapshot = "url"
headers = { "Bad Header" = "v" }
[alerts.sms]
account_sid = "AC123"
auth_token = "tok"
from = "5551234"
to = "+1555123456789012"
[alerts.ntfy]
topic = "my topic"
[alerts.telegram]
bot_token = "1:abc"
chat_id = "me"
min_level = "ok"
"#;
    let err = Config::from_toml_str(toml).unwrap_err();
    expect![[r#"
        invalid configuration:
          - line 3: alerts.webhook.url = "ftp://x": must be an http:// or https:// URL
          - line 4: alerts.webhook.snapshot = "url": needs alerts.public_url (or use "embed")
          - line 5: alerts.webhook.headers = "Bad Header": is not a valid header name
          - line 9: alerts.sms.from = "5551234": must be a phone number in E.164 form, like +15551234567
          - line 10: alerts.sms.to = "+1555123456789012": must be a phone number in E.164 form, like +15551234567
          - line 12: alerts.ntfy.topic = "my topic": must be 1-64 characters of A-Z, a-z, 0-9, - and _
          - line 15: alerts.telegram.chat_id = "me": must be a numeric chat id or @channelname
          - line 16: alerts.telegram.min_level = "ok": must be "warning" or "failure""#]]
    .assert_eq(&err.to_string());
}

#[test]
fn secrets_do_not_print() {
    let toml = "[alerts.telegram]\nbot_token = \"123456:very-secret\"\nchat_id = \"42\"\n\
                [alerts.webhook]\nurl = \"http://127.0.0.1:9/x\"\nsecret = \"s3cr3t-key\"\n\
                headers = { Authorization = \"Bearer zzz-top\" }\n";
    let cfg = Config::from_toml_str(toml).unwrap();
    let printed = toml::to_string_pretty(&cfg).unwrap();
    let debug = format!("{cfg:?}");
    for s in ["very-secret", "s3cr3t-key", "zzz-top"] {
        assert!(!printed.contains(s), "{s} in --print output:\n{printed}");
        assert!(!debug.contains(s), "{s} in Debug output");
    }
}
