"""An MQTT client for layerwatch's MQTT tests (paho-mqtt, from .tools/venv-mqtt),
independent of the crate's own client. Three commands:

    python mqtt_peer.py --port P [--user U] [--password-env VAR] [--cafile CA] discovery \
        --prefix homeassistant --node NODE --expect N [--timeout S]
        Collects the retained discovery configs under <prefix>/+/<node>/+/config and
        checks each against Home Assistant's MQTT discovery schema (the facts below);
        prints one JSON report {"ok", "count", "platforms", "problems", "configs"};
        exit 0 when every config passed, 1 otherwise.

    python mqtt_peer.py --port P watch TOPIC [TOPIC ...]
        Prints each message as a JSON line {"topic", "retain", "text" or "b64", "len"}
        (flushed), after a first line {"subscribed": true}; runs until killed.

    python mqtt_peer.py --port P press TOPIC [PAYLOAD]
        Publishes PAYLOAD (default PRESS, Home Assistant's default payload_press) at QoS 1.

The schema facts are Home Assistant's documented MQTT discovery rules
(https://www.home-assistant.io/integrations/mqtt/#mqtt-discovery and the pages of
each platform: sensor.mqtt, binary_sensor.mqtt, button.mqtt, image.mqtt), as of
Home Assistant 2025: the discovery topic's shape, the keys each platform accepts
(abbreviations expanded first), the required ones, the device and origin blocks,
and the allowed device classes, state classes and units used here.
"""
import argparse
import base64
import json
import os
import re
import sys
import threading
import time

import paho.mqtt.client as mqtt

# --- Home Assistant's schema facts -------------------------------------------------

# Discovery topic: <discovery_prefix>/<component>/[<node_id>/]<object_id>/config,
# node_id and object_id limited to [a-zA-Z0-9_-].
TOPIC_RE = re.compile(r"^(?P<prefix>[^/+#]+)/(?P<component>[a-z_]+)/(?:(?P<node>[a-zA-Z0-9_-]+)/)?(?P<object>[a-zA-Z0-9_-]+)/config$")

# A subset of the documented abbreviations (the ones a payload for these platforms may use).
ABBREVIATIONS = {
    "avty": "availability", "avty_mode": "availability_mode", "avty_t": "availability_topic",
    "avty_tpl": "availability_template", "cmd_t": "command_topic", "cmd_tpl": "command_template",
    "cont_type": "content_type", "dev": "device", "dev_cla": "device_class", "e": "encoding",
    "en": "enabled_by_default", "ent_cat": "entity_category", "ent_pic": "entity_picture",
    "exp_aft": "expire_after", "frc_upd": "force_update", "ic": "icon", "img_e": "image_encoding",
    "img_t": "image_topic", "json_attr_t": "json_attributes_topic", "json_attr_tpl": "json_attributes_template",
    "lrst_val_tpl": "last_reset_value_template", "o": "origin", "obj_id": "object_id", "def_ent_id": "default_entity_id",
    "off_dly": "off_delay", "ops": "options", "p": "platform", "pl_avail": "payload_available",
    "pl_not_avail": "payload_not_available", "pl_off": "payload_off", "pl_on": "payload_on",
    "pl_prs": "payload_press", "qos": "qos", "ret": "retain", "stat_cla": "state_class", "stat_t": "state_topic",
    "sug_dsp_prc": "suggested_display_precision", "uniq_id": "unique_id", "unit_of_meas": "unit_of_measurement",
    "url_t": "url_topic", "url_tpl": "url_template", "val_tpl": "value_template",
}
DEVICE_ABBREVIATIONS = {
    "cns": "connections", "ids": "identifiers", "name": "name", "mf": "manufacturer", "mdl": "model",
    "mdl_id": "model_id", "hw": "hw_version", "sw": "sw_version", "sa": "suggested_area",
    "sn": "serial_number", "cu": "configuration_url", "via_device": "via_device",
}
ORIGIN_ABBREVIATIONS = {"name": "name", "sw": "sw_version", "url": "support_url"}

