"""Who is asking the web console: logins, sessions, CSRF, a role check on every route, security headers.

Every route but `/login`, `/healthz` and `/static/` needs a person: a session (the `wk_session`
cookie, made by logging in) or `Authorization: Bearer <API token>` (`watchkeeper people token`).
Without one a browser page redirects to /login and an `/api/` (or `/metrics`) route answers 401.
Then the route's action is asked of `App.authorize` (the `authorize` hook); a refusal is 403 and
journaled. A state-changing request made with a session must carry its CSRF token, as the form
field `csrf_token` or the header `X-CSRF-Token`, and an `Origin` (when the browser sends one) of
this very server.

Public interface (what the console and plugins build on):

- ``route(web_app, method, path, handler, action=VIEW)`` registers a route and the action its role
  check asks (``VIEW``, "console.view", for reading; a state-changing route names its own, e.g.
  ``"footage.approve"``). A route added any other way gets ``VIEW`` when it is GET/HEAD and is
  refused (403) otherwise: an unsafe route without an action is a bug, never open by default.
- ``current_person(request) -> str | None``: the authenticated person's id.
- ``require(request, action, resource="") -> str``: the person's id when `authorize` allows the
  action on the resource (the path by default); raises 401 / a redirect to /login without a person,
  403 (journaled by ``App.require``) when refused. Handlers call it for a second, finer check
  (e.g. the footage request being approved).
- ``csrf_token(request) -> str``: the session's CSRF token for a form's hidden `csrf_token` field
  (or a page's ``<meta name="csrf-token">`` for script); also a Jinja2 global after
  ``install_jinja(env)``: ``{{ csrf_token(request) }}``.
"""

from __future__ import annotations

import asyncio
import hmac
import ipaddress
import secrets
import time
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import quote

import jinja2
from aiohttp import web

from watchkeeper.core.i18n import _, current_language, localize
from watchkeeper.site import identity
from watchkeeper.evidence.journal import PROVEN
from watchkeeper.site.app import Refused

#: The action every reading route asks (every role has it, the auditor's only one).
VIEW = "console.view"
SESSION_COOKIE = "wk_session"
LOGIN_COOKIE = "wk_login"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"
#: The console's language cookie, set at login from the person's stored choice.
LANGUAGE_COOKIE = "lang"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
#: Paths that answer 401, not a redirect: machines ask them.
MACHINE_PREFIXES = ("/api/", "/metrics")
#: Login attempts one address may make in THROTTLE_SECONDS; more are answered 429.
THROTTLE_ATTEMPTS = 10
THROTTLE_SECONDS = 60.0
THROTTLE_ADDRESSES = 10_000
SECURITY_HEADERS = {
    # Inline <style> stays allowed (the report's and dashboard's own); scripts only from this server.
    "Content-Security-Policy": ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
                                "img-src 'self' data:; object-src 'none'; base-uri 'none'; form-action 'self'; "
                                "frame-ancestors 'none'"),
    "X-Content-Type-Options": "nosniff",
    # Not `no-referrer`: under it Chromium sends `Origin: null` with a same-origin form POST, and the
    # origin check below would refuse every form, the login's included. Nothing goes to other sites.
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
}

SITE_APP = web.AppKey("webauth_site_app", object)
ACTIONS = web.AppKey("webauth_actions", dict)
PUBLIC = web.AppKey("webauth_public", set)
THROTTLE = web.AppKey("webauth_throttle", dict)
_PERSON = web.RequestKey("webauth_person", str)
_CSRF = web.RequestKey("webauth_csrf", str)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def route(web_app: web.Application, method: str, path: str, handler: Handler, action: str | None = VIEW,
          name: str | None = None) -> web.AbstractRoute:
    """Add a route whose every request is authenticated and asks `authorize` for `action` (None:
    VIEW for GET/HEAD, refused for a state-changing method)."""
    added = web_app.router.add_route(method, path, handler, name=name)
    if action is not None:
        web_app[ACTIONS][added] = action
    return added


def public_route(web_app: web.Application, method: str, path: str, handler: Handler) -> web.AbstractRoute:
    """A route anyone may ask without logging in (the login page, health): keep these few."""
    added = web_app.router.add_route(method, path, handler)
    web_app[PUBLIC].add(added)
    return added


