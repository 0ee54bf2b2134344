"""`estate.toml`: the estate service's own config, read with the site config's table reader."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import attrs

from watchkeeper.core.models import Secret
from watchkeeper.site.config import MISSING, ConfigError, Loader, parse_toml, port_problem, Table, zone_problem


@attrs.frozen
class EstateConfig:
    name: str
    store: Path
    host: str = "127.0.0.1"
    port: int = 8740
    time_zone: str = "UTC"
    reports: Path = Path("estate-reports")
    #: TLS for pushes and the dashboard; with `client_ca` the estate asks each appliance for a
    #: certificate signed by that CA (mutual TLS) on top of its site key.
    tls_cert: Path | None = None
    tls_key: Path | None = None
    client_ca: Path | None = None
    #: A site whose last push is older than this is shown as silent.
    stale_minutes: int = 30
    #: A postgresql:// URL: the estate's data goes there instead of the SQLite `store`.
    database_url: Secret = attrs.field(default=Secret(""), repr=False)
    source: Path | None = None


def load_estate(source: Path | str) -> EstateConfig:
    """Load and check estate.toml; ConfigError names the file, the key and the reason."""
    source = Path(source)
    data: Any = parse_toml(source)
    loader = Loader(source, None, None, True)
    top = Table(loader, "", data)
    table = Table(loader, "estate", top.get("estate", dict, MISSING) or {})
    tls = Table(loader, "tls", top.get("tls", dict, {}))
    config = EstateConfig(
        name=table.get("name", str, "Estate"),
        store=loader.required_path(table, "store", "estate.db"),
        host=table.get("host", str, "127.0.0.1"),
        port=table.get("port", int, 8740, port_problem) or 8740,
        time_zone=table.get("time_zone", str, "UTC", zone_problem) or "UTC",
        reports=loader.required_path(table, "reports", "estate-reports"),
        stale_minutes=table.get("stale_minutes", int, 30, lambda v: None if 1 <= v <= 10080 else "must be 1 to 10080"),
        tls_cert=loader.path(tls, "cert", None), tls_key=loader.path(tls, "key", None),
        client_ca=loader.path(tls, "client_ca", None), source=source, database_url=table.secret("database_url"))
    url = config.database_url.reveal()
    if url and not url.startswith(("postgresql://", "postgres://")):
        loader.problem("estate.database_url", "must be a postgresql:// URL (env:NAME or file:PATH)")
    if (config.tls_cert is None) != (config.tls_key is None):
        loader.problem("tls.cert", "cert and key go together")
    if config.client_ca is not None and config.tls_cert is None:
        loader.problem("tls.client_ca", "mutual TLS needs the estate's own cert and key too")
    for path in (config.tls_cert, config.tls_key, config.client_ca):
        if path is not None and not path.is_file():
            loader.problem("tls", f"{path} does not exist")
    for item in (table, tls, top):
        item.finish()
    if loader.problems:
        raise ConfigError(source, loader.problems)
    return config