# Keys every MQTT entity accepts (MQTT_ENTITY_COMMON_SCHEMA + availability + discovery's own).
COMMON = {
    "availability", "availability_mode", "availability_template", "availability_topic",
    "payload_available", "payload_not_available", "device", "enabled_by_default", "encoding",
    "entity_category", "entity_picture", "icon", "json_attributes_template", "json_attributes_topic",
    "name", "object_id", "default_entity_id", "unique_id", "qos", "origin", "platform",
}
PLATFORMS = {
    "sensor": {
        "required": ["state_topic"],
        "optional": {"device_class", "expire_after", "force_update", "last_reset_value_template", "options",
                     "suggested_display_precision", "state_class", "unit_of_measurement", "value_template"},
    },
    "binary_sensor": {
        "required": ["state_topic"],
        "optional": {"device_class", "expire_after", "force_update", "off_delay", "payload_off", "payload_on",
                     "value_template"},
    },
    "button": {
        "required": ["command_topic"],
        "optional": {"command_template", "device_class", "payload_press", "retain"},
    },
    "image": {
        "required": [],  # exactly one of image_topic / url_topic, checked below
        "optional": {"content_type", "image_encoding", "image_topic", "url_template", "url_topic"},
    },
}
DEVICE_KEYS = set(DEVICE_ABBREVIATIONS.values())
ORIGIN_KEYS = set(ORIGIN_ABBREVIATIONS.values())
SENSOR_DEVICE_CLASSES = {
    "apparent_power", "aqi", "area", "atmospheric_pressure", "battery", "blood_glucose_concentration",
    "carbon_dioxide", "carbon_monoxide", "current", "data_rate", "data_size", "date", "distance", "duration",
    "energy", "energy_distance", "energy_storage", "enum", "frequency", "gas", "humidity", "illuminance",
    "irradiance", "moisture", "monetary", "nitrogen_dioxide", "nitrogen_monoxide", "nitrous_oxide", "ozone",
    "ph", "pm1", "pm10", "pm25", "power", "power_factor", "precipitation", "precipitation_intensity",
    "pressure", "reactive_power", "signal_strength", "sound_pressure", "speed", "sulphur_dioxide",
    "temperature", "timestamp", "volatile_organic_compounds", "volatile_organic_compounds_parts", "voltage",
    "volume", "volume_flow_rate", "volume_storage", "water", "weight", "wind_direction", "wind_speed",
}
BINARY_DEVICE_CLASSES = {
    "battery", "battery_charging", "carbon_monoxide", "cold", "connectivity", "door", "garage_door", "gas",
    "heat", "light", "lock", "moisture", "motion", "moving", "occupancy", "opening", "plug", "power",
    "presence", "problem", "running", "safety", "smoke", "sound", "tamper", "update", "vibration", "window",
}
BUTTON_DEVICE_CLASSES = {"identify", "restart", "update"}
STATE_CLASSES = {"measurement", "measurement_angle", "total", "total_increasing"}
# Units Home Assistant accepts for the device classes used here.
UNITS = {"temperature": {"°C", "°F", "K"}, "duration": {"d", "h", "min", "s", "ms", "µs"}}
ENTITY_CATEGORIES = {"config", "diagnostic"}


def expand(d, table):
    return {table.get(k, k): v for k, v in d.items()}


def valid_topic(t, wildcards=False):
    return isinstance(t, str) and 0 < len(t) < 65536 and "\0" not in t and (wildcards or not re.search(r"[+#]", t))


