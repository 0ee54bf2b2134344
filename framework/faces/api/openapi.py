"""The API's OpenAPI 3 document, made from the route table (READS, ACTIONS): nothing is written twice."""

from __future__ import annotations

import re
from typing import Any

from watchkeeper import __version__
from watchkeeper.faces.api.routes import PREFIX, READS, Read
from watchkeeper.faces.console.actions import ACTIONS, TYPES, Action

PATH_PARAM = re.compile(r"\{(\w+)\}")
ERROR = {"type": "object", "properties": {"ok": {"type": "boolean"}, "error": {"type": "string"}}}
#: Routes under /api outside the tables, described here once.
EXTRA = {
    "/status": {"get": {"operationId": "status", "summary": "Today's clause verdicts, open findings, journal head",
                        "responses": {"200": {"description": "the status",
                                              "content": {"application/json": {"schema": {"type": "object"}}}}}}},
    "/openapi.json": {"get": {"operationId": "openapi", "summary": "This document",
                              "responses": {"200": {"description": "OpenAPI 3",
                                                    "content": {"application/json": {"schema": {"type": "object"}}}}}}},
}


def _path_params(path: str, types: dict[str, str]) -> list[dict[str, Any]]:
    return [{"name": name, "in": "path", "required": True, "schema": dict(TYPES[types.get(name, "string")])}
            for name in PATH_PARAM.findall(path)]


def _read(read: Read) -> dict[str, Any]:
    types = {"id": "integer", "seq": "integer"}
    content = {read.media: {"schema": {"type": "object"}} if read.media == "application/json"
               else {"schema": {"type": "string", "format": "binary"}}}
    operation: dict[str, Any] = {
        "operationId": read.name, "summary": read.summary,
        "parameters": _path_params(read.path, types) + [
            {"name": p.name, "in": "query", "required": False, "description": p.description,
             "schema": dict(TYPES[p.type])} for p in read.query],
        "responses": {"200": {"description": read.summary, "content": content},
                      "401": {"description": "not signed in"}, "404": {"description": "no such item"}}}
    if read.permission:
        operation["x-permission"] = read.permission
        operation["responses"]["403"] = {"description": f"refused: needs {read.permission} (journaled)"}
    return operation


def _action(action: Action) -> dict[str, Any]:
    in_path = set(PATH_PARAM.findall(action.path))
    body = [f for f in action.fields if f.name not in in_path]
    schema = {"type": "object", "properties": {f.name: dict(TYPES[f.type]) for f in body},
              "required": [f.name for f in body if f.required]}
    if not schema["required"]:
        del schema["required"]
    return {
        "operationId": action.name.replace(".", "_"), "summary": action.summary, "x-permission": action.permission,
        "parameters": _path_params(action.path, {f.name: f.type for f in action.fields}),
        "requestBody": {"required": bool(body), "content": {"application/json": {"schema": schema},
                                                           "application/x-www-form-urlencoded": {"schema": schema}}},
        "responses": {
            "200": {"description": "done, and journaled with the person",
                    "content": {"application/json": {"schema": {"type": "object", "properties": {
                        "ok": {"type": "boolean"}, "by": {"type": "string"}, "result": {}}}}}},
            "400": {"description": "a field is missing or wrong", "content": {"application/json": {"schema": ERROR}}},
            "401": {"description": "not signed in"},
            "403": {"description": f"refused (journaled): needs {action.permission}, or the rule refuses",
                    "content": {"application/json": {"schema": ERROR}}},
            "404": {"description": "no such item", "content": {"application/json": {"schema": ERROR}}}}}


def document(web_app: Any = None) -> dict[str, Any]:
    """The OpenAPI 3.0 document of every route in the tables."""
    paths: dict[str, dict[str, Any]] = {}
    for read in READS:
        paths.setdefault(PREFIX + read.path, {})["get"] = _read(read)
    for action in ACTIONS:
        paths.setdefault(PREFIX + action.path, {})["post"] = _action(action)
    for path, item in EXTRA.items():
        paths.setdefault(PREFIX + path, {}).update(item)
    return {
        "openapi": "3.0.3",
        "info": {"title": "watchkeeper API", "version": __version__,
                 "description": "The console's data and actions. Sign in for a session cookie (and send its CSRF "
                                "token with each POST), or send a personal API token as `Authorization: Bearer`."},
        "components": {"securitySchemes": {"session": {"type": "apiKey", "in": "cookie", "name": "session"},
                                           "token": {"type": "http", "scheme": "bearer"}}},
        "security": [{"session": []}, {"token": []}],
        "paths": dict(sorted(paths.items())),
    }


def markdown() -> str:
    """The API's routes as a Markdown table for docs/console.md (`python -m watchkeeper.faces.api.openapi`)."""
    lines = ["| method | path | what | permission |", "|---|---|---|---|"]
    for path, item in document()["paths"].items():
        for method, operation in item.items():
            lines.append(f"| {method.upper()} | `{path}` | {operation['summary']} | "
                         f"{operation.get('x-permission', 'signed in')} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(markdown(), end="")
