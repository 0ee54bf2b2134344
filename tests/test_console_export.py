"""The console's export runs in the background: the request answers at once, a refusal is still told at
once, and the export is listed (and journaled as the person, with their proof) when it is done."""

from __future__ import annotations

import asyncio
import json

from watchkeeper.faces.console.actions import EXPORTS
from tests.logins import logged_in
from tests.test_exports import approved, site  # noqa: F401 - the Hikvision site fixture


async def test_export_from_the_console_runs_in_the_background(site) -> None:  # noqa: F811
    app = site
    request = approved(app)
    async with logged_in(app, "li", token=True) as client:
        started = await client.post(f"/api/footage/requests/{request}/export")
        assert started.status == 200, await started.text()
        assert (await started.json())["result"] == {"request": request, "export": "started"}
        # A second export of the same approval is refused at once, while the first runs or after it.
        again = await client.post(f"/api/footage/requests/{request}/export")
        assert again.status == 403 and "export" in (await again.json())["error"]
        if EXPORTS:  # still running: the footage screen says so
            assert (await (await client.get("/api/footage")).json())["exporting"] == [request]
        for _ in range(600):
            if not EXPORTS:
                break
            await asyncio.sleep(0.05)
        assert not EXPORTS, "the export did not finish"
        listed = await (await client.get("/api/footage")).json()
    assert [row["request"] for row in listed["exports"]] == [request] and listed["exporting"] == [], listed
    bodies = [json.loads(e["body"]) for e in app.journal.entries(kind="retrieval") if e["actor"] == "li"]
    exported = [body for body in bodies if "requested" not in body]  # the request itself was made in-process
    assert [body["proof"] for body in exported] == ["api_token", "api_token"], exported  # the refusal, the export
    assert exported[0]["refused"] == "export" and "sha256" in json.dumps(exported[1]), exported


async def test_a_refused_export_is_told_at_once(site) -> None:  # noqa: F811
    app = site
    async with logged_in(app, "zhang", token=True) as client:  # a supervisor, but the request is not approved
        request_id = app.store.db["footage_requests"].insert(
            {"camera": "vault", "requested_by": "li", "start_utc": "2026-11-29T00:00:00+00:00",
             "end_utc": "2026-11-29T00:00:30+00:00", "reason": "r", "case_ref": "c", "status": "pending"}).last_pk
        refused = await client.post(f"/api/footage/requests/{request_id}/export")
        assert refused.status == 403 and "not approved" in (await refused.json())["error"]
    assert not EXPORTS
