"""The dashboard `watchkeeper run` serves: today's clause status, open findings, cameras, the journal.

Read-only. It binds to loopback by default; on any other address it requires the access token in
WATCHKEEPER_WEB_TOKEN (sent as `Authorization: Bearer …` or `?token=…`), because it shows footage
thumbnails and who entered the monitoring room.
"""

from __future__ import annotations

import hmac
import ipaddress
import json
import os
from collections.abc import Callable
from datetime import datetime
from typing import Any

from aiohttp import web

from watchkeeper.core.i18n import _, current_language
from watchkeeper.faces import health
from watchkeeper.faces.report import PERIODS, build_report
from watchkeeper.faces.report_render import evidence_text, render_html, templates

APP = web.AppKey("watchkeeper_app", object)
TOKEN_VARIABLE = "WATCHKEEPER_WEB_TOKEN"
ROUTE_PREFIX = "/plugins/"


class WebConfigError(ValueError):
    """The dashboard cannot be served as asked (e.g. a remote bind without a token)."""


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _token_middleware(token: str) -> Any:
    @web.middleware
    async def middleware(request: web.Request, handler: Callable[..., Any]) -> web.StreamResponse:
        offered = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
        offered = offered or request.query.get("token", "")
        if not hmac.compare_digest(offered.encode(), token.encode()):
            return web.Response(status=401, text="a dashboard token is required",
                                headers={"WWW-Authenticate": "Bearer"})
        return await handler(request)

    return middleware


def _local(app: Any) -> Callable[[str | None], str]:
    def local(value: str | None) -> str:
        return datetime.fromisoformat(value).astimezone(app.site.zone).strftime("%Y-%m-%d %H:%M") if value else ""
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


async def dashboard(request: web.Request) -> web.Response:
    app = request.app[APP]
    report = build_report(app, "day")
    page = templates().get_template("dashboard.html").render(
        site=app.site, report=report, cameras=latest_results(app), t=_, language=current_language(),
        evidence_text=evidence_text,
        local=_local(app), open_findings=[f for f in report["findings"] if not f["closed_at"]],
        access=report["evidence"]["R3"]["access_events"][-20:], periods=list(PERIODS))
    return web.Response(text=page, content_type="text/html")


async def report_page(request: web.Request) -> web.Response:
    app = request.app[APP]
    period = request.query.get("period", "day")
    if period not in PERIODS:
        raise web.HTTPBadRequest(text=f"period must be one of {', '.join(PERIODS)}")
    return web.Response(text=render_html(build_report(app, period), app.site.zone), content_type="text/html")


async def journal_page(request: web.Request) -> web.Response:
    app = request.app[APP]
    entries = list(app.store.db["journal"].rows_where(order_by="seq DESC", limit=200))
    page = templates().get_template("journal.html").render(
        site=app.site, entries=entries, verification=app.journal.verify(), t=_, language=current_language())
    return web.Response(text=page, content_type="text/html")


async def status(request: web.Request) -> web.Response:
    app = request.app[APP]
    report = build_report(app, "day")
    return web.json_response({
        "site": report["site"], "period": report["period"],
        "clauses": {c["clause"]: c["status"] for c in report["clauses"]},
        "verdicts": [{k: c[k] for k in ("clause", "status", "rule", "reason", "evidence")} for c in report["clauses"]],
        "open_findings": [{k: f[k] for k in ("kind", "subject", "channel", "severity", "reason", "opened_at")}
                          for f in report["findings"] if not f["closed_at"]],
        "journal": {k: report["evidence"]["R6"]["verification"][k] for k in ("ok", "head_seq", "head_hash")},
    })


def make_web_app(app: Any, host: str = "127.0.0.1") -> web.Application:
    """The dashboard for an opened App; plugins add routes under /plugins/ through `register_routes`."""
    token = os.environ.get(TOKEN_VARIABLE, "")
    if not is_loopback(host) and len(token) < 16:
        raise WebConfigError(f"serving the dashboard on {host} needs {TOKEN_VARIABLE} set to a token of 16 or more "
                             "characters; on 127.0.0.1 it needs none")
    web_app = web.Application(middlewares=[_token_middleware(token)] if token else [])
    web_app[APP] = app
    web_app.router.add_get("/", dashboard)
    web_app.router.add_get("/report", report_page)
    web_app.router.add_get("/journal", journal_page)
    web_app.router.add_get("/api/status", status)
    health.add_routes(web_app, app)

    def register(method: str, path: str, handler: Callable[..., Any]) -> None:
        if not path.startswith(ROUTE_PREFIX):
            raise ValueError(f"plugin route {path!r} must start with {ROUTE_PREFIX}")
        web_app.router.add_route(method, path, handler)

    app.pm.hook.register_routes(register=register)
    return web_app


async def serve(app: Any, host: str, port: int) -> tuple[web.AppRunner, str]:
    """Start the dashboard; returns its runner (call cleanup() to stop) and its URL."""
    runner = web.AppRunner(make_web_app(app, host), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    bound = site._server.sockets[0].getsockname()[1] if site._server else port  # aiohttp has no public accessor
    return runner, f"http://{host}:{bound}/"
