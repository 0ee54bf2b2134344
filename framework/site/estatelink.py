"""`[estate]` in site.toml: where the appliance pushes its heads, verdicts and findings, and with which key."""

from __future__ import annotations

import ipaddress
import urllib.parse
from pathlib import Path
from typing import Any

import attrs

from watchkeeper.core.models import Secret

#: Hosts a push may reach over plain HTTP: the key is a bearer secret, so anything else needs TLS.
LOOPBACK_NAMES = ("localhost",)


@attrs.frozen
class EstateLink:
    """The estate this appliance pushes to (docs/estate.md)."""

    url: str
    site_id: str
    key: Secret = attrs.field(repr=False)
    interval_seconds: float = 60.0
    timeout_seconds: float = 10.0
    #: A private CA's certificate to trust for the estate's TLS certificate; None: the system's.
    ca: Path | None = None
    #: The appliance's own certificate and its key, when the estate asks for mutual TLS.
    cert: Path | None = None
    cert_key: Path | None = None


def _is_loopback(host: str) -> bool:
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def url_problem(value: str) -> str | None:
    """Why `value` is not an estate URL this appliance may send its key to, or None."""
    parts = urllib.parse.urlsplit(value)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        return "must be an https://HOST[:PORT] URL"
    if parts.scheme == "http" and not _is_loopback(parts.hostname):
        return "must be https: the site key is sent with every push (http only to 127.0.0.1)"
    return None


def estate_link(loader: Any, table: Any, identifier: Any) -> EstateLink | None:
    """The `[estate]` table read by the site loader's table reader; None when the site has none.

    `loader` and `table` are site.config's _Loader and _Table (passed in so this module needs no
    import of config, which imports it); `identifier` is config's id check.
    """
    url = table.get("url", str, None, url_problem)
    site_id = table.get("site_id", str, None, identifier)
    key = table.secret("key")
    if "key" not in table.data:
        loader.problem(table.key_path("key"), "required key is missing (env:NAME or file:PATH, from `watchkeeper estate enrol`)")
    for name, value in (("url", url), ("site_id", site_id)):
        if value is None and name not in table.data:
            loader.problem(table.key_path(name), "required key is missing")
    link = EstateLink(
        url=(url or "").rstrip("/"), site_id=site_id or "", key=key,
        interval_seconds=table.get("interval_seconds", float, 60.0),
        timeout_seconds=table.get("timeout_seconds", float, 10.0),
        ca=loader.path(table, "ca", None), cert=loader.path(table, "cert", None),
        cert_key=loader.path(table, "cert_key", None))
    if (link.cert is None) != (link.cert_key is None):
        loader.problem(table.key_path("cert"), "cert and cert_key go together (mutual TLS)")
    table.finish()
    return link
