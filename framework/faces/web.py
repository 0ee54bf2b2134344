"""The dashboard `watchkeeper run` serves: today's clause status, open findings, cameras, the journal.

Every page needs a person logged in (or a per-person API token as `Authorization: Bearer …`), and
each route's action is authorized through the site's `authorize` hook: see `faces.webauth`. The
shared WATCHKEEPER_WEB_TOKEN of earlier versions is gone (a token nobody owns signs nothing); a set
one is refused with a message saying what replaced it. Pages never walk the journal on the event
loop (health.JournalCache), read the journal a page at a time, and a request that is not sent in
time is dropped.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
from collections.abc import Callable
from typing import Any

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError

from watchkeeper.core.findings import kind_title, severity_name
from watchkeeper.core.i18n import _, current_language, format_datetime, localize, stored_text
from watchkeeper.evidence.findingstore import reason_of
from watchkeeper.faces.bodies import describe
from watchkeeper.faces import health, webauth
from watchkeeper.faces.report import PERIODS, build_report
from watchkeeper.faces.report_render import evidence_text, render_html, templates

APP = web.AppKey("watchkeeper_app", object)
TOKEN_VARIABLE = "WATCHKEEPER_WEB_TOKEN"
ROUTE_PREFIX = "/plugins/"
#: A connection must send a whole request head within this time (and is closed when idle this long):
#: a client that sends half a request and waits holds nothing for longer.
HEADER_TIMEOUT_SECONDS = 15.0
#: A request, body included, must be received and answered within this time.
REQUEST_TIMEOUT_SECONDS = 30.0
#: Journal entries per page, and the most a client may ask for.
JOURNAL_PAGE = 100
JOURNAL_PAGE_MAX = 500
log = logging.getLogger(__name__)


class WebConfigError(ValueError):
    """The dashboard cannot be served as asked (e.g. a remote bind without a token)."""


def _time_limit(seconds: float) -> Any:
    @web.middleware
    async def middleware(request: web.Request, handler: Callable[..., Any]) -> web.StreamResponse:
        try:
            async with asyncio.timeout(seconds):
                return await handler(request)
        except TimeoutError:
            # 408 when the client never finished sending its body, 503 when the answer was slow.
            return web.Response(status=408 if not request.content.is_eof() else 503,
                                text=_("the request timed out"), headers={"Connection": "close"})

    return middleware


class _BadRequestLog(logging.LoggerAdapter):
    """aiohttp logs a traceback for every malformed request (an oversized header, a bad method); a
    client's mistake is one line, the server's own errors keep theirs."""

    def log(self, level: int, msg: object, *args: Any, **kwargs: Any) -> None:
        error = kwargs.get("exc_info")
        if isinstance(error, HttpProcessingError):
            self.logger.info("refused a malformed request: %s", str(error.message).splitlines()[0][:200])
            return
        self.logger.log(level, msg, *args, **kwargs)


def _local(app: Any) -> Callable[[str | None], str]:
    def local(value: str | None) -> str:
        return format_datetime(value, app.site.zone)
    return local


def latest_results(app: Any) -> list[dict[str, Any]]:
    """Each camera's result in the newest inspection run that looked at it."""
    if not app.store.db["inspection_results"].exists():
        return []
    cursor = app.store.conn.execute(
        "SELECT r.camera, r.status, r.findings, r.thumbnail, r.playback, runs.started_at, runs.signed_by"
        " FROM inspection_results r JOIN inspection_runs runs ON runs.id = r.run"
        " WHERE r.id IN (SELECT max(id) FROM inspection_results GROUP BY camera) ORDER BY r.camera")
    names = [column[0] for column in cursor.description]
    return [dict(zip(names, row), findings=json.loads(row[2] or "[]")) for row in cursor]


async def _verification(request: web.Request) -> Any:
    return await request.app[health.JOURNAL_CACHE].current(request.app[APP])


async def dashboard(request: web.Request) -> web.Response:
    app = request.app[APP]
    report = build_report(app, "day", verification=await _verification(request))
    page = templates().get_template("dashboard.html").render(
        site=app.site, report=report, cameras=latest_results(app), t=localize, language=current_language(),
        evidence_text=evidence_text, kind_title=kind_title, severity_name=severity_name, reason_of=reason_of,
        stored_text=stored_text, local=_local(app), open_findings=[f for f in report["findings"] if not f["closed_at"]],
        access=report["evidence"]["R3"]["access_events"][-20:], periods=list(PERIODS))
    return web.Response(text=page, content_type="text/html")


async def report_page(request: web.Request) -> web.Response:
    app = request.app[APP]
    period = request.query.get("period", "day")
    if period not in PERIODS:
        raise web.HTTPBadRequest(text=f"period must be one of {', '.join(PERIODS)}")
    report = build_report(app, period, verification=await _verification(request))
    return web.Response(text=render_html(report, app.site.zone), content_type="text/html")


