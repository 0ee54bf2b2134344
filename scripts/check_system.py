"""Checks that everything outside pip the tests use is on this machine; names what is missing.

`.ci/run` runs it after installing, before the suite, so a package a developer installed by hand
and the project forgot fails here with its name, not as a 503 deep inside an RTSP test.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def debian_packages() -> list[str]:
    wanted = [line.strip() for line in (ROOT / ".ci" / "apt-packages").read_text().splitlines()
              if line.strip() and not line.startswith("#")]
    missing = []
    for package in wanted:
        status = subprocess.run(["dpkg-query", "-W", "-f=${Status}", package], capture_output=True, text=True)
        if "install ok installed" not in status.stdout:
            missing.append(f"Debian package {package} (listed in .ci/apt-packages) is not installed")
    return missing


def gstreamer() -> list[str]:
    from watchkeeper.plugins.onvif.rtsp import rtsp_available

    reason = rtsp_available()
    return [reason] if reason else []


def chromium() -> list[str]:
    from watchkeeper.faces.report_render import find_chromium

    return [] if find_chromium() else ["Chromium (Debian package chromium) is not on PATH"]


def chinese_fonts() -> list[str]:
    if shutil.which("fc-list") is None:
        return ["fc-list (fontconfig) is missing, so the Chinese fonts cannot be checked"]
    families = subprocess.run(["fc-list", ":lang=zh", "family"], capture_output=True, text=True).stdout
    return [] if families.strip() else ["no Chinese font (Debian package fonts-noto-cjk) for the report and PDF"]


def npm_tools() -> list[str]:
    missing = []
    if shutil.which("node") is None:
        missing.append("node is not on PATH")
    for lock in ROOT.rglob("package-lock.json"):
        if "node_modules" in lock.parts:
            continue
        if not (lock.parent / "node_modules").is_dir():
            folder = lock.parent.relative_to(ROOT)
            missing.append(f"npm tools in {folder} are not installed: npm ci --prefix {folder}")
    return missing


def redis() -> list[str]:
    """The Redis the distributed-inspection tests use answers PING (.ci/run starts it)."""
    import os
    from urllib.parse import urlsplit

    import redis as client

    url = os.environ.get("WATCHKEEPER_TEST_REDIS", "redis://127.0.0.1:6390/0")
    where = urlsplit(url)
    try:
        client.Redis.from_url(url, socket_timeout=5).ping()
    except client.RedisError as error:
        return [f"Redis at {where.hostname}:{where.port} does not answer PING ({type(error).__name__}); "
                "start it as .ci/run does: redis-server --bind 127.0.0.1 --port 6390 --save '' --daemonize yes"]
    return []


def main() -> int:
    problems = [problem for check in (debian_packages, gstreamer, chromium, chinese_fonts, npm_tools, redis)
                for problem in check()]
    for problem in problems:
        print(f"missing: {problem}", file=sys.stderr)
    if not problems:
        print("system requirements: all present")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
