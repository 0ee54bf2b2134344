"""Runs checks: collects them from the plugins, fans out over devices, reconciles and journals results."""

from __future__ import annotations

import asyncio
import collections
import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

import pluggy

from watchkeeper.core.models import Endpoint
from watchkeeper.devices.drivers import DEVICE_FAILURE_KINDS, CameraDriver, DeviceError
from watchkeeper.site.app import App, DeviceReach
from watchkeeper.core.findings import Finding, FindingKind
from watchkeeper.core.i18n import N_
from watchkeeper.site.checks import Check, CheckContext, CheckResult

log = logging.getLogger(__name__)

#: How many devices a check talks to at once.
DEVICE_CONCURRENCY = 64


def collect_checks(pm: pluggy.PluginManager) -> dict[str, Check]:
    checks: dict[str, Check] = {}

    def register(check: Check) -> None:
        if not isinstance(check, Check):
            raise TypeError(f"register_checks expects a Check, got {check!r}")
        if check.name in checks:
            raise ValueError(f"check {check.name!r} is registered twice")
        checks[check.name] = check

    pm.hook.register_checks(register=register)
    return checks


async def per_device(devices: Iterable[tuple[str, Endpoint]],
                     work: Callable[[str, CameraDriver, Endpoint], Awaitable[CheckResult]],
                     app: DeviceReach) -> CheckResult:
    """Run work for each (device id, endpoint) concurrently; a device failure becomes its finding."""
    limit = asyncio.Semaphore(DEVICE_CONCURRENCY)
    total = CheckResult()

    async def one(device_id: str, endpoint: Endpoint) -> CheckResult:
        async with limit:
            result = CheckResult()
            result.evaluated([*DEVICE_FAILURE_KINDS, FindingKind.CHECK_FAILED], device_id)
            driver = app.driver(endpoint)
            try:
                result.merge(await work(device_id, driver, endpoint))
            except DeviceError as error:
                result.findings.append(error.finding(device_id))
            except Exception as error:  # a bug (or a capability read too early) costs one device, not the run
                log.exception("%s: checking %s failed", getattr(work, "__name__", "check"), device_id)
                result.findings.append(Finding(FindingKind.CHECK_FAILED, device_id,
                                               N_("check failed inside watchkeeper ({error}); see the log",
                                                  error=type(error).__name__)))
            finally:
                await driver.close()
            return result

    for result in await asyncio.gather(*(one(device_id, endpoint) for device_id, endpoint in devices)):
        total.merge(result)
    return total


async def run_check(app: App, check: Check, actor: str = "watchkeeper", only: frozenset[str] | None = None,
                    progress: Callable[[str], None] | None = None, **options: Any) -> CheckResult:
    """Run one check, reconcile its findings across runs, and journal what it did."""
    store = app.finding_store()
    context = CheckContext(app, store, actor, only, progress=progress, options=options)
    kind = {"R7": "clock", "R8": "retention", "R5": "inspection", "R4": "maintenance"}.get(check.clause, "operation")
    started = time.monotonic()
    try:
        result = await check.run(context)
    except Exception as error:  # a run that broke is journaled too, then the caller hears of it
        app.journal.append(kind, actor, check.name, {"check": check.name, "clause": check.clause,
                                                     "failed": f"{type(error).__name__}: {error}"[:300],
                                                     "duration_seconds": round(time.monotonic() - started, 3)})
        raise
    store.reconcile(result.scope, result.findings)
    duration = round(time.monotonic() - started, 3)
    app.journal.append(kind, actor, check.name, {
        "check": check.name, "clause": check.clause, "findings": [f.to_dict() for f in result.findings],
        "duration_seconds": duration, **result.summary})
    # One line per check for journald and the site's log tooling: key=value, counts by severity.
    severities = collections.Counter(str(finding.severity) for finding in result.findings)
    log.info("check=%s clause=%s actor=%s findings=%d faults=%d warnings=%d duration_seconds=%.3f",
             check.name, check.clause, actor, len(result.findings), severities.get("fault", 0),
             severities.get("warning", 0), duration)
    return result
