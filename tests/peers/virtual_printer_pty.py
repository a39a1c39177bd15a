#!/usr/bin/env python3
"""OctoPrint's VirtualPrinter behind a pseudo-terminal, for layerwatch's serial tests.

Run with the interpreter of `.tools/venv-octoprint`. It opens a pty (raw mode),
points the symlink given by --link at its slave side (so the host always opens the
same path, like /dev/serial/by-id/...), prints `READY <slave>` on stdout, and pumps
bytes between the pty master and a `VirtualPrinter` (serial-like `write`/`readline`).

Logs, one line each, flushed as they happen:
  --exec-log  every command the firmware executed (N and checksum stripped), in order
  --rx-log    every raw line the firmware received from the host

Control commands on stdin (one per line), each answered on stdout with `DONE <cmd>`:
  debug <cmd>     feed `!!DEBUG:<cmd>` to the printer between host lines (action_pause, go_awol...)
  kill            M112 from the printer's side (its emergency stop): the firmware stops answering
  garble <hex>    write raw bytes to the host (a garbled line)
  corrupt_next    flip one character of the next host line before the firmware sees it
  unplug          close the pty: the host's port vanishes
  replug          a new pty at the same --link path and a freshly booted printer (reset banner)
  sd <name> <src> put a file on the printer's virtual SD card
  quit

Workarounds for VirtualPrinter bugs live here, never in layerwatch (see DEPENDENCIES.md):
  * M524 while no SD print runs kills its reader thread        -> ignored when idle
  * M24 after M25 ends the SD print instead of resuming it     -> resume just releases the pause
  * M600 without sendBusy never answers                        -> tests run with sendBusy on
  * an SD print ignores the file's G90/G91, so the printer stays  -> the SD reader queues G90/G91 with the
    in its power-on relative mode and takes every absolute          moves, in order, and the move thread
    X/Y/Z as a distance (a 13-min file took ~17 min, not ~1)       switches mode when it reaches them
"""

import argparse
import json
import os
import shutil
import sys
import threading
import time
import tty


def parse_args():
    p = argparse.ArgumentParser()
    p.add_argument("--link", required=True, help="symlink path the host opens")
    p.add_argument("--basedir", required=True, help="OctoPrint basedir (settings, virtual SD)")
    p.add_argument("--exec-log", required=True)
    p.add_argument("--rx-log", required=True)
    p.add_argument("--set", action="append", default=[], metavar="KEY=JSON",
                   help="plugins.virtual_printer option, e.g. sendBusy=true")
    p.add_argument("--junk", default="", help="hex bytes sent before each boot banner (bootloader noise)")
    return p.parse_args()


def make_settings(basedir, overrides):
    from octoprint.settings import settings as octo_settings
    from octoprint.plugin import plugin_manager, plugin_settings
    from octoprint.plugins.virtual_printer import VirtualPrinterPlugin

    os.makedirs(basedir, exist_ok=True)
    s = octo_settings(init=True, basedir=basedir)
    # No plugins are loaded: VirtualPrinter only asks the manager for (no) custom action hooks.
    plugin_manager(init=True, plugin_folders=[], plugin_entry_points=[], plugin_disabled_list=[])
    defaults = VirtualPrinterPlugin().get_settings_defaults()
    for key, value in overrides.items():
        if key not in defaults:
            raise SystemExit(f"unknown VirtualPrinter option {key!r}")
        defaults[key] = value
    return plugin_settings("virtual_printer", defaults=defaults, settings=s)


def make_printer_class():
    from octoprint.plugins.virtual_printer.virtual import VirtualPrinter

    class LoggingVirtualPrinter(VirtualPrinter):
        """Logs every executed command; patches the known bugs listed above."""

        exec_log = None

        def _log_exec(self, data):
            if self.exec_log is not None:
                self.exec_log.write(data.strip() + "\n")
                self.exec_log.flush()

        # Called for every G/M/T/F command before its own handler; falsy = keep going.
        def _gcode_G(self, code, data):
            self._log_exec(data)
            return None

        def _gcode_M(self, code, data):
            self._log_exec(data)
            return None

        def _gcode_T(self, code, data):
            self._log_exec(data)
            return super()._gcode_T(code, data)

        def _gcode_F(self, code, data):
            self._log_exec(data)
            return super()._gcode_F(code, data)

        def _cancelSdPrint(self):
            if self._sdPrinter is None:  # bug: M524 while idle joins None and kills the reader
                return
            super()._cancelSdPrint()

        def _startSdPrint(self):
            if self._sdPrinter is not None:  # bug: M24 after M25 ends the print
                self._sdPrintingSemaphore.set()
                return
            super()._startSdPrint()

        def _performMove(self, line):
            # G90/G91 reach the move thread only from the SD reader below, in file order.
            if line.startswith("G90"):
                self._relative = False
                return
            if line.startswith("G91"):
                self._relative = True
                return
            super()._performMove(line)

        def _sdPrintingWorker(self):
            # VirtualPrinter's reader, plus G90/G91 (bug: it skipped them, see the module doc).
            self._selectedSdFilePos = 0
            try:
                with open(self._selectedSdFile, encoding="utf-8") as f:
                    for line in iter(f.readline, ""):
                        if self._killed or not self._sdPrinting:
                            break
                        if self._newSdFilePos is not None:
                            f.seek(self._newSdFilePos)
                            self._newSdFilePos = None
                        self._selectedSdFilePos = f.tell()
                        self._sdPrintingSemaphore.wait()
                        if self._killed or not self._sdPrinting:
                            break
                        if "M104" in line or "M109" in line:
                            self._parseHotendCommand(line, wait="M109" in line)
                        elif "M140" in line or "M190" in line:
                            self._parseBedCommand(line, wait="M190" in line)
                        elif line.startswith(("G0", "G1", "G2", "G3", "G90", "G91")):
                            self.buffered.put(line)
            except AttributeError:
                if self.outgoing is not None:
                    raise
            self._finishSdPrint()

    return LoggingVirtualPrinter


