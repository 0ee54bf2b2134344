"""The `[distributed]` section: the Redis broker that per-camera work is sent through to workers."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import attrs

from watchkeeper.core.models import Secret

#: The default broker: the Redis `.ci/run` and docs/distributed.md start on this machine.
DEFAULT_URL = "redis://127.0.0.1:6379/0"


@attrs.frozen
class Distributed:
    """Where the task queue is and how long a task may take; absent, every check runs in-process."""

    #: redis://HOST:PORT/DB (or rediss:// for TLS); never a password, which is `password`.
    url: str = DEFAULT_URL
    password: Secret = Secret("")
    #: The queue's name: sites sharing a Redis each have their own.
    queue: str = "watchkeeper"
    #: How long one camera's task may run before it is given up as that camera's finding.
    task_seconds: float = 120.0
    #: How often a task lost with its worker is started again before it is the camera's finding.
    tries: int = 3
    #: Tasks one worker process runs at once (they mostly wait on cameras).
    worker_jobs: int = 16
    #: Tasks in Redis at once (queued, running or answered and not yet recorded): Redis memory is
    #: bounded by this many tasks, whatever the site's size.
    window: int = 500
    #: A worker whose own clock is further than this from the site's NTP reference (or could not be
    #: measured) is not trusted with clock reads: the appliance reads those devices itself.
    worker_clock_seconds: float = 1.0

    @property
    def where(self) -> str:
        """The broker as logs and errors may name it: scheme, host, port and database, no secret."""
        parts = urlsplit(self.url)
        return f"{parts.scheme}://{parts.hostname}:{parts.port or 6379}{parts.path or '/0'}"


def _url_problem(value: str) -> str | None:
    try:
        parts = urlsplit(value)
        parts.hostname  # noqa: B018 - a malformed [IPv6] host raises only here
    except ValueError:
        return "is not a URL (redis://HOST:PORT/DB)"
    if parts.scheme not in ("redis", "rediss") or not parts.hostname:
        return f"must be redis://HOST:PORT/DB or rediss://..., not {value.split('@')[-1]!r}"
    if parts.password or parts.username:
        # The url is journaled with the config: a password in it would be too.
        return "holds a user or password; put the password in `password` (env:NAME or file:PATH)"
    try:
        if parts.port == 0:
            return "has port 0"
    except ValueError:
        return "has a port that is not a number from 1 to 65535"
    database = parts.path.strip("/") or "0"
    if not database.isdigit():
        return f"must end in a database number (/0 .. /15), not /{database}"
    return None


def _queue_problem(value: str) -> str | None:
    return None if value and value.isprintable() and " " not in value and len(value) <= 100 else \
        "must be 1 to 100 printable characters without spaces"


def load_distributed(table: Any) -> Distributed:
    """The section from its config table (a `site.config` _Table: checks, secrets and unknown keys)."""
    section = Distributed(
        url=table.get("url", str, DEFAULT_URL, _url_problem) or DEFAULT_URL,
        password=table.secret("password"),
        queue=table.get("queue", str, "watchkeeper", _queue_problem) or "watchkeeper",
        task_seconds=table.get("task_seconds", float, 120.0) or 120.0,
        tries=table.get("tries", int, 3) or 3,
        worker_jobs=table.get("worker_jobs", int, 16) or 16,
        window=table.get("window", int, 500) or 500,
        worker_clock_seconds=table.get("worker_clock_seconds", float, 1.0) or 1.0,
    )
    table.finish()
    return section
