#!/usr/bin/env python3
"""A Klipper stand-in: Klippy's API server on a Unix socket, for Moonraker tests.

Klipper is not on any package registry, so the Moonraker tests run the real
Moonraker against this process. It speaks the same wire protocol as Klippy's
`webhooks.py` (JSON objects terminated by 0x03; requests `{id, method, params}`,
answers `{id, result}` or `{id, error: {error, message}}`, subscriptions pushed
through the caller's `response_template`) and implements what Moonraker calls
at start-up and while printing:

  info, list_endpoints, objects/list, objects/query, objects/subscribe,
  gcode/script, gcode/subscribe_output, gcode/help, register_remote_method,
  pause_resume/pause|resume|cancel, emergency_stop

Printing is driven by the real G-code file: `SDCARD_PRINT_FILE` reads it from
the virtual SD directory line by line, moves take (distance / feed rate) /
--speed seconds, `M104/M109/M140/M190` drive simulated heaters, `M73` and
`SET_PRINT_STATS_INFO` work as in Klipper (so `print_stats.info.current_layer`
is set only when the slicer wrote it), and so does `[exclude_object]`
(`EXCLUDE_OBJECT_DEFINE/START/END`, `EXCLUDE_OBJECT`, its status object: see
`ExcludeObject` in `klipper_standin_printer.py`). `M112`/`emergency_stop` shut the printer
down; `FIRMWARE_RESTART`/`RESTART` drop every client, go through `startup` and
come back `ready`, as Klippy does.

The printer itself (state, G-code) is in `klipper_standin_printer.py`.
Standard library only; Python >= 3.9.
"""

import argparse
import asyncio
import json
import logging
import os
import signal
import sys

from klipper_standin_printer import ENDPOINTS, OBJECTS, SHUTDOWN_M112, CommandError, Printer, log, restart

ETX = b"\x03"