class Harness:
    def __init__(self, args):
        self.args = args
        overrides = {}
        for item in args.set:
            key, _, raw = item.partition("=")
            overrides[key] = json.loads(raw)
        self.settings = make_settings(args.basedir, overrides)
        self.cls = make_printer_class()
        self.cls.exec_log = open(args.exec_log, "a", encoding="utf-8")
        self.rx_log = open(args.rx_log, "a", encoding="utf-8")
        self.out_lock = threading.Lock()  # stdout
        self.in_lock = threading.Lock()   # host->printer line boundary
        self.corrupt_next = False
        self.generation = 0
        self.closing = False
        self.master = None
        self.slave = None
        self.printer = None

    def say(self, text):
        with self.out_lock:
            sys.stdout.write(text + "\n")
            sys.stdout.flush()

    def plug(self):
        master, slave = os.openpty()
        tty.setraw(slave)
        name = os.ttyname(slave)
        tmp = self.args.link + ".tmp"
        if os.path.lexists(tmp):
            os.unlink(tmp)
        os.symlink(name, tmp)
        os.replace(tmp, self.args.link)
        self.generation += 1
        gen = self.generation
        self.master, self.slave = master, slave
        if self.args.junk:
            os.write(master, bytes.fromhex(self.args.junk))
        self.printer = self.cls(self.settings, None, data_folder=self.args.basedir, read_timeout=0.2)
        threading.Thread(target=self.pump_to_host, args=(gen, master, self.printer), daemon=True).start()
        threading.Thread(target=self.pump_to_printer, args=(gen, master, self.printer), daemon=True).start()
        return name

    def unplug(self):
        self.closing = True
        self.generation += 1
        printer, master, slave = self.printer, self.master, self.slave
        self.printer = self.master = self.slave = None
        if printer is not None:
            printer.close()
        for fd in (master, slave):
            if fd is not None:
                try:
                    os.close(fd)
                except OSError:
                    pass

    def pump_to_host(self, gen, master, printer):
        while self.generation == gen:
            try:
                line = printer.readline()
            except Exception:
                return
            if not line:
                continue
            if not line.endswith(b"\n"):  # its replies are queued without line endings
                line += b"\n"
            try:
                os.write(master, line)
            except OSError:
                return

    def feed(self, printer, data):
        while data:
            n = printer.write(data)  # partial writes when its 64-byte rx buffer is full
            if not n:
                if printer.incoming is None:
                    return
                time.sleep(0.001)
            data = data[n:]

    def pump_to_printer(self, gen, master, printer):
        buf = b""
        while self.generation == gen:
            try:
                chunk = os.read(master, 4096)
            except OSError:
                time.sleep(0.05)  # no slave open yet (EIO): wait for the host
                continue
            if not chunk:
                time.sleep(0.05)
                continue
            buf += chunk
            while b"\n" in buf:
                line, buf = buf.split(b"\n", 1)
                line += b"\n"
                with self.in_lock:
                    self.rx_log.write(line.decode("ascii", "replace"))
                    self.rx_log.flush()
                    if self.corrupt_next and line.startswith(b"N"):
                        self.corrupt_next = False
                        i = max(1, line.find(b" ") + 1)
                        line = line[:i] + bytes([line[i] ^ 0x01]) + line[i + 1:]
                    self.feed(printer, line)

    def inject(self, data):
        with self.in_lock:
            if self.printer is not None:
                self.feed(self.printer, data)

    def control(self):
        for raw in sys.stdin:
            cmd = raw.strip()
            if not cmd:
                continue
            word, _, rest = cmd.partition(" ")
            if word == "quit":
                break
            elif word == "debug":
                self.inject(f"!!DEBUG:{rest}\n".encode())
            elif word == "kill":
                self.inject(b"M112\n")
            elif word == "garble":
                if self.master is not None:
                    os.write(self.master, bytes.fromhex(rest))
            elif word == "corrupt_next":
                self.corrupt_next = True
            elif word == "unplug":
                self.unplug()
            elif word == "replug":
                self.unplug()
                self.say("PLUGGED " + self.plug())
            elif word == "sd":
                name, _, src = rest.partition(" ")
                folder = self.settings.global_get_basefolder("virtualSd")
                shutil.copyfile(src, os.path.join(folder, name))
            else:
                self.say(f"UNKNOWN {cmd}")
                continue
            self.say(f"DONE {cmd}")
        self.unplug()


def quiet_closed_printer_threads(harness):
    """VirtualPrinter's worker threads crash on the queues `close()` empties: expected on unplug."""
    default = threading.excepthook

    def hook(info):
        name = info.thread.name if info.thread is not None else ""
        if harness.closing and name.startswith("octoprint.plugins.virtual_printer"):
            return
        default(info)

    threading.excepthook = hook


def main():
    args = parse_args()
    h = Harness(args)
    quiet_closed_printer_threads(h)
    name = h.plug()
    h.say(f"READY {name}")
    h.control()
    os._exit(0)


if __name__ == "__main__":
    main()
