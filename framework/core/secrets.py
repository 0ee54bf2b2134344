"""Resolves `env:NAME` and `file:PATH` secret references from the site config."""

from __future__ import annotations

import os
from pathlib import Path

from watchkeeper.core.files import FileReadError, read_regular_file
from watchkeeper.core.i18n import _
from watchkeeper.core.models import Secret

#: A password, key or token is a line of text; a secret file larger than this is the wrong file.
MAX_SECRET_BYTES = 4096


class SecretError(ValueError):
    """A secret reference cannot be resolved; the message says why without the secret."""


class SecretUnset(SecretError):
    """An `env:` secret whose variable is not set in this process (it may be where the appliance runs)."""


def resolve_secret(value: str, base_dir: Path) -> tuple[Secret, bool]:
    """Return the secret and whether it was written inline in the config (a warning, not an error)."""
    if value.startswith("env:"):
        name = value[4:]
        if not name:
            raise SecretError("'env:' needs a variable name, e.g. env:CAMERA_PASSWORD")
        if name not in os.environ:
            raise SecretUnset(_("environment variable {name} is not set").format(name=name))
        return Secret(os.environ[name]), False
    if value.startswith("file:"):
        path = Path(value[5:]).expanduser()
        if not path.is_absolute():
            path = base_dir / path
        if not path.exists():
            raise SecretError(_("secret file {path} does not exist").format(path=path))
        try:
            # Bounded and regular only: `file:/dev/zero` would otherwise be read until memory runs out.
            return Secret(read_regular_file(path, MAX_SECRET_BYTES).decode("utf-8").strip()), False
        except FileReadError as error:
            raise SecretError(_("secret file {error}").format(error=error)) from None
        except UnicodeDecodeError:
            raise SecretError(_("secret file {path} is not UTF-8 text").format(path=path)) from None
    return Secret(value), bool(value)