def check_config(topic, payload, retained):
    """Problems with one discovery message (empty when it follows the schema)."""
    problems = []
    m = TOPIC_RE.match(topic)
    if not m:
        return [f"{topic}: not a discovery topic <prefix>/<component>/[<node_id>/]<object_id>/config"]
    platform = m.group("component")
    if platform not in PLATFORMS:
        return [f"{topic}: platform {platform!r} is not checked here"]
    if not retained:
        problems.append(f"{topic}: discovery configs must be retained")
    try:
        cfg = json.loads(payload)
    except ValueError as e:
        return problems + [f"{topic}: payload is not JSON: {e}"]
    if not isinstance(cfg, dict):
        return problems + [f"{topic}: payload is not a JSON object"]
    cfg = expand(cfg, ABBREVIATIONS)
    spec = PLATFORMS[platform]
    allowed = COMMON | spec["optional"] | set(spec["required"])
    for k in cfg:
        if k not in allowed and k != "~":
            problems.append(f"{topic}: key {k!r} is not in the {platform} schema")
    for k in spec["required"]:
        if k not in cfg:
            problems.append(f"{topic}: required key {k!r} is missing")
    base = cfg.get("~")
    def topic_of(k):
        v = cfg.get(k)
        if isinstance(v, str) and base is not None:
            v = v.replace("~", base) if v.startswith("~") or v.endswith("~") else v
        return v
    for k in ("state_topic", "command_topic", "availability_topic", "image_topic", "url_topic",
              "json_attributes_topic"):
        if k in cfg and not valid_topic(topic_of(k)):
            problems.append(f"{topic}: {k} {cfg[k]!r} is not a valid topic (no wildcards)")
    if platform == "image":
        has = [k for k in ("image_topic", "url_topic") if k in cfg]
        if len(has) != 1:
            problems.append(f"{topic}: an image needs exactly one of image_topic and url_topic, has {has}")
        ct = cfg.get("content_type", "image/jpeg")
        if not (isinstance(ct, str) and ct.startswith("image/")):
            problems.append(f"{topic}: content_type {ct!r} is not an image type")
        if "image_encoding" in cfg and cfg["image_encoding"] != "b64":
            problems.append(f"{topic}: image_encoding must be 'b64' when given")
    # unique_id: needed for entities tied to a device (discovery with a device block).
    if "device" in cfg and not cfg.get("unique_id"):
        problems.append(f"{topic}: an entity with a device needs a unique_id")
    if "device" in cfg:
        dev = cfg["device"]
        if not isinstance(dev, dict):
            problems.append(f"{topic}: device must be an object")
        else:
            dev = expand(dev, DEVICE_ABBREVIATIONS)
            for k in dev:
                if k not in DEVICE_KEYS:
                    problems.append(f"{topic}: device key {k!r} is not in the schema")
            ids = dev.get("identifiers")
            if not ids and not dev.get("connections"):
                problems.append(f"{topic}: device needs identifiers or connections")
            if ids is not None and not (isinstance(ids, str) or (isinstance(ids, list) and all(isinstance(i, str) for i in ids))):
                problems.append(f"{topic}: device identifiers must be a string or a list of strings")
    if "origin" in cfg:
        o = expand(cfg["origin"], ORIGIN_ABBREVIATIONS) if isinstance(cfg["origin"], dict) else None
        if o is None or "name" not in o:
            problems.append(f"{topic}: origin needs a name")
        elif any(k not in ORIGIN_KEYS for k in o):
            problems.append(f"{topic}: origin keys {sorted(o)} are not all in the schema")
    if "availability" in cfg and "availability_topic" in cfg:
        problems.append(f"{topic}: availability and availability_topic must not be used together")
    if "qos" in cfg and cfg["qos"] not in (0, 1, 2):
        problems.append(f"{topic}: qos must be 0, 1 or 2")
    if "entity_category" in cfg and cfg["entity_category"] not in ENTITY_CATEGORIES:
        problems.append(f"{topic}: entity_category {cfg['entity_category']!r} is not config or diagnostic")
    dc = cfg.get("device_class")
    classes = {"sensor": SENSOR_DEVICE_CLASSES, "binary_sensor": BINARY_DEVICE_CLASSES,
               "button": BUTTON_DEVICE_CLASSES}.get(platform)
    if dc is not None and classes is not None and dc not in classes:
        problems.append(f"{topic}: device_class {dc!r} is not a {platform} device class")
    if platform == "sensor":
        sc = cfg.get("state_class")
        if sc is not None and sc not in STATE_CLASSES:
            problems.append(f"{topic}: state_class {sc!r} is not one of {sorted(STATE_CLASSES)}")
        if dc in UNITS and cfg.get("unit_of_measurement") not in UNITS[dc]:
            problems.append(f"{topic}: unit {cfg.get('unit_of_measurement')!r} is not valid for device_class {dc}")
        if dc == "enum" and ("state_class" in cfg or "unit_of_measurement" in cfg):
            problems.append(f"{topic}: an enum sensor takes no state_class or unit")
        p = cfg.get("suggested_display_precision")
        if p is not None and not (isinstance(p, int) and p >= 0):
            problems.append(f"{topic}: suggested_display_precision must be a whole number >= 0")
    if platform == "binary_sensor" and "off_delay" in cfg and not isinstance(cfg["off_delay"], int):
        problems.append(f"{topic}: off_delay must be whole seconds")
    return problems


# --- the client ------------------------------------------------------------------------

def client(args, client_id):
    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=True)
    if args.user:
        c.username_pw_set(args.user, os.environ.get(args.password_env, "") if args.password_env else None)
    if args.cafile:
        c.tls_set(ca_certs=args.cafile)
    return c


