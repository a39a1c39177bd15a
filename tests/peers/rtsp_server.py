#!/usr/bin/python3
"""Debian's GStreamer RTSP server (gst-rtsp-server through python3-gi) for layerwatch's RTSP tests.

Run with the system interpreter, /usr/bin/python3 (python3-gi is a Debian package, not a PyPI one). Serves a live test
pattern (videotestsrc, a moving ball over SMPTE bars) as H.264 (x264enc) over RTP at
rtsp://127.0.0.1:PORT/cam, by default 1280x720 at 5 fps, and prints `READY <port>` on stdout.

  --port N          listen on N (0: any free port; the test restarts the server on the same one)
  --user/--password require HTTP Basic auth with these credentials (RTSP 401 otherwise)

Control commands on stdin, one per line, each answered `DONE <cmd>` on stdout:
  stall      stop sending frames (a valve drops every buffer): the session stays open, nothing arrives
  resume     send frames again
  quit

The pipeline is shared by every client, so what the test tells it applies to the stream it reads.
"""

import argparse
import sys
import threading

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtspServer  # noqa: E402


def parse_args():
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--width", type=int, default=1280)
    p.add_argument("--height", type=int, default=720)
    p.add_argument("--fps", type=int, default=5)
    p.add_argument("--user")
    p.add_argument("--password")
    return p.parse_args()


class Server:
    def __init__(self, args):
        self.valves = []
        self.lock = threading.Lock()
        self.stalled = False
        self.server = GstRtspServer.RTSPServer.new()
        self.server.set_address("127.0.0.1")
        self.server.set_service(str(args.port))
        factory = GstRtspServer.RTSPMediaFactory.new()
        factory.set_launch(
            "( videotestsrc is-live=true pattern=smpte horizontal-speed=4 "
            f"! video/x-raw,width={args.width},height={args.height},framerate={args.fps}/1 "
            "! valve name=gate drop=false "
            f"! x264enc tune=zerolatency speed-preset=ultrafast key-int-max={args.fps} bitrate=1000 "
            "! rtph264pay name=pay0 pt=96 config-interval=1 )"
        )
        factory.set_shared(True)
        factory.connect("media-configure", self.on_media)
        if args.user is not None:
            auth = GstRtspServer.RTSPAuth()
            token = GstRtspServer.RTSPToken()
            token.set_string("media.factory.role", "viewer")
            auth.add_basic(GstRtspServer.RTSPAuth.make_basic(args.user, args.password or ""), token)
            self.server.set_auth(auth)
            perms = GstRtspServer.RTSPPermissions()
            perms.add_permission_for_role("viewer", "media.factory.access", True)
            perms.add_permission_for_role("viewer", "media.factory.construct", True)
            factory.set_permissions(perms)
        self.server.get_mount_points().add_factory("/cam", factory)
        if self.server.attach(None) == 0:
            raise SystemExit(f"cannot listen on 127.0.0.1:{args.port}")

    def on_media(self, _factory, media):
        valve = media.get_element().get_by_name("gate")
        with self.lock:
            self.valves.append(valve)
            valve.set_property("drop", self.stalled)

    def set_stalled(self, stalled):
        with self.lock:
            self.stalled = stalled
            for v in self.valves:
                v.set_property("drop", stalled)

    def port(self):
        return self.server.get_bound_port()


def say(text):
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def control(server, loop):
    for raw in sys.stdin:
        cmd = raw.strip()
        if not cmd:
            continue
        if cmd == "quit":
            break
        if cmd == "stall":
            server.set_stalled(True)
        elif cmd == "resume":
            server.set_stalled(False)
        else:
            say(f"UNKNOWN {cmd}")
            continue
        say(f"DONE {cmd}")
    loop.quit()


def main():
    args = parse_args()
    Gst.init(None)
    for element in ("videotestsrc", "x264enc", "rtph264pay", "valve"):
        if Gst.ElementFactory.find(element) is None:
            raise SystemExit(f"GStreamer element {element} is missing: run scripts/setup.sh test")
    server = Server(args)
    loop = GLib.MainLoop()
    threading.Thread(target=control, args=(server, loop), daemon=True).start()
    say(f"READY {server.port()}")
    loop.run()


if __name__ == "__main__":
    main()
