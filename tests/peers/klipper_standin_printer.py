"""The Klipper stand-in's printer: state and G-code interpreter.

Holds what Klippy's printer objects report (webhooks, print_stats,
virtual_sdcard, toolhead, heaters…) and runs G-code from `gcode/script` and
from SD-card files the way Klipper does, with simulated move times and
heaters. The Unix-socket protocol around it is in `klipper_standin.py`.
"""

import asyncio
import json
import logging
import math
import os
import re
import time

AMBIENT = 25.0
MIN_EXTRUDE_TEMP = 170.0
SHUTDOWN_M112 = (
    "Shutdown due to M112 command\nOnce the underlying issue is corrected, use the\n"
    '"FIRMWARE_RESTART" command to reset the firmware, reload the\nconfig, and restart the host software.\n'
    "Printer is shutdown\n"
)
ENDPOINTS = [
    "info", "emergency_stop", "register_remote_method", "list_endpoints",
    "objects/list", "objects/query", "objects/subscribe",
    "gcode/script", "gcode/help", "gcode/subscribe_output", "gcode/restart", "gcode/firmware_restart",
    "pause_resume/pause", "pause_resume/resume", "pause_resume/cancel",
]
OBJECTS = [
    "webhooks", "configfile", "mcu", "gcode_move", "print_stats", "virtual_sdcard", "pause_resume",
    "display_status", "toolhead", "extruder", "heater_bed", "heaters", "idle_timeout", "system_stats",
    "output_pin caselight", "exclude_object",
]
# `[output_pin caselight]` with `pwm: True`, as a printer.cfg would declare a case light.
OUTPUT_PINS = ("caselight",)
WORD = re.compile(r"([A-Z])\s*(-?[0-9.]+)")
EXT_PARAM = re.compile(r'(\S+?)=("[^"]*"|\S+)')

log = logging.getLogger("klipper_standin")


class CommandError(Exception):
    """A G-code or request error, answered to the caller like Klippy does."""