def journal_entries(app: Any, before: int | None, limit: int) -> list[dict[str, Any]]:
    """One page of the journal, newest first, strictly before seq `before` (a primary-key range)."""
    cursor = app.store.conn.execute(
        "SELECT * FROM journal WHERE seq < ? ORDER BY seq DESC LIMIT ?", [before or 2**63 - 1, limit])
    names = [column[0] for column in cursor.description]
    return [dict(zip(names, row)) for row in cursor]


def _page_query(request: web.Request) -> tuple[int | None, int]:
    try:
        before = int(request.query["before"]) if "before" in request.query else None
        limit = int(request.query.get("limit", JOURNAL_PAGE))
    except ValueError:
        raise web.HTTPBadRequest(text=_("before and limit must be whole numbers")) from None
    if (before is not None and before < 1) or not 1 <= limit <= JOURNAL_PAGE_MAX:
        raise web.HTTPBadRequest(text=_("before must be 1 or more, and limit from 1 to {most}").format(
            most=JOURNAL_PAGE_MAX))
    return before, limit


async def journal_page(request: web.Request) -> web.Response:
    app = request.app[APP]
    before, limit = _page_query(request)
    entries = journal_entries(app, before, limit)
    older = entries[-1]["seq"] if len(entries) == limit and entries[-1]["seq"] > 1 else None
    page = templates().get_template("journal.html").render(
        site=app.site, entries=entries, verification=await _verification(request), older=older, limit=limit,
        t=localize, describe=describe, language=current_language())
    return web.Response(text=page, content_type="text/html")


async def status(request: web.Request) -> web.Response:
    app = request.app[APP]
    report = build_report(app, "day", verification=await _verification(request))
    return web.json_response({
        "site": report["site"], "period": report["period"],
        "clauses": {c["clause"]: c["status"] for c in report["clauses"]},
        "verdicts": [{k: c[k] for k in ("clause", "status", "rule", "reason", "evidence")} for c in report["clauses"]],
        "open_findings": [{k: f[k] for k in ("kind", "subject", "channel", "severity", "reason", "opened_at")}
                          for f in report["findings"] if not f["closed_at"]],
        "journal": {k: report["evidence"]["R6"]["verification"][k] for k in ("ok", "head_seq", "head_hash")},
    })


def make_web_app(app: Any, host: str = "127.0.0.1",
                 request_timeout: float = REQUEST_TIMEOUT_SECONDS) -> web.Application:
    """The dashboard for an opened App; plugins add routes under /plugins/ through `register_routes`."""
    if os.environ.get(TOKEN_VARIABLE):
        # Never silently ignored: whoever set it believes it guards the dashboard.
        raise WebConfigError(_("{variable} is no longer used: every person logs in, and scripts send their own "
                               "API token (`watchkeeper people token ID`); unset it").format(variable=TOKEN_VARIABLE))
    web_app = web.Application(middlewares=[_time_limit(request_timeout)])
    web_app[APP] = app
    webauth.install(web_app, app)
    web_app.router.add_get("/", dashboard)
    web_app.router.add_get("/report", report_page)
    web_app.router.add_get("/journal", journal_page)
    web_app.router.add_get("/api/status", status)
    health.add_routes(web_app, app)
    webauth.mark_public(web_app, "/healthz")

    async def warm(_web_app: web.Application) -> None:
        # The first walk starts with the server, not with the first visitor.
        asyncio.get_running_loop().create_task(web_app[health.JOURNAL_CACHE].current(app))

    web_app.on_startup.append(warm)

    def register(method: str, path: str, handler: Callable[..., Any], action: str | None = None) -> None:
        if not path.startswith(ROUTE_PREFIX):
            raise ValueError(f"plugin route {path!r} must start with {ROUTE_PREFIX}")
        webauth.route(web_app, method, path, handler, action)

    app.pm.hook.register_routes(register=register)
    from watchkeeper.faces import console

    console.mount(web_app)  # the screens under /console, the JSON API (/api/journal among it) under /api
    return web_app


async def serve(app: Any, host: str, port: int, header_timeout: float = HEADER_TIMEOUT_SECONDS,
                request_timeout: float = REQUEST_TIMEOUT_SECONDS) -> tuple[web.AppRunner, str]:
    """Start the dashboard; returns its runner (call cleanup() to stop) and its URL."""
    # aiohttp's keep-alive timer starts when a connection opens and closes it if no whole request
    # head has arrived by then, so it is the header timeout as well as the idle one; the lingering
    # time bounds how long an unread body is drained after the answer.
    runner = web.AppRunner(make_web_app(app, host, request_timeout), access_log=None, keepalive_timeout=header_timeout,
                           lingering_time=header_timeout,
                           logger=_BadRequestLog(logging.getLogger("aiohttp.server"), {}))
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    bound = site._server.sockets[0].getsockname()[1] if site._server else port  # aiohttp has no public accessor
    return runner, f"http://{host}:{bound}/"
