"""The console's screens under /console: Today, Camera, Room, Footage, Journal, Reports, Devices.

Pages read through `data`/`devices` (what the API returns) and post forms to the actions in
`actions.ACTIONS` (what the API runs). An action's outcome is shown on its screen: a 303 back with
`done=` on success, the screen again with the refusal or the error and its status otherwise.
"""

from __future__ import annotations

import base64
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from aiohttp import web

from watchkeeper.core.i18n import _, localize
from watchkeeper.faces import charts
from watchkeeper.faces.bodies import describe
from watchkeeper.faces.api.routes import failure, journal_query, request_fields, site_app
from watchkeeper.faces.console import auth, data, devices
from watchkeeper.faces.console.actions import ACTIONS, BY_NAME, Action, perform
from watchkeeper.faces.report import PERIODS
from watchkeeper.faces.report_render import templates
from watchkeeper.site import identity

PREFIX = "/console"
STATIC = Path(__file__).resolve().parent.parent / "static" / "console"
#: Values the screens translate as they show them (statuses, kinds): collected by scripts/i18n.py.
VOCABULARY = ("pending", "approved", "rejected", "exported", "checked_out", "unreachable", "unknown", "camera",
              "recorder", "door", "daily", "weekly", "entry", "exit", "event", "never", "info")
SCREENS = (("today", "/console/", "Today"), ("room", "/console/room", "Room"),
           ("footage", "/console/footage", "Footage"), ("journal", "/console/journal", "Journal"),
           ("reports", "/console/reports", "Reports and reviews"), ("devices", "/console/devices", "Devices"))


def _local(app: Any) -> Callable[[str | None], str]:
    def local(value: str | None) -> str:
        if not value:
            return ""
        return datetime.fromisoformat(value).astimezone(app.site.zone).strftime("%Y-%m-%d %H:%M")
    return local


def _allowed(app: Any, person: str) -> Callable[[str], bool]:
    """Whether to offer an action's form (display only: the action itself is authorised when posted)."""
    cache: dict[str, bool] = {}

    def allowed(action_name: str) -> bool:
        if action_name not in cache:
            cache[action_name] = app.authorize(person, BY_NAME[action_name].permission, "console") is True
        return cache[action_name]
    return allowed


def render(request: web.Request, template: str, screen: str, status: int = 200, problem: str | None = None,
           **context: Any) -> web.Response:
    app = site_app(request)
    person = auth.current_person(request) or ""
    done = request.query.get("done", "")
    page = templates().get_template(f"console/{template}").render(
        t=localize, describe=describe, language=auth.shown_language(), languages=auth.languages(), site=app.site,
        person=person,
        screens=SCREENS, screen=screen, csrf=auth.csrf(request), allowed=_allowed(app, person), local=_local(app),
        done=BY_NAME[done].summary if done in BY_NAME else None, problem=problem, path=request.path_qs,
        **context)
    return web.Response(text=page, content_type="text/html", status=status)


def screen(name: str, template: str, load: Callable[[Any, web.Request], dict[str, Any]]
           ) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    async def handler(request: web.Request) -> web.StreamResponse:
        auth.viewer(request, True)
        try:
            context = load(site_app(request), request)
        except KeyError as error:
            raise web.HTTPNotFound(text=str(error.args[0]) if error.args else "") from None
        return render(request, template, name, **context)
    return handler


def _camera(app: Any, request: web.Request) -> dict[str, Any]:
    return {"camera": data.camera(app, request.match_info["camera"])}


def _journal(app: Any, request: web.Request) -> dict[str, Any]:
    return {"journal": journal_query(app, request), "filters": dict(request.query), "verification": None}


def _reports(app: Any, request: web.Request) -> dict[str, Any]:
    return {"reports": data.reports(app), "periods": list(PERIODS)}


LOADERS: dict[str, tuple[str, str, Callable[[Any, web.Request], dict[str, Any]]]] = {
    "/": ("today", "today.html", lambda app, request: {"today": data.today(app)}),
    "/cameras/{camera}": ("today", "camera.html", _camera),
    "/room": ("room", "room.html", lambda app, request: {"room": data.room(app),
                                                         "people": data.today(app)["people"]}),
    "/footage": ("footage", "footage.html", lambda app, request: {"footage": data.footage(app)}),
    "/journal": ("journal", "journal.html", _journal),
    "/reports": ("reports", "reports.html", _reports),
    "/devices": ("devices", "devices.html", lambda app, request: {"devices": devices.devices(app)}),
}