class Printer:
    """All printer state, and the G-code interpreter that changes it."""

    def __init__(self, args):
        self.args = args
        self.gcode_dir = os.path.abspath(args.gcode_dir)
        self.clients = set()
        self.output_subscribers = []  # (client, template)
        self.start_time = time.monotonic()
        self.reset_state("ready", "Printer is ready")
        self.print_task = None
        self.resume_event = asyncio.Event()
        self.resume_event.set()

    # ---- state ---------------------------------------------------------------------------------
    def reset_state(self, state, message):
        self.state = state
        self.state_message = message
        self.pos = [0.0, 0.0, 0.0, 0.0]
        self.absolute = True
        self.absolute_e = True
        self.feed = 1500.0
        self.homed = ""
        self.heaters = {"extruder": [AMBIENT, 0.0], "heater_bed": [AMBIENT, 0.0]}
        self.last_heat = time.monotonic()
        self.print_stats = {
            "filename": "", "total_duration": 0.0, "print_duration": 0.0, "filament_used": 0.0,
            "state": "standby", "message": "", "info": {"total_layer": None, "current_layer": None},
        }
        self.output_pins = {name: 0.0 for name in OUTPUT_PINS}
        self.print_started = None
        self.print_paused_total = 0.0
        self.pause_started = None
        self.file_path = None
        self.file_position = 0
        self.file_size = 0
        self.is_paused = False
        self.m73 = None
        self.display_message = None
        self.exclude = ExcludeObject(self)

    def eventtime(self):
        return time.monotonic() - self.start_time

    def simulate_heaters(self):
        now = time.monotonic()
        dt = now - self.last_heat
        self.last_heat = now
        for h in self.heaters.values():
            goal = h[1] if h[1] > 0 else AMBIENT
            step = self.args.heat_rate * dt if h[1] > 0 else self.args.heat_rate / 4 * dt
            if abs(goal - h[0]) <= step:
                h[0] = goal
            else:
                h[0] += math.copysign(step, goal - h[0])

    def durations(self):
        if self.print_started is None:
            return self.print_stats["total_duration"], self.print_stats["print_duration"]
        now = time.monotonic()
        total = now - self.print_started
        paused = self.print_paused_total + ((now - self.pause_started) if self.pause_started else 0.0)
        return total, max(0.0, total - paused)

    def status(self, name):
        """The current value of one printer object, as Klippy's get_status would give it."""
        self.simulate_heaters()
        if name == "webhooks":
            return {"state": self.state, "state_message": self.state_message}
        if name == "print_stats":
            total, printing = self.durations()
            ps = dict(self.print_stats)
            ps["info"] = dict(ps["info"])
            ps["total_duration"], ps["print_duration"] = total, printing
            return ps
        if name == "virtual_sdcard":
            progress = (self.file_position / self.file_size) if self.file_size else 0.0
            return {
                "file_path": self.file_path, "progress": round(progress, 4),
                "is_active": self.print_task is not None and not self.is_paused,
                "file_position": self.file_position, "file_size": self.file_size,
            }
        if name == "pause_resume":
            return {"is_paused": self.is_paused}
        if name == "display_status":
            sd = (self.file_position / self.file_size) if self.file_size else 0.0
            return {"progress": round(self.m73 if self.m73 is not None else sd, 4), "message": self.display_message}
        if name == "toolhead":
            return {
                "homed_axes": self.homed, "position": [round(v, 4) for v in self.pos],
                "print_time": self.eventtime(), "estimated_print_time": self.eventtime(),
                "max_velocity": 300.0, "max_accel": 3000.0, "axis_minimum": [0.0, 0.0, 0.0, 0.0],
                "axis_maximum": [250.0, 210.0, 200.0, 0.0], "extruder": "extruder", "stalls": 0,
            }
        if name == "gcode_move":
            return {
                "absolute_coordinates": self.absolute, "absolute_extrude": self.absolute_e,
                "gcode_position": [round(v, 4) for v in self.pos], "position": [round(v, 4) for v in self.pos],
                "speed": self.feed / 60.0, "speed_factor": 1.0, "extrude_factor": 1.0,
                "homing_origin": [0.0, 0.0, 0.0, 0.0],
            }
        if name in ("extruder", "heater_bed"):
            actual, target = self.heaters[name]
            out = {"temperature": round(actual, 2), "target": target, "power": 1.0 if actual < target else 0.0}
            if name == "extruder":
                out["can_extrude"] = actual >= MIN_EXTRUDE_TEMP
                out["pressure_advance"] = 0.0
            return out
        if name == "exclude_object":
            return self.exclude.get_status()
        if name.startswith("output_pin "):
            return {"value": self.output_pins[name.split(" ", 1)[1]]}
        if name == "heaters":
            return {"available_heaters": ["heater_bed", "extruder"], "available_sensors": ["heater_bed", "extruder"]}
        if name == "idle_timeout":
            st = "Printing" if self.print_task is not None else "Idle"
            return {"state": st, "printing_time": self.durations()[1] if self.print_task else 0.0}
        if name == "system_stats":
            return {"sysload": os.getloadavg()[0], "cputime": time.process_time(), "memavail": 1 << 20}
        if name == "mcu":
            return {"mcu_version": "standin", "mcu_build_versions": "", "mcu_constants": {}}
        if name == "configfile":
            cfg = {
                "virtual_sdcard": {"path": self.gcode_dir},
                "printer": {"kinematics": "cartesian", "max_velocity": "300", "max_accel": "3000"},
                "pause_resume": {}, "display_status": {},
            }
            return {"config": cfg, "settings": cfg, "save_config_pending": False, "warnings": []}
        raise CommandError(f"unknown object {name}")

    def query(self, objects):
        out = {}
        for name, fields in (objects or {}).items():
            if name not in OBJECTS:
                continue
            st = self.status(name)
            out[name] = st if fields is None else {k: v for k, v in st.items() if k in fields}
        return out

    # ---- G-code --------------------------------------------------------------------------------
    def respond(self, msg):
        for client, template in list(self.output_subscribers):
            client.send_template(template, {"response": msg})

    def require_ready(self):
        if self.state == "shutdown":
            raise CommandError("Printer is shutdown")
        if self.state != "ready":
            raise CommandError("Printer is not ready")

    async def run_script(self, script):
        for raw in script.split("\n"):
            await self.run_line(raw, from_file=False)

    async def run_line(self, raw, from_file):
        line = raw.split(";", 1)[0].strip()
        if not line:
            return
        first = line.split(None, 1)[0].upper()
        if first in ("FIRMWARE_RESTART", "RESTART"):
            await restart(self)
            return
        if first == "M112":
            self.shutdown(SHUTDOWN_M112)
            return
        self.require_ready()
        if first in ("G0", "G1"):
            await self.move(line.upper())
        elif first == "G28":
            axes = [a for a in "XYZ" if a in line.upper()[3:]] or ["X", "Y", "Z"]
            for a in axes:
                self.pos["XYZ".index(a)] = 0.0
            self.homed = "".join(sorted(set(self.homed) | {a.lower() for a in axes}))
        elif first == "G90":
            self.absolute = True
        elif first == "G91":
            self.absolute = False
        elif first == "M82":
            self.absolute_e = True
        elif first == "M83":
            self.absolute_e = False
        elif first == "G92":
            for axis, val in WORD.findall(line.upper()[3:]):
                idx = "XYZE".find(axis)
                if idx >= 0:
                    self.pos[idx] = float(val)
        elif first in ("M104", "M109", "M140", "M190"):
            words = dict(WORD.findall(line.upper()[4:]))
            heater = "heater_bed" if first in ("M140", "M190") else "extruder"
            self.heaters[heater][1] = float(words.get("S", 0.0))
            if first in ("M109", "M190"):
                await self.wait_heater(heater)
        elif first == "SET_HEATER_TEMPERATURE":
            params = ext_params(line)
            heater = params.get("HEATER", "")
            if heater not in self.heaters:
                raise CommandError(f"Unknown heater '{heater}'")
            self.heaters[heater][1] = float(params.get("TARGET", 0.0))
        elif first == "M73":
            words = dict(WORD.findall(line.upper()[3:]))
            if "P" in words:
                self.m73 = float(words["P"]) / 100.0
        elif first == "M117":
            self.display_message = line[4:].strip() or None
        elif first == "SET_PRINT_STATS_INFO":
            params = ext_params(line)
            info = self.print_stats["info"]
            if "TOTAL_LAYER" in params:
                info["total_layer"] = int(params["TOTAL_LAYER"])
                info["current_layer"] = info["current_layer"] or 0
            if "CURRENT_LAYER" in params:
                info["current_layer"] = int(params["CURRENT_LAYER"])
        elif first == "SET_PIN":
            # Klipper's mux command and output_pin's checks (a PWM pin: 0..1).
            params = ext_params(line)
            pin = params.get("PIN", "")
            if pin not in self.output_pins:
                raise CommandError(f"The value '{pin}' is not valid for PIN")
            try:
                value = float(params.get("VALUE", ""))
            except ValueError:
                raise CommandError(f"Error on '{line}': unable to parse {params.get('VALUE', '')}")
            if not 0.0 <= value <= 1.0:
                raise CommandError(f"Error on '{line}': VALUE must be between 0 and 1")
            self.output_pins[pin] = value
        elif first in ("EXCLUDE_OBJECT_DEFINE", "EXCLUDE_OBJECT_START", "EXCLUDE_OBJECT_END", "EXCLUDE_OBJECT"):
            self.exclude.command(first, line)
        elif first == "SDCARD_PRINT_FILE":
            self.start_print(ext_params(line).get("FILENAME", "").strip('"'))
        elif first == "SDCARD_RESET_FILE":
            if self.print_task is not None:
                raise CommandError("SDCARD_RESET_FILE cannot be run from the sdcard")
            self.file_path, self.file_position, self.file_size = None, 0, 0
            self.print_stats.update(state="standby", filename="", message="")
        elif first == "PAUSE":
            await self.pause()
        elif first == "RESUME":
            self.resume()
        elif first == "CANCEL_PRINT":
            await self.cancel()
        elif first in ("M105", "M106", "M107", "M84", "M18", "M220", "M221", "M201", "M203", "M204", "M205",
                       "M900", "G4", "G21", "M400", "M115", "ECHO", "SET_VELOCITY_LIMIT", "M486", "G29", "M300",
                       "SET_PRESSURE_ADVANCE", "TURN_OFF_HEATERS", "M141", "M191", "G80", "M107"):
            if first == "TURN_OFF_HEATERS":
                for h in self.heaters.values():
                    h[1] = 0.0
        else:
            raise CommandError(f'Unknown command:"{first}"')

    async def move(self, line):
        words = dict(WORD.findall(line[2:]))
        if "F" in words:
            self.feed = max(float(words["F"]), 1.0)
        if self.exclude.in_excluded_object():
            # Klipper's exclude_object transform: the G-code position follows the file, the
            # toolhead does not move and nothing is extruded.
            for idx, axis in enumerate("XYZE"):
                if axis in words:
                    absolute = (self.absolute and self.absolute_e) if axis == "E" else self.absolute
                    v = float(words[axis])
                    self.pos[idx] = v if absolute else self.pos[idx] + v
            self.exclude.ignored_moves += 1
            return
        dist = 0.0
        for idx, axis in enumerate("XYZE"):
            if axis not in words:
                continue
            v = float(words[axis])
            # As Klipper's gcode_move: E is relative under G91 or M83.
            absolute = (self.absolute and self.absolute_e) if axis == "E" else self.absolute
            new = v if absolute else self.pos[idx] + v
            if axis == "E":
                if new < self.pos[3] and self.heaters["extruder"][0] < MIN_EXTRUDE_TEMP:
                    raise CommandError("Extrude below minimum temp\nSee the 'min_extrude_temp' config option")
                if new > self.pos[3] and self.print_task is not None:
                    self.print_stats["filament_used"] += new - self.pos[3]
            else:
                dist += (new - self.pos[idx]) ** 2
            self.pos[idx] = new
        duration = math.sqrt(dist) / (self.feed / 60.0) / self.args.speed
        if duration > 0:
            await asyncio.sleep(duration)

    async def wait_heater(self, heater):
        while True:
            self.simulate_heaters()
            actual, target = self.heaters[heater]
            if target <= 0 or actual >= target - 1.0 or self.state != "ready":
                return
            await asyncio.sleep(0.05)

    def shutdown(self, message):
        log.info("shutdown: %s", message.splitlines()[0])
        self.state, self.state_message = "shutdown", message
        for h in self.heaters.values():
            h[1] = 0.0
        if self.print_task is not None:
            self.print_task.cancel()
            self.print_task = None
            self.print_stats.update(state="error", message=message.splitlines()[0])
            self.freeze_durations()
        self.respond("!! " + message.splitlines()[0])

    # ---- printing ------------------------------------------------------------------------------
    def start_print(self, filename):
        if self.print_task is not None:
            raise CommandError("SD busy")
        path = os.path.normpath(os.path.join(self.gcode_dir, filename))
        if not path.startswith(self.gcode_dir + os.sep) or not os.path.isfile(path):
            raise CommandError(f"Unable to open file {filename}")
        self.file_path, self.file_position, self.file_size = path, 0, os.path.getsize(path)
        self.exclude.reset_file()
        self.print_stats = {
            "filename": filename, "total_duration": 0.0, "print_duration": 0.0, "filament_used": 0.0,
            "state": "printing", "message": "", "info": {"total_layer": None, "current_layer": None},
        }
        self.print_started, self.print_paused_total, self.pause_started = time.monotonic(), 0.0, None
        self.is_paused, self.m73 = False, None
        self.resume_event.set()
        self.print_task = asyncio.get_running_loop().create_task(self.print_file(path))
        log.info("print started: %s (%d bytes)", filename, self.file_size)

    async def print_file(self, path):
        try:
            with open(path, "rb") as f:
                f.seek(self.file_position)
                for raw in f:
                    await self.resume_event.wait()
                    self.file_position += len(raw)
                    try:
                        await self.run_line(raw.decode("utf-8", "replace"), from_file=True)
                    except CommandError as e:
                        self.respond(f"!! {e}")
                        self.print_stats.update(state="error", message=str(e))
                        self.freeze_durations()
                        self.print_task = None
                        return
            self.print_stats["state"] = "complete"
            self.freeze_durations()
            self.print_task = None
            log.info("print complete")
        except asyncio.CancelledError:
            raise

    def freeze_durations(self):
        total, printing = self.durations()
        self.print_stats["total_duration"], self.print_stats["print_duration"] = total, printing
        self.print_started = None

    async def pause(self):
        if self.is_paused:
            self.respond("// Print already paused")
            return
        self.is_paused = True
        self.resume_event.clear()
        if self.print_task is not None:
            # Klippy waits for the SD loop to stop before the state changes.
            await asyncio.sleep(self.args.pause_delay)
            self.pause_started = time.monotonic()
            self.print_stats["state"] = "paused"

    def resume(self):
        if not self.is_paused:
            self.respond("// Print is not paused, resume aborted")
            return
        self.is_paused = False
        if self.pause_started is not None:
            self.print_paused_total += time.monotonic() - self.pause_started
            self.pause_started = None
        if self.print_task is not None:
            self.print_stats["state"] = "printing"
        self.resume_event.set()

    async def cancel(self):
        if self.print_task is not None:
            self.print_task.cancel()
            self.print_task = None
            self.print_stats["state"] = "cancelled"
            self.freeze_durations()
        self.is_paused = False
        self.resume_event.set()
        self.file_path, self.file_position = None, 0


