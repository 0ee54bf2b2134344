"""The `[identity]` section: web session lifetimes and the password lockout, and who maps to which OS account."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Protocol

import attrs


@attrs.frozen
class IdentityConfig:
    """How long a web session lasts and how many wrong passwords lock a login (docs/config.md)."""

    #: A session unused this long is over; the person logs in again.
    session_idle_minutes: float = 15.0
    #: However busy, a session ends this long after its login.
    session_hours: float = 12.0
    #: This many wrong passwords in a row lock the login ...
    lockout_attempts: int = 5
    #: ... until an administrator unlocks it (`people unlock`) or this long has passed.
    lockout_minutes: float = 15.0


class _TableLike(Protocol):
    def get(self, key: str, kind: type, default: Any = ..., check: Any = None) -> Any: ...

    def finish(self) -> None: ...


def identity_section(table: _TableLike) -> IdentityConfig:
    """Read `[identity]` through the config loader's table (ranges in site.limits.NUMBER_RANGES)."""
    default = IdentityConfig()
    section = IdentityConfig(
        session_idle_minutes=table.get("session_idle_minutes", float, default.session_idle_minutes),
        session_hours=table.get("session_hours", float, default.session_hours),
        lockout_attempts=table.get("lockout_attempts", int, default.lockout_attempts),
        lockout_minutes=table.get("lockout_minutes", float, default.lockout_minutes),
    )
    table.finish()
    return section


def os_user_problems(people: Iterable[Any]) -> list[tuple[str, str]]:
    """An OS account stands for one person only: (key path, reason) for each account named twice."""
    owner: dict[str, str] = {}
    problems = []
    for person in people:
        if not person.os_user:
            continue
        if person.os_user in owner:
            problems.append((f"people[id={person.id}].os_user",
                             f"OS account '{person.os_user}' already stands for '{owner[person.os_user]}'"))
        else:
            owner[person.os_user] = person.id
    return problems