async def journal_screen(request: web.Request) -> web.StreamResponse:
    """The journal with its verification (walked off the loop by the dashboard's cache)."""
    from watchkeeper.faces import health

    auth.viewer(request, True)
    app = site_app(request)
    verification = await request.app[health.JOURNAL_CACHE].current(app)
    return render(request, "journal.html", "journal", journal=journal_query(app, request),
                  filters=dict(request.query), verification=verification)


def action_form(action: Action) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    async def handler(request: web.Request) -> web.StreamResponse:
        person = await auth.require(request, action.permission)
        app = site_app(request)
        try:
            await perform(app, action, person, await request_fields(request))
        except Exception as error:  # shown on the screen, never a traceback
            status, message = failure(error) if not isinstance(error, OSError) else (500, str(error))
            back = next((s for s in SCREENS if s[1] == action.screen), SCREENS[0])
            template, loader = LOADERS[back[1].removeprefix(PREFIX) or "/"][1:]
            return render(request, template, back[0], status=status, problem=message, **loader(app, request))
        raise web.HTTPSeeOther(f"{action.screen}?done={action.name}")
    return handler


async def chart(request: web.Request) -> web.Response:
    """A camera's clock-offset or coverage chart as a PNG (an image of our own origin, not a data URI)."""
    auth.viewer(request, True)
    app = site_app(request)
    try:
        camera = data.camera(app, request.match_info["camera"])
    except KeyError:
        raise web.HTTPNotFound() from None
    if request.match_info["which"] == "clock":
        uri = charts.clock_chart([dict(r, device=camera["device"]) for r in camera["clock"]
                                  if r["offset_seconds"] is not None], camera["tolerance_seconds"], app.site.zone)
    else:
        end = datetime.now(timezone.utc)
        uri = charts.coverage_chart([camera["id"]], [dict(r, camera=camera["id"]) for r in camera["coverage"]],
                                    [dict(g, camera=camera["id"]) for g in camera["gaps"]],
                                    end - timedelta(days=7), end, app.site.zone)
    if uri is None:
        raise web.HTTPNotFound(text=_("nothing to draw yet"))
    return web.Response(body=base64.b64decode(uri.split(",", 1)[1]), content_type="image/png")


async def language(request: web.Request) -> web.StreamResponse:
    """Switch the console's language: for this browser (a cookie), and kept for the signed-in person, whose
    next login on any workstation brings it back."""
    chosen = request.query.get("to", "")
    back = request.query.get("back", PREFIX + "/")
    if not back.startswith(PREFIX + "/") or back.startswith("//"):
        back = PREFIX + "/"
    response = web.HTTPSeeOther(back)
    if chosen in auth.languages():
        person = auth.current_person(request)
        if person is not None:
            identity.prefer_language(site_app(request), person, chosen)
        auth.set_language_cookie(response, chosen)
    raise response


def add_routes(web_app: web.Application) -> None:
    """Mount the screens, their forms, the charts, the language switch and the static files."""
    for path, (name, template, load) in LOADERS.items():
        handler = journal_screen if name == "journal" else screen(name, template, load)
        auth.route(web_app, "GET", PREFIX + path, handler,
                   name=f"console.{name}" + ("" if path != "/cameras/{camera}" else ".camera"))
    for action in ACTIONS:
        auth.route(web_app, "POST", PREFIX + action.path, action_form(action), action.permission,
                   name=f"console.{action.name}")
    auth.route(web_app, "GET", PREFIX + "/cameras/{camera}/charts/{which:clock|coverage}.png", chart)
    auth.route(web_app, "GET", PREFIX + "/language", language)
    # /static/ is public in webauth (the stylesheet and script hold nothing of the site's).
    web_app.router.add_static("/static/console/", STATIC, name="console.static")
    auth.public(web_app, "/static/console")
