"""Acceptance in headless Chromium on the demo site: the operator's and the supervisors' day in the console.

An operator logs in, sees the faults in the grid and signs the inspection with a note per fault,
registers a visitor and cannot approve it (403, journaled); a supervisor approves the visitor and
requests footage, which only a second supervisor may approve. Once in English, once in Chinese.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.browser.conftest import PASSWORDS, artifacts, console_site
from watchkeeper.core.i18n import _translation

pytest.importorskip("watchkeeper.faces.webauth", reason="the console needs identity's logins")
pytestmark = pytest.mark.timeout(600)
#: Browser locales and the console language each should pick (through Accept-Language).
LOCALES = {"en": "en-GB", "zh_CN": "zh-CN"}


async def log_in(browser: Any, url: str, person: str, language: str) -> Any:
    context = await browser.new_context(locale=LOCALES[language], viewport={"width": 1280, "height": 1000})
    page = await context.new_page()
    await page.goto(url + "/console/")
    assert "/login" in page.url  # no session: the console sends the browser to log in
    await page.fill("input[name=person]", person)
    await page.fill("input[name=password]", PASSWORDS[person])
    await page.click("button[type=submit]")
    await page.wait_for_url(url + "/console/")
    assert await page.inner_text("#person") == person
    return page


async def shot(page: Any, folder: Path, name: str) -> None:
    await page.screenshot(path=str(folder / f"{name}.png"), full_page=True)


def journal(app: Any, where: str, params: list[Any]) -> list[dict[str, Any]]:
    cursor = app.store.conn.execute(f"SELECT actor, subject, body FROM journal WHERE {where} ORDER BY seq", params)
    return [{"actor": a, "subject": s, "body": json.loads(b)} for a, s, b in cursor]


@pytest.mark.parametrize("language", ["en", "zh_CN"])
async def test_console_day(browser: Any, tmp_path: Path, language: str) -> None:
    t = _translation(language).gettext
    folder = artifacts() / language
    folder.mkdir(exist_ok=True)
    print(f"screenshots: {folder}")
    async with console_site(tmp_path / "site") as (app, url):
        # --- the operator: the grid, the inspection signed with a note per fault ----------------------
        page = await log_in(browser, url, "li", language)
        assert await page.get_attribute("html", "lang") == language.replace("_", "-")
        assert t("Today") in await page.inner_text("header nav")
        faults = {await cell.get_attribute("data-camera") for cell in await page.query_selector_all(
            "#grid .cam[data-status=fault]")}
        assert {"gate", "stairs", "back-door"} <= faults, faults
        assert t("unsigned") in await page.inner_text("#signed")
        await shot(page, folder, "1-operator-today")
        for camera in sorted(faults):
            await page.fill(f'#sign input[name="action:{camera}"]', f"work order for {camera}")
            await page.fill(f'#sign input[name="to:{camera}"]', "zhang")
        await page.fill("#sign input[name=note]", "faults reported to the supervisor")
        await page.click("#sign button[type=submit]")
        await page.wait_for_selector("#signed")
        assert "li" in await page.inner_text("#signed")
        await shot(page, folder, "2-operator-signed")
        signed = journal(app, "kind = 'inspection' AND json_extract(body, '$.signed') IS NOT NULL", [])
        assert signed[-1]["actor"] == "li" and set(signed[-1]["body"]["fault_notes"]) == faults

        # --- the operator registers a visitor, and cannot approve it --------------------------------------
        await page.goto(url + "/console/room")
        start = datetime.now(app.site.zone).replace(second=0, microsecond=0)
        form = "form[data-action='visitor.register']"
        await page.fill(f"{form} input[name=name]", "Zhou Tao")
        await page.fill(f"{form} input[name=organisation]", "Lift maintenance")
        await page.fill(f"{form} input[name=purpose]", "inspect the lift controller")
        await page.fill(f"{form} input[name=valid_from]", start.strftime("%Y-%m-%dT%H:%M"))
        await page.fill(f"{form} input[name=valid_to]", (start + timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M"))
        await page.fill(f"{form} input[name=badge]", "7102")
        await page.click(f"{form} button[type=submit]")
        await page.wait_for_url("**/console/room?done=visitor.register")
        visitor = app.store.conn.execute("SELECT id FROM visitors WHERE name = 'Zhou Tao'").fetchone()[0]
        row = f"#visitors tr[data-visitor='{visitor}']"
        assert await page.query_selector(f"{row} form[data-action='visitor.approve']") is None
        token = await page.get_attribute("input[name=csrf_token]", "value")
        refused = await page.request.post(f"{url}/console/visitors/{visitor}/approve",
                                          form={"csrf_token": token}, headers={"Origin": url})
        assert refused.status == 403
        assert any(e["actor"] == "li" and e["body"].get("refused") == "visitor.approve"
                   for e in journal(app, "actor = 'li'", []))
        refused = await page.request.post(f"{url}/api/footage/requests/1/approve", data={},
                                          headers={"Origin": url, "X-CSRF-Token": token})
        assert refused.status == 403
        await shot(page, folder, "3-operator-room")
        await page.context.close()

        # --- a supervisor approves the visitor and asks for footage -----------------------------------
        page = await log_in(browser, url, "zhang", language)
        await page.goto(url + "/console/room")
        await page.click(f"{row} form[data-action='visitor.approve'] button")
        await page.wait_for_url("**/console/room?done=visitor.approve")
        assert t("approved") in await page.inner_text(f"{row} .vstatus")
        await shot(page, folder, "4-supervisor-visitor")
        await page.goto(url + "/console/footage")
        form = "form[data-action='footage.request']"
        end = datetime.now(app.site.zone).replace(second=0, microsecond=0) - timedelta(hours=20)
        await page.select_option(f"{form} select[name=camera]", "store-1")
        await page.fill(f"{form} input[name=start]", (end - timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M"))
        await page.fill(f"{form} input[name=end]", end.strftime("%Y-%m-%dT%H:%M"))
        await page.fill(f"{form} input[name=reason]", "damaged stock")
        await page.fill(f"{form} input[name=case_ref]", "INC-0099")
        await page.click(f"{form} button[type=submit]")
        await page.wait_for_url("**/console/footage?done=footage.request")
        request = app.store.conn.execute("SELECT id FROM footage_requests WHERE case_ref = 'INC-0099'").fetchone()[0]
        request_row = f"#requests tr[data-request='{request}']"
        # Nobody approves their own request: the form is not offered to its requester.
        assert await page.query_selector(f"{request_row} form[data-action='footage.approve']") is None
        await page.context.close()

        # --- the second supervisor approves the footage request ------------------------------------------
        page = await log_in(browser, url, "liu", language)
        await page.goto(url + "/console/footage")
        await page.fill(f"{request_row} form[data-action='footage.approve'] input[name=note]", "case checked")
        await page.click(f"{request_row} form[data-action='footage.approve'] button")
        await page.wait_for_url("**/console/footage?done=footage.approve")
        assert t("approved") in await page.inner_text(f"{request_row} .rstatus")
        await shot(page, folder, "5-second-supervisor-footage")
        await page.goto(url + "/console/journal?actor=liu")
        entries = await page.inner_text("#entries")
        assert f"request-{request}" in entries and "zhang" not in entries  # filtered to liu's own acts
        assert await page.get_attribute("#verification", "data-status") == "ok"
        await shot(page, folder, "6-journal")
        await page.context.close()

        decided = journal(app, "subject = ?", [f"request-{request}"])
        assert [e["actor"] for e in decided] == ["zhang", "liu"]
        assert decided[-1]["body"] == {"decision": "approved", "note": "case checked", "proof": "session"}
        assert journal(app, "subject = ?", [f"visitor-{visitor}"])[-1] == {
            "actor": "zhang", "subject": f"visitor-{visitor}", "body": {"visitor": "approved", "proof": "session"}}
