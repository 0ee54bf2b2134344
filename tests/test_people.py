"""People from the store (R2, R3): revocation and training take effect at once, for every check,
the door included; the config seeds the store at every open."""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner

from watchkeeper.core.models import CredentialKind, CredentialRead
from watchkeeper.faces.cli import make_cli
from watchkeeper.host import open_site
from watchkeeper.rules.door_service import Access
from watchkeeper.site.app import Refused
from watchkeeper.site.config import ConfigError, Person, Training, load_site
from tests.logins import proven

TODAY = datetime.now(ZoneInfo("Asia/Shanghai")).date()  # the test site's day


def cli(site_file: Path, *args: str):
    return CliRunner().invoke(make_cli(config=site_file), proven(["--config", str(site_file), *args]))


def card(number: str) -> CredentialRead:
    return CredentialRead("room-door", CredentialKind.CARD, number, datetime.now(timezone.utc), "wiegand26", 26)


def allowed(app, actor: str, action: str = "inspect.sign") -> bool:
    try:
        app.require(actor, action, "run-1")
    except Refused:
        return False
    return True


def with_badges(site_file: Path) -> Path:
    text = site_file.read_text()
    text = text.replace('trained_on = 2025-03-01\n', 'trained_on = 2025-03-01\nbadges = ["1001"]\n')
    text = text.replace('id = "new-op"\nname = "New Operator"\n', 'id = "new-op"\nname = "New Operator"\nbadges = ["1003"]\n')
    site_file.write_text(text)
    return site_file


def test_revoke_in_another_process_takes_effect_at_once_everywhere(site_file: Path) -> None:
    running = open_site(with_badges(site_file))  # the appliance, open before the revocation
    door = Access(running)
    assert allowed(running, "li") and door.decide("room-door", card("1001"))[0].allowed
    revoked = cli(site_file, "people", "revoke", "li", "--reason", "left the company", "--actor", "zhang")
    assert revoked.exit_code == 0, revoked.output
    for action in ("inspect.sign", "inspect.run", "footage.request", "footage.export", "journal.add"):
        assert not allowed(running, "li", action), action
    decision, holder = door.decide("room-door", card("1001"))
    assert not decision.allowed and "revoked" in decision.reason and holder.id == "li"
    entry = [json.loads(e["body"]) for e in running.journal.entries(kind="access") if e["subject"] == "li"][-1]
    assert entry == {"person_revoked": "li", "reason": "left the company", "proof": "password"}
    running.close()
    reopened = open_site(site_file)  # the config lists li as before: the revocation sticks
    assert not allowed(reopened, "li") and reopened.people.revocation("li")["revoked_by"] == "zhang"
    reopened.close()


def test_people_added_at_run_time_are_authorised_at_once(site_file: Path) -> None:
    running = open_site(with_badges(site_file))
    assert not allowed(running, "wu")
    added = cli(site_file, "people", "add", "--id", "wu", "--name", "Wu", "--role", "operator", "--badge", "1009",
                "--trained-on", (TODAY - timedelta(days=3)).isoformat(), "--actor", "zhang")
    assert added.exit_code == 0, added.output
    assert allowed(running, "wu") and Access(running).decide("room-door", card("1009"))[0].allowed
    running.close()


@pytest.mark.parametrize("taken, until, reason", [
    (None, None, "has no training on file"),
    (TODAY - timedelta(days=400), TODAY - timedelta(days=1), "training expired on"),
    (TODAY + timedelta(days=5), None, "is trained only from"),
], ids=["none", "expired", "future"])
def test_untrained_operators_are_refused_everywhere(site_file: Path, taken, until, reason) -> None:
    app = open_site(with_badges(site_file))
    access = Access(app)
    person = Person("wu", "Wu", ("operator",), ("1009",))
    access.add_person("zhang", person)
    if taken:
        access.add_training("zhang", "wu", Training("CCTV operation", taken, "Trainer Ma", until))
    assert not allowed(app, "wu") and not allowed(app, "wu", "door.open")
    refusal = [json.loads(e["body"]) for e in app.journal.entries() if e["actor"] == "wu"][-1]
    assert refusal["refused"] == "door.open" and refusal["plugin"] == "watchkeeper.rules.policy"
    decision, _ = access.decide("room-door", card("1009"))
    assert not decision.allowed and reason in decision.reason, decision.reason
    access.add_training("zhang", "wu", Training("CCTV operation", TODAY, "Trainer Ma"))
    assert allowed(app, "wu") and access.decide("room-door", card("1009"))[0].allowed
    app.close()


