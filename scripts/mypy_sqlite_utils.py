"""mypy plugin: in this project sqlite-utils' `db["name"]` is a Table, never a View (the store defines no views).

sqlite-utils types `Database.__getitem__` as `Table | View`, so every `db["name"].insert(...)` would need a
cast; the store and every rule plugin's migrations use that spelling.
"""

from __future__ import annotations

from collections.abc import Callable

from mypy.plugin import MethodContext, Plugin
from mypy.types import Instance, Type, UnionType, get_proper_type

GETITEM = "sqlite_utils.db.Database.__getitem__"
TABLE = "sqlite_utils.db.Table"


class SqliteUtilsTables(Plugin):
    def get_method_hook(self, fullname: str) -> Callable[[MethodContext], Type] | None:
        return _table if fullname == GETITEM else None


def _table(ctx: MethodContext) -> Type:
    """The Table out of the declared `Table | View`."""
    declared = get_proper_type(ctx.default_return_type)
    if isinstance(declared, UnionType):
        for item in declared.items:
            member = get_proper_type(item)
            if isinstance(member, Instance) and member.type.fullname == TABLE:
                return member
    return ctx.default_return_type


def plugin(version: str) -> type[Plugin]:
    return SqliteUtilsTables
