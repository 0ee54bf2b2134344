"""The JSON API's route table: reads and the console's actions, mounted under /api and described by it.

Every read needs a signed-in person (a session cookie or a personal API token, webauth's check);
every action goes through `require(request, permission)` and then the same rule method the CLI calls.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from datetime import date
from typing import Any

import attrs
from aiohttp import web

from watchkeeper.core.i18n import _, localize
from watchkeeper.devices.drivers import DeviceError
from watchkeeper.evidence.journal import JournalTampered
from watchkeeper.faces.console import auth, data, devices
from watchkeeper.faces.console.actions import ACTIONS, Action, InputError, perform
from watchkeeper.site.app import Refused

PREFIX = "/api"
APP_KEY = "watchkeeper_app"
JOURNAL_PAGE, JOURNAL_PAGE_MAX = 100, 500


@attrs.frozen
class Param:
    name: str
    type: str = "string"
    description: str = ""


@attrs.frozen
class Read:
    """A GET under /api: `load(app, request)` returns JSON-ready data or a finished response."""

    name: str
    path: str
    summary: str
    load: Callable[[Any, web.Request], Any]
    query: tuple[Param, ...] = ()
    media: str = "application/json"
    #: A permission the read needs beyond being signed in (copying footage is R9's concern).
    permission: str | None = None


def site_app(request: web.Request) -> Any:
    from watchkeeper.faces.web import APP

    return request.app[APP]


def _int(request: web.Request, name: str, default: int | None = None, low: int = 1,
         high: int = 2**63 - 1) -> int | None:
    value = request.query.get(name, request.match_info.get(name))
    if value in (None, ""):
        return default
    try:
        number = int(value)  # type: ignore[arg-type]
    except ValueError:
        raise web.HTTPBadRequest(text=_("{field}: not a whole number").format(field=name)) from None
    if not low <= number <= high:
        raise web.HTTPBadRequest(text=_("{field} must be from {low} to {high}").format(field=name, low=low, high=high))
    return number


def _day(request: web.Request) -> date | None:
    value = request.query.get("day", "")
    try:
        return date.fromisoformat(value) if value else None
    except ValueError:
        raise web.HTTPBadRequest(text=_("{field}: not a date (YYYY-MM-DD)").format(field="day")) from None


def journal_query(app: Any, request: web.Request) -> dict[str, Any]:
    return data.journal(app, request.query.get("kind", ""), request.query.get("actor", ""), _day(request),
                        _int(request, "before"), _int(request, "limit", JOURNAL_PAGE, 1, JOURNAL_PAGE_MAX) or 1)


async def _journal(app: Any, request: web.Request) -> dict[str, Any]:
    from watchkeeper.faces import health

    verification = await request.app[health.JOURNAL_CACHE].current(app)
    return journal_query(app, request) | {"verification": {
        "ok": verification.ok, "status": verification.status, "entries": verification.entries,
        "head_seq": verification.head_seq, "head_hash": verification.head_hash,
        "problems": [{"seq": p.seq, "status": p.status, "reason": p.reason} for p in verification.problems]}}


def _file(path: Any, media: str, name: str | None = None) -> web.FileResponse:
    return web.FileResponse(path, headers={"Content-Type": media, "Content-Disposition":
                                           f'attachment; filename="{name or path.name}"'})


def _frame(app: Any, request: web.Request) -> web.Response:
    which = request.match_info["which"]
    if which not in ("reference", "latest"):
        raise web.HTTPNotFound(text=_("a frame is 'reference' or 'latest'"))
    jpeg = data.frame(app, request.match_info["camera"], which)
    if jpeg is None:
        raise web.HTTPNotFound(text=_("no stored frame"))
    return web.Response(body=jpeg, content_type="image/jpeg", headers={"Cache-Control": "no-store"})


def _clip(app: Any, request: web.Request) -> web.FileResponse:
    export_id = _int(request, "id") or 0
    path = data.export_file(app, export_id, "clip")
    # A copy leaving the appliance is a retrieval: who downloaded which export, in the journal (R9).
    app.journal.append("retrieval", auth.current_person(request) or "?", f"export-{export_id}",
                       {"downloaded": export_id, "file": path.name})
    return _file(path, "video/mp4")


def _diagnostics(app: Any, request: web.Request) -> web.Response:
    device = request.match_info["device"]
    body = json.dumps(devices.diagnostics(app, device), ensure_ascii=False, indent=2, default=str)
    return web.Response(text=body, content_type="application/json",
                        headers={"Content-Disposition": f'attachment; filename="diagnostics-{device}.json"'})


READS: tuple[Read, ...] = (
    Read("today", "/today", "The shift, who is on duty, the camera grid, open findings, the inspection, handovers",
         lambda app, request: data.today(app)),
    Read("camera", "/cameras/{camera}", "A camera's metrics history, clock readings, coverage, gaps and findings",
         lambda app, request: data.camera(app, request.match_info["camera"])),
    Read("frame", "/cameras/{camera}/frames/{which}", "The camera's reference frame or its latest stored one",
         _frame, media="image/jpeg"),
    Read("room", "/room", "Doors, access events, visitors and the care checklist", lambda app, request: data.room(app)),
    Read("footage", "/footage", "Footage requests, exports and holds", lambda app, request: data.footage(app)),
    Read("manifest", "/footage/exports/{id}/manifest", "An export's manifest (files and their SHA-256)",
         lambda app, request: _file(data.export_file(app, _int(request, "id") or 0, "manifest"), "application/json")),
    Read("clip", "/footage/exports/{id}/clip", "Download an exported clip (journaled as a retrieval)", _clip,
         media="video/mp4", permission="footage.view"),
    Read("journal", "/journal", "A page of the journal, newest first, filtered, with its verification", _journal,
         (Param("kind"), Param("actor"), Param("day", "date", "a site day, YYYY-MM-DD"),
          Param("before", "integer", "entries before this seq"), Param("limit", "integer", "1 to 500"))),
    Read("reports", "/reports", "Journaled reports and signed reviews", lambda app, request: data.reports(app)),
    Read("report_file", "/reports/{seq}/files/{name}", "A file of a journaled report, checked against its hash",
         lambda app, request: _file(data.report_file(app, _int(request, "seq") or 0, request.match_info["name"]),
                                    "text/html" if request.match_info["name"].endswith(".html")
                                    else "application/json"), media="application/octet-stream"),
    Read("devices", "/devices", "Devices: status, last contact, capabilities, clock",
         lambda app, request: devices.devices(app)),
    Read("diagnostics", "/devices/{device}/diagnostics", "A device's diagnostics, secrets blanked", _diagnostics),
)


def failure(error: BaseException) -> tuple[int, str]:
    """The HTTP status and message for an action's failure (never a traceback)."""
    if isinstance(error, Refused):
        return 403, str(error)
    if isinstance(error, JournalTampered):
        return 409, _("the journal was tampered with: {reason}").format(reason=localize(error.problem.reason))
    if isinstance(error, DeviceError):
        return 502, f"{error.kind}: {localize(error.reason)}"
    if isinstance(error, KeyError):
        return 404, str(error.args[0]) if error.args else _("not found")
    return 400, str(error)


