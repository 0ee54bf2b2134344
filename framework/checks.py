"""The Check record rule plugins register, and the context a check runs in."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import attrs

if TYPE_CHECKING:  # pragma: no cover
    from .findings import Finding

CLAUSES = ("R1", "R2", "R3", "R4", "R5", "R6", "R7", "R8", "R9", "R10")


@attrs.frozen
class Check:
    """A rule's unit of work: run it, get findings. Registered through `register_checks`."""

    name: str
    clause: str = attrs.field(validator=attrs.validators.in_(CLAUSES))
    run: Callable[[Any], Awaitable[list[Finding]]]
    description: str = ""
