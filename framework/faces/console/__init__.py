"""The operator and supervisor console: server-rendered screens over the same data and actions as the API."""

from __future__ import annotations

from aiohttp import web


def mount(web_app: web.Application) -> None:
    """Add the console's screens and the JSON API to the dashboard's application (after webauth's install)."""
    from watchkeeper.faces.api.routes import add_routes as add_api
    from watchkeeper.faces.console.auth import language_middleware
    from watchkeeper.faces.console.pages import add_routes as add_pages

    # Outermost, so the sign-in page and every refusal are in the person's language too.
    web_app.middlewares.insert(0, language_middleware)
    add_pages(web_app)
    add_api(web_app)