class Client:
    """One Unix-socket connection (Moonraker opens one)."""

    def __init__(self, printer, reader, writer):
        self.printer, self.reader, self.writer = printer, reader, writer
        self.subscription = None  # (objects, template, last_sent)

    def send(self, obj):
        try:
            self.writer.write(json.dumps(obj, separators=(",", ":")).encode() + ETX)
        except Exception:  # noqa: BLE001 - a dead client is dropped by its reader
            pass

    def send_template(self, template, params):
        msg = dict(template)
        msg["params"] = params
        self.send(msg)

    async def serve(self):
        p = self.printer
        try:
            while True:
                data = await self.reader.readuntil(ETX)
                try:
                    req = json.loads(data[:-1])
                except ValueError:
                    log.warning("undecodable request: %r", data[:200])
                    continue
                asyncio.get_running_loop().create_task(self.handle(req))
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.CancelledError):
            pass
        finally:
            p.clients.discard(self)
            p.output_subscribers = [(c, t) for c, t in p.output_subscribers if c is not self]
            self.writer.close()

    async def handle(self, req):
        rid, method, params = req.get("id"), req.get("method", ""), req.get("params") or {}
        try:
            result = await self.dispatch(method, params)
            self.send({"id": rid, "result": result})
        except CommandError as e:
            self.send({"id": rid, "error": {"error": "WebRequestError", "message": str(e)}})
        except Exception as e:  # noqa: BLE001 - answer, never die
            log.exception("internal error in %s", method)
            self.send({"id": rid, "error": {"error": "InternalError", "message": str(e)}})

    async def dispatch(self, method, params):
        p = self.printer
        if method in ("gcode/script", "emergency_stop") or method.startswith("pause_resume/"):
            # Commands are logged one per line so tests can count what was sent.
            log.info("request %s %s", method, json.dumps(params.get("script", ""))[:200])
        if method == "info":
            return {
                "state": p.state, "state_message": p.state_message, "hostname": "standin",
                "klipper_path": os.path.dirname(os.path.abspath(__file__)), "python_path": sys.executable,
                "process_id": os.getpid(), "user_id": os.getuid(), "group_id": os.getgid(),
                "log_file": os.devnull, "config_file": os.devnull,
                "software_version": "v0.12.0-standin", "cpu_info": "stand-in", "app": "Klipper",
            }
        if method == "list_endpoints":
            return {"endpoints": ENDPOINTS}
        if method == "objects/list":
            return {"objects": OBJECTS}
        if method == "objects/query":
            return {"eventtime": p.eventtime(), "status": p.query(params.get("objects"))}
        if method == "objects/subscribe":
            objects = params.get("objects") or {}
            status = p.query(objects)
            template = params.get("response_template") or {}
            self.subscription = (objects, template, json.loads(json.dumps(status)))
            return {"eventtime": p.eventtime(), "status": status}
        if method == "gcode/subscribe_output":
            p.output_subscribers.append((self, params.get("response_template") or {}))
            return {}
        if method == "register_remote_method":
            return {}
        if method == "gcode/help":
            return {"SDCARD_PRINT_FILE": "Loads a SD file and starts the print", "PAUSE": "Pauses the current print"}
        if method == "gcode/script":
            await p.run_script(params.get("script", ""))
            return {}
        if method in ("gcode/restart", "gcode/firmware_restart"):
            await restart(p)
            return {}
        if method == "emergency_stop":
            p.shutdown(SHUTDOWN_M112)
            return {}
        if method in ("pause_resume/pause", "pause_resume/resume", "pause_resume/cancel"):
            p.require_ready()
            action = method.rsplit("/", 1)[1]
            if action == "pause":
                await p.pause()
            elif action == "resume":
                p.resume()
            else:
                await p.cancel()
            return {}
        raise CommandError(f"No registered endpoint '{method}'")

    def push_status(self):
        if self.subscription is None:
            return
        objects, template, last = self.subscription
        status = self.printer.query(objects)
        diff = {}
        for name, fields in status.items():
            prev = last.setdefault(name, {})
            changed = {k: v for k, v in fields.items() if prev.get(k) != v}
            if changed:
                diff[name] = changed
                prev.update(json.loads(json.dumps(changed)))
        if diff:
            self.send_template(template, {"eventtime": self.printer.eventtime(), "status": diff})


async def status_loop(p):
    while True:
        await asyncio.sleep(p.args.status_interval)
        for c in list(p.clients):
            c.push_status()


async def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--socket", required=True, help="Unix socket path Moonraker connects to (klippy_uds_address)")
    ap.add_argument("--gcode-dir", required=True, help="virtual SD card directory (Moonraker's gcodes root)")
    ap.add_argument("--speed", type=float, default=1.0, help="time compression for moves (10 = ten times faster)")
    ap.add_argument("--heat-rate", type=float, default=5.0, help="heater slope in degrees C per second")
    ap.add_argument("--status-interval", type=float, default=0.25, help="seconds between subscription pushes")
    ap.add_argument("--pause-delay", type=float, default=0.2, help="seconds PAUSE takes to stop the SD loop")
    ap.add_argument("--startup-delay", type=float, default=0.5, help="seconds spent in `startup` after a restart")
    ap.add_argument("--log-level", default="INFO")
    args = ap.parse_args()
    logging.basicConfig(level=args.log_level, format="%(asctime)s standin %(levelname)s %(message)s")
    os.makedirs(args.gcode_dir, exist_ok=True)
    if os.path.exists(args.socket):
        os.unlink(args.socket)
    printer = Printer(args)

    async def on_client(reader, writer):
        client = Client(printer, reader, writer)
        printer.clients.add(client)
        await client.serve()

    server = await asyncio.start_unix_server(on_client, path=args.socket, limit=20 * 1024 * 1024)
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    ticker = loop.create_task(status_loop(printer))
    log.info("listening on %s", args.socket)
    print(f"READY {args.socket}", flush=True)
    await stop.wait()
    ticker.cancel()
    server.close()
    try:
        os.unlink(args.socket)
    except OSError:
        pass


if __name__ == "__main__":
    asyncio.run(main())