class ExcludeObject:
    """Klipper's `[exclude_object]` (klippy/extras/exclude_object.py) as G-code and status see it.

    Status `objects` (definitions, sorted by name), `excluded_objects` (sorted), `current_object`;
    names are upper-cased. `EXCLUDE_OBJECT NAME=` takes any name, known or not, and answers
    "Excluding object NAME" (Klipper does not check it against the definitions); `CURRENT=1` without
    a current object answers an error line; `RESET=1` un-excludes. A new SD file resets everything
    (`virtual_sdcard:reset_file`). Moves inside an excluded object are ignored. Not modelled: the
    extrusion offsets and Klipper's first five extrusion moves before the transform takes effect.
    """

    def __init__(self, printer):
        self.printer = printer
        self.ignored_moves = 0
        self.reset_file()

    def reset_file(self):
        self.objects, self.excluded_objects, self.current_object = [], [], None

    def get_status(self):
        return {"objects": self.objects, "excluded_objects": self.excluded_objects,
                "current_object": self.current_object}

    def in_excluded_object(self):
        return self.current_object is not None and self.current_object in self.excluded_objects

    def respond(self, msg):
        self.printer.respond("// " + msg)

    def command(self, cmd, line):
        params = ext_params(line)
        name = params.get("NAME", "").strip('"').upper()
        if cmd == "EXCLUDE_OBJECT_DEFINE":
            if params.get("RESET"):
                self.reset_file()
            elif name:
                obj = {"name": name}
                for k, v in params.items():
                    if k in ("NAME", "CENTER", "POLYGON"):
                        continue
                    obj[k] = v
                if "CENTER" in params:
                    obj["center"] = json.loads("[%s]" % params["CENTER"])
                if "POLYGON" in params:
                    obj["polygon"] = json.loads(params["POLYGON"])
                self.objects = sorted(self.objects + [obj], key=lambda o: o["name"])
            else:
                self.respond("Known objects: " + " ".join(o["name"] for o in self.objects))
        elif cmd == "EXCLUDE_OBJECT_START":
            if not name:
                raise CommandError("Error on '%s': missing NAME" % line)
            if not any(o["name"] == name for o in self.objects):
                self.objects = sorted(self.objects + [{"name": name}], key=lambda o: o["name"])
            self.current_object = name
        elif cmd == "EXCLUDE_OBJECT_END":
            if self.current_object is None:
                self.respond("EXCLUDE_OBJECT_END called, but no object is currently active")
                return
            if name and name != self.current_object:
                self.respond("EXCLUDE_OBJECT_END NAME=%s does not match the current object NAME=%s"
                             % (name, self.current_object))
            self.current_object = None
        elif params.get("RESET"):
            if name:
                self.respond("Unexcluding object " + name)
                self.excluded_objects = sorted(o for o in self.excluded_objects if o != name)
            else:
                self.excluded_objects = []
        elif name:
            if name not in self.excluded_objects:
                self.respond("Excluding object " + name)
                self.excluded_objects = sorted(self.excluded_objects + [name])
        elif params.get("CURRENT"):
            if not self.current_object:
                self.printer.respond("!! There is no current object to cancel")
            else:
                self.respond("Excluding object " + self.current_object)
                if self.current_object not in self.excluded_objects:
                    self.excluded_objects = sorted(self.excluded_objects + [self.current_object])
        else:
            self.respond("Excluded objects: " + " ".join(self.excluded_objects))


def ext_params(line):
    parts = line.split(None, 1)
    if len(parts) < 2:
        return {}
    return {k.upper(): v for k, v in EXT_PARAM.findall(parts[1])}


async def restart(p):
    """FIRMWARE_RESTART / RESTART: every client is dropped, Klippy comes back through `startup`."""
    log.info("restart requested")
    if p.print_task is not None:
        p.print_task.cancel()
        p.print_task = None
    for c in list(p.clients):
        c.writer.close()
    p.clients.clear()
    p.output_subscribers = []
    p.reset_state("startup", "Printer is restarting")

    async def come_back():
        await asyncio.sleep(p.args.startup_delay)
        p.state, p.state_message = "ready", "Printer is ready"

    asyncio.get_running_loop().create_task(come_back())
