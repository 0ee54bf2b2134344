"""`watchkeeper estate serve`: the push endpoint, the dashboard and its drill-down, on one aiohttp app."""

from __future__ import annotations

import json
import logging
import os
import ssl
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from aiohttp import web

from watchkeeper.core.i18n import _, current_language
from watchkeeper.faces.estate.config import EstateConfig
from watchkeeper.faces.estate.ingest import STORE_FAILED, Writer
from watchkeeper.faces.estate.protocol import MAX_BODY_BYTES, PUSH_PATH, SITE_HEADER
from watchkeeper.faces import webauth
from watchkeeper.faces.estate.people import EstateApp, open_estate_app
from watchkeeper.faces.estate.store import EnrolError, EstateStore
from watchkeeper.faces.estate.views import TITLES, overview, site_detail
from watchkeeper.faces.report_render import evidence_text, templates

log = logging.getLogger(__name__)
STORE: web.AppKey[EstateStore] = web.AppKey("estate_store", EstateStore)
CONFIG: web.AppKey[EstateConfig] = web.AppKey("estate_config", EstateConfig)
WRITER: web.AppKey[Writer] = web.AppKey("estate_writer", Writer)


async def push(request: web.Request) -> web.Response:
    """Authenticated here (one indexed lookup, before the body is read); parsed, checked and stored
    by the writer process, which answers once the push has committed."""
    store = request.app[STORE]
    site_id = request.headers.get(SITE_HEADER, "")
    authorization = request.headers.get("Authorization", "")
    key = authorization[7:] if authorization.startswith("Bearer ") else ""
    refused = store.authenticate(site_id, key)
    writer = request.app[WRITER]
    if refused is not None:
        remote = request.remote or ""
        try:
            first = await writer.run(("refusal", remote, site_id, refused))
        except Exception:  # noqa: BLE001 - the refusal stands whether or not it could be counted
            first = True
        # Logged with who asked and why, never with the key it offered; repeats within a minute are
        # counted in the store and logged at debug level, so a flood cannot fill the log.
        log.log(logging.WARNING if first else logging.DEBUG, "refused push from %s for site %r: %s", remote,
                site_id[:64], refused)
        return web.json_response({"error": refused}, status=401)
    body = await request.read()
    try:
        status, answer = await writer.run(("push", site_id, body))
    except Exception as error:  # the store failed: the site keeps its items and resends them
        log.error("push from site %s not stored: %s", site_id, error)
        return web.json_response({"error": STORE_FAILED}, status=503)
    for problem in answer.get("flags", []) if status == 200 else []:
        log.warning("site %s flagged: %s", site_id, problem)
    return web.json_response(answer, status=status)


def _page(request: web.Request) -> dict[str, Any]:
    """What every dashboard page shows: its times in the estate's zone, and who is signed in (with the
    session's CSRF token for the logout form; none for a bearer token, which has no session to end)."""
    config = request.app[CONFIG]
    zone = ZoneInfo(config.time_zone)

    def local(value: str | None) -> str:
        return datetime.fromisoformat(value).astimezone(zone).strftime("%Y-%m-%d %H:%M") if value else "—"

    return {"t": _, "language": current_language(), "local": local, "titles": TITLES, "estate": config.name,
            "evidence_text": evidence_text, "person": webauth.current_person(request) or "",
            "csrf": webauth.csrf_token(request)}


async def dashboard(request: web.Request) -> web.Response:
    config = request.app[CONFIG]
    sites = overview(request.app[STORE], config.stale_minutes)
    html = templates().get_template("estate_dashboard.html").render(sites=sites, **_page(request))
    return web.Response(text=html, content_type="text/html")


async def site_page(request: web.Request) -> web.Response:
    detail = site_detail(request.app[STORE], request.match_info["site"])
    if detail is None:
        raise web.HTTPNotFound(text=_("no enrolled site {site}").format(site=request.match_info["site"]))
    html = templates().get_template("estate_site.html").render(d=detail, request=request, **_page(request))
    return web.Response(text=html, content_type="text/html")


