"""Resolves `env:NAME` and `file:PATH` secret references from the site config."""

from __future__ import annotations

import os
from pathlib import Path

from watchkeeper.core.models import Secret


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
            raise SecretUnset(f"environment variable {name} is not set")
        return Secret(os.environ[name]), False
    if value.startswith("file:"):
        path = Path(value[5:]).expanduser()
        if not path.is_absolute():
            path = base_dir / path
        try:
            return Secret(path.read_text(encoding="utf-8").strip()), False
        except FileNotFoundError:
            raise SecretError(f"secret file {path} does not exist") from None
        except (OSError, UnicodeDecodeError) as error:
            raise SecretError(f"secret file {path} cannot be read: {type(error).__name__}") from None
    return Secret(value), bool(value)