def test_refresher_interval_expires_training(site_file: Path) -> None:
    site_file.write_text(site_file.read_text().replace("retention_days = 30", "retention_days = 30\ntraining_refresher_days = 365"))
    app = open_site(site_file)
    assert not allowed(app, "li")  # trained 2025-03-01, more than a year ago
    Access(app).add_training("zhang", "li", Training("refresher", TODAY - timedelta(days=364), "Ma"))
    assert allowed(app, "li")
    listed = {p["id"]: p for p in json.loads(cli(site_file, "people", "list", "--json").output)}
    assert listed["li"]["trained"] and listed["li"]["training"][-1]["valid_until"] == (TODAY + timedelta(days=1)).isoformat()
    assert not listed["new-op"]["trained"] and listed["new-op"]["training_problem"] == "'new-op' has no training on file"
    app.close()


def test_config_seeds_the_store_and_stays_its_mirror(site_file: Path) -> None:
    app = open_site(site_file)
    assert {p.id for p in app.people.all()} == {"li", "zhang", "new-op"}
    app.close()
    original = site_file.read_text()
    without_li = original.replace('[[people]]\nid = "li"', '[[people]]\nid = "li-renamed"')
    future = without_li.replace("trained_on = 2025-03-01", f"trained_on = {(TODAY + timedelta(days=30)).isoformat()}")
    site_file.write_text(future)
    app = open_site(site_file)
    assert app.people.get("li").revoked and app.people.revocation("li")["revoke_reason"] == "removed from the site config"
    assert not allowed(app, "li") and not allowed(app, "li-renamed")  # the config's own date moved: untrained
    app.close()
    site_file.write_text(original)
    app = open_site(site_file)
    assert not app.people.get("li").revoked and allowed(app, "li")
    app.close()


def test_training_records_in_the_config(site_file: Path) -> None:
    site_file.write_text(site_file.read_text().replace('id = "new-op"\nname = "New Operator"\nroles = ["operator"]\n', (
        'id = "new-op"\nname = "New Operator"\nroles = ["operator"]\n'
        '[[people.training]]\ncourse = "CCTV operation"\ndate = 2025-06-01\ntrainer = "Ma"\n'
        'valid_until = 2099-06-01\n')))
    site = load_site(site_file)
    assert site.person("new-op").training == (Training("CCTV operation", date(2025, 6, 1), "Ma", date(2099, 6, 1)),)
    assert site.person("li").training == (Training("operator training", date(2025, 3, 1)),)
    app = open_site(site_file)
    assert allowed(app, "new-op")
    app.close()
    site_file.write_text(site_file.read_text().replace("valid_until = 2099-06-01", "valid_until = 2024-06-01"))
    with pytest.raises(ConfigError, match=r"people\[id=new-op\]\.training\[0\]\.valid_until: 2024-06-01 is before"):
        load_site(site_file)


def test_people_train_cli_is_authorised_and_journaled(site_file: Path) -> None:
    base = ("people", "train", "new-op", "--course", "CCTV operation", "--date", TODAY.isoformat(),
            "--trainer", "Ma")
    refused = cli(site_file, *base, "--actor", "li")
    assert refused.exit_code == 1 and "people.manage" in refused.output
    bad = cli(site_file, *base, "--valid-until", (TODAY - timedelta(days=1)).isoformat(), "--actor", "zhang")
    assert bad.exit_code == 2 and "is before the training date" in bad.output
    assert cli(site_file, *base, "--actor", "zhang").exit_code == 0
    app = open_site(site_file)
    assert allowed(app, "new-op")
    recorded = [json.loads(e["body"]) for e in app.journal.entries(kind="access") if e["subject"] == "new-op"][-1]
    assert recorded["training_recorded"]["course"] == "CCTV operation" and recorded["training_recorded"]["trainer"] == "Ma"
    app.close()