def read_handler(read: Read, page: bool = False) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    async def handler(request: web.Request) -> web.StreamResponse:
        auth.viewer(request, page)
        if read.permission:
            await auth.require(request, read.permission)
        app = site_app(request)
        try:
            result = read.load(app, request)
            if hasattr(result, "__await__"):
                result = await result
        except (KeyError, ValueError) as error:
            status, message = failure(error)
            return web.json_response({"error": message}, status=status)
        if isinstance(result, web.StreamResponse):
            return result
        return web.json_response(result, dumps=lambda value: json.dumps(value, ensure_ascii=False, default=str))
    return handler


async def request_fields(request: web.Request) -> dict[str, Any]:
    """An action's fields: the JSON body or the form, with the path's own values over them."""
    if request.content_type == "application/json":
        try:
            body = await request.json()
        except ValueError:
            raise web.HTTPBadRequest(text=_("the body is not JSON")) from None
        if not isinstance(body, dict):
            raise web.HTTPBadRequest(text=_("the body must be a JSON object"))
    else:
        body = dict(await request.post())
    return {**body, **request.match_info}


def action_handler(action: Action) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    async def handler(request: web.Request) -> web.StreamResponse:
        person = await auth.require(request, action.permission)
        try:
            result = await perform(site_app(request), action, person, await request_fields(request))
        except (Refused, JournalTampered, DeviceError, KeyError, ValueError, OSError) as error:
            status, message = failure(error) if not isinstance(error, OSError) else (500, str(error))
            return web.json_response({"ok": False, "error": message, "input": isinstance(error, InputError)},
                                     status=status)
        return web.json_response({"ok": True, "by": person, "result": result},
                                 dumps=lambda value: json.dumps(value, ensure_ascii=False, default=str))
    return handler


async def openapi(request: web.Request) -> web.Response:
    from watchkeeper.faces.api.openapi import document

    return web.json_response(document(request.app))


def add_routes(web_app: web.Application) -> None:
    """Mount every read and action under /api, the status summary and the OpenAPI document."""
    for read in READS:
        auth.route(web_app, "GET", PREFIX + read.path, read_handler(read), read.permission, name=f"api.{read.name}")
    for action in ACTIONS:
        auth.route(web_app, "POST", PREFIX + action.path, action_handler(action), action.permission,
                   name=f"api.{action.name}")
    auth.route(web_app, "GET", PREFIX + "/openapi.json", openapi, name="api.openapi")
