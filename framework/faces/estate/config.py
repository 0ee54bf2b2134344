"""`estate.toml`: the estate service's own config, read with the site config's table reader.

Every key is documented in docs/config.md ("The estate's config"), its numbers' ranges in
site.limits.ESTATE_NUMBER_RANGES; tests/test_estate_config.py keeps the three in step.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import attrs

from watchkeeper.core.i18n import _
from watchkeeper.core.models import Secret
from watchkeeper.site.config import MISSING, ConfigError, Loader, parse_toml, Table, zone_problem
from watchkeeper.site.identityconfig import IdentityConfig, identity_section
from watchkeeper.site.limits import ESTATE_NUMBER_RANGES


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
    #: The estate's people, logins, sessions and its journal (enrolments, revocations, cleared flags):
    #: an SQLite file of its own whichever backend holds the sites' data, and the journal's key.
    journal_store: Path = Path("estate-journal.db")
    journal_key: Path = Path("estate-journal.key")
    #: Session lifetimes and the password lockout, as a site's `[identity]`.
    identity: IdentityConfig = IdentityConfig()


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
        port=table.get("port", int, 8740, ESTATE_NUMBER_RANGES["estate.port"].problem) or 8740,
        time_zone=table.get("time_zone", str, "UTC", zone_problem) or "UTC",
        reports=loader.required_path(table, "reports", "estate-reports"),
        stale_minutes=table.get("stale_minutes", int, 30, ESTATE_NUMBER_RANGES["estate.stale_minutes"].problem),
        tls_cert=loader.path(tls, "cert", None), tls_key=loader.path(tls, "key", None),
        client_ca=loader.path(tls, "client_ca", None), source=source, database_url=table.secret("database_url"),
        journal_store=loader.required_path(table, "journal_store", "estate-journal.db"),
        journal_key=loader.required_path(table, "journal_key", "estate-journal.key"),
        identity=identity_section(Table(loader, "identity", top.get("identity", dict, {}))))
    url = config.database_url.reveal()
    if url and not url.startswith(("postgresql://", "postgres://")):
        loader.problem("estate.database_url", _("must be a postgresql:// URL (env:NAME or file:PATH)"))
    if (config.tls_cert is None) != (config.tls_key is None):
        loader.problem("tls.cert", _("cert and key go together"))
    if config.client_ca is not None and config.tls_cert is None:
        loader.problem("tls.client_ca", _("mutual TLS needs the estate's own cert and key too"))
    for key, path in (("cert", config.tls_cert), ("key", config.tls_key), ("client_ca", config.client_ca)):
        if path is not None and not path.is_file():
            loader.problem(f"tls.{key}", _("{path} does not exist").format(path=path))
    for item in (table, tls, top):
        item.finish()
    if loader.problems:
        raise ConfigError(source, loader.problems)
    return config