def mark_public(web_app: web.Application, path: str) -> None:
    """Make the routes already added at `path` public (the health probe a load balancer asks)."""
    for added in web_app.router.routes():
        if added.resource is not None and added.resource.canonical == path:
            web_app[PUBLIC].add(added)


def current_person(request: web.Request) -> str | None:
    person = request.get(_PERSON)
    return str(person) if person else None


def csrf_token(request: web.Request) -> str:
    """The session's CSRF token ('' for a bearer-token request, which needs none)."""
    return str(request.get(_CSRF) or "")


def install_jinja(env: jinja2.Environment) -> jinja2.Environment:
    env.globals["csrf_token"] = csrf_token
    env.globals["current_person"] = current_person
    return env


def _unauthenticated(request: web.Request) -> web.HTTPException:
    if request.path.startswith(MACHINE_PREFIXES) or request.method not in SAFE_METHODS:
        return web.HTTPUnauthorized(text=_("log in, or send Authorization: Bearer with your API token"),
                                    headers={"WWW-Authenticate": "Bearer"})
    return web.HTTPSeeOther("/login?next=" + quote(request.path_qs, safe=""))


def require(request: web.Request, action: str, resource: str = "") -> str:
    """The person's id if they may do `action`; 401/redirect without a person, 403 (journaled) if refused."""
    person = current_person(request)
    if person is None:
        raise _unauthenticated(request)
    try:
        request.app[SITE_APP].require(person, action, resource or request.path)  # type: ignore[attr-defined]
    except Refused as refusal:
        raise web.HTTPForbidden(text=_("refused: {reason}").format(reason=localize(refusal.reason))) from None
    return person


def _identify(request: web.Request) -> None:
    app: Any = request.app[SITE_APP]
    scheme, _space, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        person = identity.token_person(app, token.strip())
        if person:
            request[_PERSON] = person
            PROVEN.set((person, "api_token"))
        return
    session = request.cookies.get(SESSION_COOKIE)
    if session:
        found = identity.session_of(app, session)
        if found:
            request[_PERSON], request[_CSRF] = found
            PROVEN.set((found[0], "session"))


def _own_origin(request: web.Request) -> str:
    return f"{request.scheme}://{request.host}"


def _origin_ok(request: web.Request) -> bool:
    origin = request.headers.get("Origin")
    return origin is None or origin == _own_origin(request)


async def _csrf_ok(request: web.Request, expected: str) -> bool:
    offered = request.headers.get(CSRF_HEADER, "")
    if not offered and request.content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
        offered = str((await request.post()).get(CSRF_FIELD, ""))
    return bool(expected) and hmac.compare_digest(offered.encode(), expected.encode())


@web.middleware
async def auth_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    matched = request.match_info.route
    if matched in request.app[PUBLIC] or request.path.startswith("/static/"):
        return await handler(request)
    _identify(request)
    person = current_person(request)
    if person is None:
        raise _unauthenticated(request)
    if request.method not in SAFE_METHODS and request.get(_CSRF):
        # A session rides along with any request the browser sends, a bearer token does not.
        if not _origin_ok(request) or not await _csrf_ok(request, csrf_token(request)):
            request.app[SITE_APP].journal.append(  # type: ignore[attr-defined]
                "operation", person, request.path, {"refused": "csrf", "method": request.method,
                                                     "origin": request.headers.get("Origin")})
            raise web.HTTPForbidden(text=_("refused: the request did not carry this page's CSRF token"))
    if request.match_info.http_exception is None:  # a 404 or 405 has no action to ask about
        action = request.app[ACTIONS].get(matched) or (VIEW if request.method in SAFE_METHODS else None)
        if action is None:
            raise web.HTTPForbidden(text=_("refused: this route declares no action to authorize"))
        require(request, action)
    return await handler(request)


async def security_headers(request: web.Request, response: web.StreamResponse) -> None:
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)


def is_loopback(host: str) -> bool:
    host = host.strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _secure_cookie(request: web.Request) -> bool:
    """Secure, unless this is plain http on loopback (where a browser would drop a Secure cookie)."""
    return request.secure or not is_loopback(request.url.host or "")


def _set_cookie(response: web.StreamResponse, request: web.Request, name: str, value: str,
                max_age: int | None = None) -> None:
    response.set_cookie(name, value, httponly=True, samesite="Strict", secure=_secure_cookie(request), path="/",
                        max_age=max_age)


