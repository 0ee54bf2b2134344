"""The console's seam to identity (`watchkeeper.faces.webauth`): who asks, may they act, the CSRF token.

Nothing here decides who someone is or what they may do: that is webauth's (sessions, API tokens,
CSRF, `authorize`). Without webauth installed every request is refused (fail closed). The language
a page is shown in is chosen here too: the `lang` cookie, else the browser's Accept-Language, else
the site's (WATCHKEEPER_LANG).
"""

from __future__ import annotations

import inspect
from types import ModuleType
from typing import Any
from urllib.parse import quote

from aiohttp import web

from watchkeeper.core.i18n import LOCALE_DIR, _, choose_language, current_language

#: The same cookie webauth sets at login from the person's stored choice (webauth.LANGUAGE_COOKIE).
LANGUAGE_COOKIE = "lang"
#: The form field the CSRF token travels in when webauth does not name its own.
CSRF_FIELD = "csrf_token"


def _webauth() -> ModuleType | None:
    try:
        from watchkeeper.faces import webauth
    except ImportError:
        return None
    return webauth


def set_language_cookie(response: web.StreamResponse, language: str) -> None:
    """Keep the browser's choice of language, as webauth does at login from the person's stored one."""
    webauth = _webauth()
    if webauth is not None:
        webauth.set_language_cookie(response, language)


def languages() -> list[str]:
    """English and every language with a compiled catalogue."""
    return ["en", *sorted(p.parent.parent.name for p in LOCALE_DIR.glob("*/LC_MESSAGES/*.mo"))]


def request_language(request: web.Request) -> str | None:
    chosen = request.cookies.get(LANGUAGE_COOKIE, "")
    if chosen in languages():
        return chosen
    for part in request.headers.get("Accept-Language", "").split(","):
        primary = part.split(";")[0].strip().replace("-", "_").lower().split("_")[0]
        # Any Chinese tag (zh-CN, zh-Hans, zh-SG) gets the Simplified catalogue: the one there is.
        found = next((language for language in languages() if primary and language.lower().split("_")[0] == primary),
                     None)
        if found is not None:
            return found
    return None


def shown_language() -> str:
    """The language a page is in, as one of `languages()` (the environment's `C` or `POSIX` is English)."""
    language = current_language()
    return language if language in languages() else next(
        (known for known in languages() if known.split("_")[0] == language.split("_")[0]), "en")


@web.middleware
async def language_middleware(request: web.Request, handler: Any) -> web.StreamResponse:
    """Each request in its person's language (aiohttp runs each request in a task of its own)."""
    choose_language(request_language(request))
    return await handler(request)


def current_person(request: web.Request) -> str | None:
    webauth = _webauth()
    return webauth.current_person(request) if webauth is not None else None


async def require(request: web.Request, action: str, resource: str = "") -> str:
    """The authenticated person allowed `action`; webauth answers 401/redirect/403 (journaled) otherwise."""
    webauth = _webauth()
    if webauth is None:
        raise web.HTTPUnauthorized(text=_("sign-in is not available on this appliance"))
    person = webauth.require(request, action, resource)
    return str(await person if inspect.isawaitable(person) else person)


def route(web_app: web.Application, method: str, path: str, handler: Any, action: str | None = None,
          name: str | None = None) -> None:
    """Register a route with the action webauth's middleware authorizes (reading when None)."""
    webauth = _webauth()
    if webauth is None:
        web_app.router.add_route(method, path, handler, name=name)
        return
    webauth.route(web_app, method, path, handler, action or webauth.VIEW, name=name)


def viewer(request: web.Request, page: bool) -> str:
    """The signed-in person for a read; a page without one redirects to the sign-in, the API answers 401."""
    person = current_person(request)
    if person is None:
        if page:
            raise web.HTTPSeeOther("/login?next=" + quote(request.path_qs, safe=""))
        raise web.HTTPUnauthorized(text=_("sign in, or send a personal API token"),
                                   headers={"WWW-Authenticate": "Bearer"})
    return person


def public(web_app: web.Application, path: str) -> None:
    """Routes at `path` need no person (webauth already lets /static/ through: this says so in its table)."""
    webauth = _webauth()
    if webauth is not None:
        webauth.mark_public(web_app, path)


def csrf(request: web.Request) -> dict[str, str]:
    """The hidden form field that carries the CSRF token: {"name": …, "value": …}."""
    webauth = _webauth()
    if webauth is None:
        return {"name": CSRF_FIELD, "value": ""}
    return {"name": getattr(webauth, "CSRF_FIELD", CSRF_FIELD), "value": str(webauth.csrf_token(request))}