async def sites_api(request: web.Request) -> web.Response:
    sites = overview(request.app[STORE], request.app[CONFIG].stale_minutes)
    return web.json_response(sites, dumps=lambda value: json.dumps(value, ensure_ascii=False))


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"ok": True})


TOKEN_VARIABLE = "WATCHKEEPER_ESTATE_TOKEN"
PEOPLE: web.AppKey[EstateApp] = web.AppKey("estate_people", EstateApp)


class EstateConfigError(ValueError):
    """The estate cannot serve as asked (the shared dashboard token of earlier versions is set)."""


async def clear_flag(request: web.Request) -> web.StreamResponse:
    """An admin clears a site's flag from its page, with the reason they give (journaled)."""
    person = webauth.require(request, "estate.clear", request.match_info["site"])
    site_id = request.match_info["site"]
    reason = str((await request.post()).get("reason", "")).strip()
    if not reason:
        raise web.HTTPBadRequest(text=_("say what was found: a reason is required to clear a flag"))
    store = request.app[STORE]
    try:
        request.app[PEOPLE].act(person, "clear_flag", site_id, reason, lambda: store.clear_flag(site_id))
    except EnrolError as error:
        raise web.HTTPNotFound(text=str(error)) from None
    raise web.HTTPSeeOther(f"/sites/{site_id}")


def make_estate_app(config: EstateConfig, store: EstateStore, people: EstateApp | None = None) -> web.Application:
    """`store` serves the dashboard's reads; pushes are written through a Writer on a second
    connection to the same store (so reads see only committed pushes). Every dashboard route needs a
    person of the estate logged in (`faces.webauth`, the appliance's logins); a push brings its site key."""
    if os.environ.get(TOKEN_VARIABLE):
        # Never silently ignored: whoever set it believes it guards the dashboard.
        raise EstateConfigError(_("{variable} is no longer used: every person logs in (`watchkeeper estate people "
                                  "add`), and scripts send their own API token (`watchkeeper estate people token "
                                  "ID`); unset it").format(variable=TOKEN_VARIABLE))
    owned = people is None
    if people is None:
        people = open_estate_app(config)
    people.attach(store)  # old events kept, entries a crash held back journaled, before serving anyone
    app = web.Application(client_max_size=MAX_BODY_BYTES)
    writer = Writer(config.store, config.database_url.reveal())
    app[STORE], app[CONFIG], app[WRITER], app[PEOPLE] = store, config, writer, people
    webauth.install(app, people)

    async def start_writer(_app: web.Application) -> None:
        await writer.start()

    async def close(_app: web.Application) -> None:
        await app[WRITER].close()
        if owned:
            people.close()

    app.on_startup.append(start_writer)
    app.on_cleanup.append(close)
    webauth.public_route(app, "POST", PUSH_PATH, push)
    webauth.public_route(app, "GET", "/healthz", healthz)
    webauth.route(app, "GET", "/", dashboard)
    webauth.route(app, "GET", "/sites/{site}", site_page)
    webauth.route(app, "POST", "/sites/{site}/clear", clear_flag, action="estate.clear")
    webauth.route(app, "GET", "/api/v1/sites", sites_api)
    return app


def server_ssl(config: EstateConfig) -> ssl.SSLContext | None:
    """TLS when configured; with `client_ca`, each appliance must show a certificate that CA signed."""
    if config.tls_cert is None or config.tls_key is None:
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(str(config.tls_cert), str(config.tls_key))
    if config.client_ca is not None:
        context.load_verify_locations(cafile=str(config.client_ca))
        context.verify_mode = ssl.CERT_REQUIRED
    return context


async def start(config: EstateConfig, store: EstateStore, port: int | None = None) -> web.AppRunner:
    """Start serving (tests and `serve`); the caller cleans the runner up."""
    runner = web.AppRunner(make_estate_app(config, store), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, config.host, config.port if port is None else port, ssl_context=server_ssl(config),
                       reuse_address=True)
    await site.start()
    return runner
