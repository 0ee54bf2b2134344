"""The Check record rule plugins register, the context a check runs in, and the runner."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

import attrs

from .drivers import DEVICE_FAILURE_KINDS, CameraDriver, DeviceError
from .findings import Finding, FindingKind

if TYPE_CHECKING:  # pragma: no cover
    from .app import App
    from .findingstore import FindingStore

CLAUSES = ("R1", "R2", "R3", "R4", "R5", "R6", "R7", "R8", "R9", "R10")

#: How many devices a check talks to at once.
DEVICE_CONCURRENCY = 64


@attrs.define
class CheckResult:
    """What a check saw, and what it was able to look at (so absent findings can be closed)."""

    findings: list[Finding] = attrs.field(factory=list)
    #: (kind, subject, channel) triples the check evaluated this run.
    scope: set[tuple[str, str, int | None]] = attrs.field(factory=set)
    summary: dict[str, Any] = attrs.field(factory=dict)

    def evaluated(self, kinds: Iterable[FindingKind | str], subject: str, channel: int | None = None) -> None:
        self.scope.update((str(kind), subject, channel) for kind in kinds)

    def merge(self, other: CheckResult) -> None:
        self.findings += other.findings
        self.scope |= other.scope


@attrs.define
class CheckContext:
    app: App
    findings: FindingStore
    actor: str = "watchkeeper"
    #: Limit the check to these device or camera ids; None means all.
    only: frozenset[str] | None = None
    now: datetime = attrs.field(factory=lambda: datetime.now(timezone.utc))
    #: Called with each item's id as it is done (the CLI's progress bar).
    progress: Callable[[str], None] | None = None
    #: Check-specific switches from the command line, e.g. {"playback": False}.
    options: dict[str, Any] = attrs.field(factory=dict)

    def wanted(self, item_id: str) -> bool:
        return self.only is None or item_id in self.only


@attrs.frozen
class Check:
    """A rule's unit of work: run it, get findings. Registered through `register_checks`."""

    name: str
    clause: str = attrs.field(validator=attrs.validators.in_(CLAUSES))
    run: Callable[[CheckContext], Awaitable[CheckResult]]
    description: str = ""


def collect_checks(pm: Any) -> dict[str, Check]:
    checks: dict[str, Check] = {}

    def register(check: Check) -> None:
        if not isinstance(check, Check):
            raise TypeError(f"register_checks expects a Check, got {check!r}")
        if check.name in checks:
            raise ValueError(f"check {check.name!r} is registered twice")
        checks[check.name] = check

    pm.hook.register_checks(register=register)
    return checks


async def per_device(devices: Iterable[tuple[str, Any]],
                     work: Callable[[str, CameraDriver, Any], Awaitable[CheckResult]],
                     app: App) -> CheckResult:
    """Run work for each (device id, endpoint) concurrently; a device failure becomes its finding."""
    limit = asyncio.Semaphore(DEVICE_CONCURRENCY)
    total = CheckResult()

    async def one(device_id: str, endpoint: Any) -> CheckResult:
        async with limit:
            result = CheckResult()
            result.evaluated(DEVICE_FAILURE_KINDS, device_id)
            driver = app.driver(endpoint)
            try:
                result.merge(await work(device_id, driver, endpoint))
            except DeviceError as error:
                result.findings.append(error.finding(device_id))
            finally:
                await driver.close()
            return result

    for result in await asyncio.gather(*(one(device_id, endpoint) for device_id, endpoint in devices)):
        total.merge(result)
    return total


async def run_check(app: App, check: Check, actor: str = "watchkeeper", only: frozenset[str] | None = None,
                    progress: Callable[[str], None] | None = None, **options: Any) -> CheckResult:
    """Run one check, reconcile its findings across runs, and journal what it did."""
    from .findingstore import FindingStore

    store = FindingStore(app.store, app.site, app.pm)
    context = CheckContext(app, store, actor, only, progress=progress, options=options)
    result = await check.run(context)
    store.reconcile(result.scope, result.findings)
    kind = {"R7": "clock", "R8": "retention", "R5": "inspection", "R4": "maintenance"}.get(check.clause, "operation")
    app.journal.append(kind, actor, check.name, {
        "check": check.name, "clause": check.clause, "findings": [f.to_dict() for f in result.findings],
        **result.summary})
    return result
