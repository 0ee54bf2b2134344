"""RTSP for the ONVIF simulator: GStreamer's RTSP server, run by Debian's python3 (PyGObject lives there).

Started by simulator.py as ``/usr/bin/python3 rtsp_helper.py``; reads one JSON line from stdin
``{"host", "port", "username", "password", "pipeline", "mounts": [...]}``, prints ``ready <port>`` and serves until
stdin closes. It imports nothing from watchkeeper: it runs outside the project's Python.
"""

import json
import sys
import threading

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtsp", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtsp, GstRtspServer  # noqa: E402

def main() -> None:
    Gst.init(None)
    config = json.loads(sys.stdin.readline())
    server = GstRtspServer.RTSPServer()
    server.set_address(config["host"])
    server.set_service(str(config["port"]))
    auth = GstRtspServer.RTSPAuth()
    auth.set_supported_methods(GstRtsp.RTSPAuthMethod.DIGEST)
    token = GstRtspServer.RTSPToken()
    token.set_string(GstRtspServer.RTSP_TOKEN_MEDIA_FACTORY_ROLE, "viewer")
    auth.add_digest(config["username"], config["password"], token)
    server.set_auth(auth)
    role = Gst.Structure.new_from_string(
        "viewer, media.factory.access=(boolean)true, media.factory.construct=(boolean)true")
    mounts = server.get_mount_points()
    for mount in config["mounts"]:
        path = mount["path"]
        factory = GstRtspServer.RTSPMediaFactory()
        factory.set_launch(config["pipeline"].format(image=mount["image"]))
        factory.set_shared(True)
        factory.add_role_from_structure(role)
        mounts.add_factory(path, factory)
    server.attach(None)
    loop = GLib.MainLoop()

    def watch_stdin() -> None:
        sys.stdin.read()  # the simulator closes our stdin (or dies): stop
        GLib.idle_add(loop.quit)

    threading.Thread(target=watch_stdin, daemon=True).start()
    print(f"ready {server.get_bound_port()}", flush=True)
    loop.run()


if __name__ == "__main__":
    main()
