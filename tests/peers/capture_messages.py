#!/usr/bin/env python3
"""Records what a real print host sends, for the parser fixtures in src/printer/*/testdata/.

    capture_messages.py octoprint URL APIKEY OUT.jsonl [SECONDS] [GCODE]
    capture_messages.py moonraker URL OUT.jsonl [SECONDS] [GCODE]

OctoPrint: logs in passively with the API key, authenticates the push socket
and records every message; REST answers (/api/version, /api/connection,
/api/printer, /api/job, a 409) are recorded too. Moonraker: identifies,
subscribes to the objects layerwatch uses and records every message, plus the
answers to server.info and server.files.metadata. With GCODE, the file is
uploaded and printed while recording. Each line of OUT is
{"source": ..., "message": ...}.

Needs tornado (in both peers' venvs); run it with either venv's python.
"""

import asyncio
import json
import sys
import time
import urllib.error
import urllib.request
import uuid

from tornado.websocket import websocket_connect


def rest(method, url, key=None, body=None, headers=None):
    data = None
    hdrs = dict(headers or {})
    if key:
        hdrs["X-Api-Key"] = key
    if body is not None and not isinstance(body, bytes):
        data = json.dumps(body).encode()
        hdrs["Content-Type"] = "application/json"
    elif body is not None:
        data = body
    req = urllib.request.Request(url, data=data, method=method, headers=hdrs)
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            raw = r.read()
            return r.status, (json.loads(raw) if raw else None)
    except urllib.error.HTTPError as e:
        raw = e.read()
        try:
            return e.code, json.loads(raw)
        except ValueError:
            return e.code, raw.decode("utf-8", "replace")


def multipart(path, fields):
    boundary = uuid.uuid4().hex
    parts = []
    for k, v in fields.items():
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode())
    name = path.rsplit("/", 1)[-1]
    with open(path, "rb") as f:
        content = f.read()
    parts.append(
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{name}"\r\n'
        f"Content-Type: application/octet-stream\r\n\r\n".encode() + content + b"\r\n"
    )
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), {"Content-Type": f"multipart/form-data; boundary={boundary}"}


async def octoprint(url, key, out, seconds, gcode):
    def rec(source, message):
        out.write(json.dumps({"source": source, "message": message}) + "\n")

    for path in ("/api/version", "/api/connection", "/api/printer", "/api/job"):
        rec("GET " + path, rest("GET", url + path, key))
    rec("POST /api/job pause (idle)", rest("POST", url + "/api/job", key, {"command": "pause", "action": "pause"}))
    rec("GET /api/version (bad key)", rest("GET", url + "/api/version", "wrong-key"))
    status, login = rest("POST", url + "/api/login", key, {"passive": True})
    rec("POST /api/login", [status, login])
    ws = await websocket_connect(url.replace("http", "ws", 1) + "/sockjs/websocket")
    ws.write_message(json.dumps({"auth": f"{login['name']}:{login['session']}"}))
    if gcode:
        body, hdrs = multipart(gcode, {"select": "true", "print": "true"})
        rec("POST /api/files/local", rest("POST", url + "/api/files/local", key, body, hdrs))
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            msg = await asyncio.wait_for(ws.read_message(), deadline - time.monotonic())
        except asyncio.TimeoutError:
            break
        if msg is None:
            break
        rec("push", json.loads(msg))
    for path in ("/api/printer", "/api/job"):
        rec("GET " + path, rest("GET", url + path, key))


async def moonraker(url, out, seconds, gcode):
    ws = await websocket_connect(url.replace("http", "ws", 1) + "/websocket")
    next_id = [0]

    async def call(method, params=None):
        next_id[0] += 1
        rid = next_id[0]
        ws.write_message(json.dumps({"jsonrpc": "2.0", "method": method, "params": params or {}, "id": rid}))
        while True:
            msg = json.loads(await ws.read_message())
            out.write(json.dumps({"source": "ws", "message": msg}) + "\n")
            if msg.get("id") == rid:
                return msg

    await call("server.connection.identify",
               {"client_name": "capture", "version": "0", "type": "other", "url": "https://example.invalid"})
    await call("server.info")
    objects = {k: None for k in ("print_stats", "virtual_sdcard", "pause_resume", "webhooks", "display_status",
                                 "toolhead", "extruder", "heater_bed")}
    await call("printer.objects.subscribe", {"objects": objects})
    if gcode:
        body, hdrs = multipart(gcode, {"print": "true"})
        out.write(json.dumps({"source": "POST /server/files/upload",
                              "message": rest("POST", url + "/server/files/upload", None, body, hdrs)}) + "\n")
        name = gcode.rsplit("/", 1)[-1]
        await call("server.files.metadata", {"filename": name})
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            msg = await asyncio.wait_for(ws.read_message(), deadline - time.monotonic())
        except asyncio.TimeoutError:
            break
        if msg is None:
            out.write(json.dumps({"source": "ws", "message": "closed"}) + "\n")
            break
        out.write(json.dumps({"source": "ws", "message": json.loads(msg)}) + "\n")


def main():
    kind = sys.argv[1]
    if kind == "octoprint":
        url, key, path = sys.argv[2:5]
        rest_args = sys.argv[5:]
    else:
        url, path = sys.argv[2:4]
        rest_args = sys.argv[4:]
    seconds = float(rest_args[0]) if rest_args else 10.0
    gcode = rest_args[1] if len(rest_args) > 1 else None
    with open(path, "w") as out:
        if kind == "octoprint":
            asyncio.run(octoprint(url.rstrip("/"), key, out, seconds, gcode))
        else:
            asyncio.run(moonraker(url.rstrip("/"), out, seconds, gcode))


if __name__ == "__main__":
    main()