def _next_path(value: str) -> str:
    """Where to go after logging in: a path on this server only (never //elsewhere or a URL)."""
    return value if value.startswith("/") and not value.startswith(("//", "/\\")) else "/"


def _throttled(request: web.Request) -> bool:
    address = request.remote or "?"
    now = time.monotonic()
    table = request.app[THROTTLE]
    if len(table) > THROTTLE_ADDRESSES:  # many addresses: forget the quiet ones, memory stays bounded
        for quiet in [a for a, times in table.items() if not times or now - times[-1] > THROTTLE_SECONDS]:
            del table[quiet]
    attempts = table.setdefault(address, deque())
    while attempts and now - attempts[0] > THROTTLE_SECONDS:
        attempts.popleft()
    attempts.append(now)
    return len(attempts) > THROTTLE_ATTEMPTS


def _login_page(request: web.Request, error: str = "", status: int = 200) -> web.Response:
    from watchkeeper.faces.report_render import templates

    # Double-submit: the form's hidden field must equal this cookie, which another site cannot read.
    token = request.cookies.get(LOGIN_COOKIE) or secrets.token_urlsafe(24)
    page = templates().get_template("login.html").render(
        t=_, language=current_language(), error=error, token=token, field=CSRF_FIELD,
        next=_next_path(request.query.get("next", "/")), site=request.app[SITE_APP].site)  # type: ignore[attr-defined]
    response = web.Response(text=page, content_type="text/html", status=status)
    _set_cookie(response, request, LOGIN_COOKIE, token)
    return response


async def login_get(request: web.Request) -> web.Response:
    return _login_page(request)


async def login_post(request: web.Request) -> web.StreamResponse:
    app: Any = request.app[SITE_APP]
    form = await request.post()
    expected = request.cookies.get(LOGIN_COOKIE, "")
    offered = str(form.get(CSRF_FIELD, ""))
    if not _origin_ok(request) or not expected or not hmac.compare_digest(offered.encode(), expected.encode()):
        raise web.HTTPForbidden(text=_("refused: the login form did not come from this server"))
    if _throttled(request):
        raise web.HTTPTooManyRequests(text=_("too many login attempts from this address; wait a minute"),
                                      headers={"Retry-After": str(int(THROTTLE_SECONDS))})
    claimed, password = str(form.get("person", "")).strip(), str(form.get("password", ""))
    attempt = identity.Attempt(app, claimed, "web", request.remote)
    correct = await asyncio.to_thread(attempt.verify, password)  # argon2id takes ~0.1 s: off the loop
    try:
        person = attempt.finish(correct)
    except identity.AuthFailed as failure:
        message = str(failure) if failure.code == "locked" else _("wrong person or password")
        return _login_page(request, message, status=401)
    session, _csrf = identity.open_session(app, person, request.remote)
    response = web.HTTPSeeOther(_next_path(str(form.get("next", "/"))))
    _set_cookie(response, request, SESSION_COOKIE, session)
    language = identity.preferred_language(app, person)
    if language:
        set_language_cookie(response, language)
    response.del_cookie(LOGIN_COOKIE, path="/")
    raise response


def set_language_cookie(response: web.StreamResponse, language: str) -> None:
    """The browser's language choice, kept a year (the console's switch and the login both set it)."""
    response.set_cookie(LANGUAGE_COOKIE, language, max_age=365 * 86400, httponly=True, samesite="Strict", path="/")


async def logout(request: web.Request) -> web.StreamResponse:
    session = request.cookies.get(SESSION_COOKIE)
    if session:
        identity.close_session(request.app[SITE_APP], session)
    response = web.HTTPSeeOther("/login")
    response.del_cookie(SESSION_COOKIE, path="/")
    raise response


def install(web_app: web.Application, app: Any) -> None:
    """Put logins on a web application: call before adding its routes (its middleware comes last)."""
    web_app[SITE_APP] = app
    web_app[ACTIONS] = {}
    web_app[PUBLIC] = set()
    web_app[THROTTLE] = {}
    web_app.middlewares.append(auth_middleware)
    web_app.on_response_prepare.append(security_headers)
    public_route(web_app, "GET", "/login", login_get)
    public_route(web_app, "POST", "/login", login_post)
    route(web_app, "POST", "/logout", logout)
