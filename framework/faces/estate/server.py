"""`watchkeeper estate serve`: the push endpoint, the dashboard and its drill-down, on one aiohttp app."""

from __future__ import annotations

import json
import logging
import ssl
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from aiohttp import web

from watchkeeper.core.i18n import _, current_language
from watchkeeper.faces.estate.config import EstateConfig
from watchkeeper.faces.estate.protocol import KINDS, MAX_BODY_BYTES, PUSH_PATH, SITE_HEADER, digest
from watchkeeper.faces.estate.store import EstateStore
from watchkeeper.faces.estate.views import TITLES, overview, site_detail
from watchkeeper.faces.report_render import evidence_text, templates

log = logging.getLogger(__name__)
STORE: web.AppKey[EstateStore] = web.AppKey("estate_store", EstateStore)
CONFIG: web.AppKey[EstateConfig] = web.AppKey("estate_config", EstateConfig)


class BadPush(ValueError):
    """A push body that is not a list of well-formed items."""


def _items(data: Any) -> list[dict[str, Any]]:
    items = data.get("items") if isinstance(data, dict) else None
    if not isinstance(items, list):
        raise BadPush("the body must be {\"items\": [...]}")
    previous = None
    for item in items:
        if not isinstance(item, dict) or not isinstance(item.get("seq"), int) or item.get("kind") not in KINDS:
            raise BadPush("each item needs an integer seq and a known kind")
        if previous is not None and item["seq"] != previous + 1:
            raise BadPush("items must be consecutive")
        if item.get("digest") != digest(item["kind"], item.get("body")):
            raise BadPush(f"item {item['seq']}: the digest does not match its body")
        previous = item["seq"]
    return items


async def push(request: web.Request) -> web.Response:
    store = request.app[STORE]
    site_id = request.headers.get(SITE_HEADER, "")
    authorization = request.headers.get("Authorization", "")
    key = authorization[7:] if authorization.startswith("Bearer ") else ""
    refused = store.authenticate(site_id, key)
    if refused is not None:
        # Logged with who asked and why, never with the key it offered.
        log.warning("refused push from %s for site %r: %s", request.remote, site_id[:64], refused)
        store.refuse(request.remote or "", site_id, refused)
        return web.json_response({"error": refused}, status=401)
    try:
        items = _items(await request.json())
    except (ValueError, UnicodeDecodeError) as error:
        return web.json_response({"error": str(error)}, status=400)
    acked = store.acked(site_id)
    if items and items[0]["seq"] > acked + 1 and not items[0].get("after_gap"):
        return web.json_response({"acked": acked, "error": "items missing before this push"}, status=409)
    acked, problems = store.ingest(site_id, items)
    for problem in problems:
        log.warning("site %s flagged: %s", site_id, problem)
    return web.json_response({"acked": acked, "flags": problems})


def _page(config: EstateConfig) -> dict[str, Any]:
    zone = ZoneInfo(config.time_zone)

    def local(value: str | None) -> str:
        return datetime.fromisoformat(value).astimezone(zone).strftime("%Y-%m-%d %H:%M") if value else "—"

    return {"t": _, "language": current_language(), "local": local, "titles": TITLES, "estate": config.name,
            "evidence_text": evidence_text}


async def dashboard(request: web.Request) -> web.Response:
    config = request.app[CONFIG]
    sites = overview(request.app[STORE], config.stale_minutes)
    html = templates().get_template("estate_dashboard.html").render(sites=sites, **_page(config))
    return web.Response(text=html, content_type="text/html")


async def site_page(request: web.Request) -> web.Response:
    detail = site_detail(request.app[STORE], request.match_info["site"])
    if detail is None:
        raise web.HTTPNotFound(text=_("no enrolled site {site}").format(site=request.match_info["site"]))
    html = templates().get_template("estate_site.html").render(d=detail, **_page(request.app[CONFIG]))
    return web.Response(text=html, content_type="text/html")


async def sites_api(request: web.Request) -> web.Response:
    sites = overview(request.app[STORE], request.app[CONFIG].stale_minutes)
    return web.json_response(sites, dumps=lambda value: json.dumps(value, ensure_ascii=False))


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"ok": True})


def make_estate_app(config: EstateConfig, store: EstateStore) -> web.Application:
    app = web.Application(client_max_size=MAX_BODY_BYTES)
    app[STORE], app[CONFIG] = store, config
    app.router.add_post(PUSH_PATH, push)
    app.router.add_get("/", dashboard)
    app.router.add_get("/sites/{site}", site_page)
    app.router.add_get("/api/v1/sites", sites_api)
    app.router.add_get("/healthz", healthz)
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