def connect(c, args):
    done = threading.Event()
    result = {}
    def on_connect(cl, userdata, flags, reason_code, properties):
        result["rc"] = reason_code
        done.set()
    c.on_connect = on_connect
    c.connect(args.host, args.port, keepalive=30)
    c.loop_start()
    if not done.wait(10) or result["rc"].is_failure:
        print(json.dumps({"error": f"cannot connect: {result.get('rc')}"}), flush=True)
        sys.exit(2)


def cmd_discovery(args):
    c = client(args, f"ha-check-{os.getpid()}")
    configs = {}
    lock = threading.Lock()
    def on_message(cl, userdata, msg):
        with lock:
            configs[msg.topic] = (msg.payload, msg.retain)
    c.on_message = on_message
    connect(c, args)
    c.subscribe(f"{args.prefix}/+/{args.node}/+/config", qos=1)
    deadline = time.time() + args.timeout
    while time.time() < deadline:
        with lock:
            if len(configs) >= args.expect:
                break
        time.sleep(0.05)
    time.sleep(0.3)  # anything past the expected count is checked too
    c.loop_stop()
    c.disconnect()
    problems, platforms, unique_ids, out = [], {}, {}, {}
    with lock:
        items = sorted(configs.items())
    for topic, (payload, retained) in items:
        problems += check_config(topic, payload, retained)
        m = TOPIC_RE.match(topic)
        if m:
            platforms[m.group("component")] = platforms.get(m.group("component"), 0) + 1
        try:
            cfg = expand(json.loads(payload), ABBREVIATIONS)
        except ValueError:
            continue
        out[topic] = cfg
        uid = cfg.get("unique_id")
        if uid in unique_ids:
            problems.append(f"{topic}: unique_id {uid!r} is also used by {unique_ids[uid]}")
        unique_ids[uid] = topic
    if len(items) != args.expect:
        problems.append(f"expected {args.expect} discovery configs, found {len(items)}")
    report = {"ok": not problems, "count": len(items), "platforms": platforms, "problems": problems, "configs": out}
    print(json.dumps(report), flush=True)
    sys.exit(0 if not problems else 1)


def cmd_watch(args):
    c = client(args, f"watch-{os.getpid()}")
    def on_message(cl, userdata, msg):
        line = {"topic": msg.topic, "retain": bool(msg.retain), "len": len(msg.payload)}
        try:
            line["text"] = msg.payload.decode("utf-8")
        except UnicodeDecodeError:
            line["b64"] = base64.b64encode(msg.payload[:64]).decode()
        print(json.dumps(line), flush=True)
    def on_subscribe(cl, userdata, mid, reason_codes, properties):
        print(json.dumps({"subscribed": True}), flush=True)
    def subscribe(cl, userdata, flags, reason_code, properties):
        if not reason_code.is_failure:
            cl.subscribe([(t, 1) for t in args.topics])
    c.on_message = on_message
    c.on_subscribe = on_subscribe
    connect(c, args)
    c.on_connect = subscribe  # also after each reconnect (the broker may restart under the test)
    c.subscribe([(t, 1) for t in args.topics])
    while True:
        time.sleep(1)


def cmd_press(args):
    c = client(args, f"press-{os.getpid()}")
    connect(c, args)
    info = c.publish(args.topic, args.payload, qos=1)
    info.wait_for_publish(10)
    c.loop_stop()
    c.disconnect()
    print(json.dumps({"published": info.is_published()}), flush=True)
    sys.exit(0 if info.is_published() else 1)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--user")
    ap.add_argument("--password-env")
    ap.add_argument("--cafile")
    sub = ap.add_subparsers(dest="cmd", required=True)
    d = sub.add_parser("discovery")
    d.add_argument("--prefix", default="homeassistant")
    d.add_argument("--node", required=True)
    d.add_argument("--expect", type=int, required=True)
    d.add_argument("--timeout", type=float, default=20)
    w = sub.add_parser("watch")
    w.add_argument("topics", nargs="+")
    p = sub.add_parser("press")
    p.add_argument("topic")
    p.add_argument("payload", nargs="?", default="PRESS")
    args = ap.parse_args()
    {"discovery": cmd_discovery, "watch": cmd_watch, "press": cmd_press}[args.cmd](args)


if __name__ == "__main__":
    main()
