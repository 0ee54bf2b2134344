"""Runs the `watchkeeper` CLI in a child process that reports its own peak resident memory.

The peak is the child's VmHWM, read from /proc at exit: ru_maxrss (getrusage, wait4) keeps the
high-water mark of the process that forked it across exec, so it would report pytest's own size.
"""

from __future__ import annotations

import re
import subprocess
import sys

_REPORT = """
import atexit, runpy, sys

def report():
    with open("/proc/self/status") as status:
        peak = next(line.split()[1] for line in status if line.startswith("VmHWM:"))
    print(f"peak-rss-kb {peak}", file=sys.stderr)

atexit.register(report)
sys.argv = ["watchkeeper", *sys.argv[1:]]
runpy.run_module("watchkeeper.faces.cli", run_name="__main__")
"""


def command(*args: str) -> list[str]:
    return [sys.executable, "-c", _REPORT, *args]


def peak_mb(stderr: str) -> float:
    match = re.search(r"^peak-rss-kb (\d+)$", stderr, re.M)
    assert match, f"the child did not report its peak memory: {stderr[-2000:]}"
    return int(match.group(1)) / 1024


def run(*args: str, timeout: float = 120) -> tuple[subprocess.CompletedProcess[str], float]:
    """The finished child and its peak resident memory in MB."""
    result = subprocess.run(command(*args), capture_output=True, text=True, timeout=timeout)
    return result, peak_mb(result.stderr)
