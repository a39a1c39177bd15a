//! `[mqtt]` and `[printer.light] method = "mqtt"`: ranges, topics, TLS files
//! only with TLS, and the password never shown.

use expect_test::expect;

use super::check;

#[test]
fn mqtt_settings_are_checked_and_name_their_key() {
    check(
        concat!(
            "[mqtt]\nenabled = true\nhost = \"mqtt://broker/\"\nport = 0\npassword = \"hunter2-secret\"\n",
            "ca_file = \"ca.pem\"\nbase_topic = \"farm/#\"\ndiscovery_prefix = \"home/assistant\"\n",
            "keepalive_s = 1\nqos = 2\nclient_cert_file = \"c.pem\"\n",
        ),
        expect![[r#"
            invalid configuration:
              - line 1: mqtt.username = "": is needed with a password (MQTT sends no password alone)
              - line 1: mqtt.client_key_file = "": give client_cert_file and client_key_file together, or neither
              - line 3: mqtt.host = "mqtt://broker/": must be the broker's host name or address (no scheme, no path)
              - line 4: mqtt.port = 0: must be between 1 and 65535
              - line 6: mqtt.ca_file = "ca.pem": is used only with tls = true
              - line 7: mqtt.base_topic = "farm/#": must be a topic without the wildcards + and #
              - line 8: mqtt.discovery_prefix = "home/assistant": must be one topic level without / + # (Home Assistant's default is "homeassistant")
              - line 9: mqtt.keepalive_s = 1: must be between 5 and 3600
              - line 10: mqtt.qos = 2: must be between 0 and 1
              - line 11: mqtt.client_cert_file = "c.pem": is used only with tls = true"#]],
    );
    check("[mqtt]\nenabled = true\nhost = \"broker.lan\"\nusername = \"u\"\npassword = \"p\"\n", expect![["ok"]]);
    check(
        "[mqtt]\nenabled = true\npasword = \"hunter2-secret\"\n",
        expect![[r#"
            invalid configuration:
              - line 3: mqtt.pasword = "hunter2-secret": unknown key `pasword`; the keys here are `enabled`, `host`, `port`, `username`, `password`, `tls`, `ca_file`, `client_cert_file`, `client_key_file`, `client_id`, `base_topic`, `discovery`, `discovery_prefix`, `keepalive_s`, `publish_interval_s`, `live_image_interval_s`, `qos`"#]],
    );
}

#[test]
fn an_mqtt_light_needs_a_topic_and_the_connection() {
    check(
        concat!(
            "[printer]\nkind = \"moonraker\"\n[printer.light]\nmethod = \"mqtt\"\nmqtt_topic = \"z2m/+/set\"\n",
            "mqtt_payload_off = '{\"state\":\"ON\"}'\n",
        ),
        expect![[r#"
            invalid configuration:
              - line 4: printer.light.method = "mqtt": needs the MQTT connection: [mqtt] enabled = true
              - line 5: printer.light.mqtt_topic = "z2m/+/set": must name the light's command topic (no + or #) for method = "mqtt", e.g. "zigbee2mqtt/printer_light/set"
              - line 6: printer.light.mqtt_payload_off = "{\"state\":\"ON\"}": must differ from mqtt_payload_on"#]],
    );
    check(
        concat!(
            "[printer]\nkind = \"moonraker\"\n[printer.light]\nmethod = \"mqtt\"\nmqtt_topic = \"z2m/light/set\"\n",
            "[mqtt]\nenabled = true\n",
        ),
        expect![["ok"]],
    );
}
