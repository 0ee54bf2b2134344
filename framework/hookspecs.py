"""Every hook watchkeeper calls: the one place a plugin author reads to extend the appliance.

Three calling styles, chosen on purpose:

* **registry** (collected): the host passes a ``register`` callback and validates what it gets.
* **decision** (``firstresult``): the first plugin to return something other than ``None`` decides;
  the built-in policy is ``trylast`` so any site plugin overrides it. Decision hooks are given what a
  policy needs besides the site: a read-only :class:`~watchkeeper.site.context.SiteView` of the opened
  site's store (``view``), and for ``authorize`` the :class:`~watchkeeper.site.context.ActionRequest`
  with the resource's history.
* **event** (collected, fire-and-forget): errors in one implementation are logged and journaled
  and never break the caller.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from watchkeeper import hookspec

if TYPE_CHECKING:  # pragma: no cover - imported for annotations only
    import click
    from sqlite_utils import Migrations

    from watchkeeper.site.checks import Check
    from watchkeeper.site.verdicts import ClauseRule
    from watchkeeper.site.config import Site
    from watchkeeper.site.context import ActionRequest, Refusal, SiteView
    from watchkeeper.site.people import PeopleView
    from watchkeeper.devices.drivers import Platform
    from watchkeeper.core.findings import Finding


# --- registries -------------------------------------------------------------------------------


@hookspec
def register_platforms(register: Callable[[Platform], None]) -> None:
    """Register vendor platforms (drivers and simulators).

    Style: registry. Call ``register(Platform(...))`` once per platform. The host refuses a
    duplicate or malformed name and a platform with no driver, naming the plugin.

    :param register: the host's callback taking a :class:`watchkeeper.devices.drivers.Platform`.
    """


@hookspec
def register_checks(register: Callable[[Check], None]) -> None:
    """Register rule checks that the scheduler and ``watchkeeper`` commands run.

    Style: registry. Call ``register(Check(name=..., clause="R7", run=...))``; ``run`` is an
    async function taking a :class:`watchkeeper.site.checks.CheckContext` and returning findings.

    :param register: the host's callback taking a :class:`watchkeeper.site.checks.Check`.
    """


@hookspec
def register_commands(cli: click.Group) -> None:
    """Add click commands or groups to the ``watchkeeper`` CLI.

    Style: registry. Called once inside the CLI factory, never at import time.

    :param cli: the root :class:`click.Group`; call ``cli.add_command(...)``.
    """


@hookspec
def register_catalogues(register: Callable[[str, Path], None]) -> None:
    """Register the plugin's own translations: a gettext domain and the folder that holds it.

    Style: registry. Call ``register(domain, locale_dir)`` with the plugin's package name as the
    domain and its ``locale`` folder (``<locale_dir>/zh_CN/LC_MESSAGES/<domain>.mo``). Called while
    plugins load, before any command, page or report; a message is looked up in watchkeeper's own
    catalogue first, then in each plugin's, so a plugin translates its own reasons and labels but
    not watchkeeper's terms. docs/vendor-plugins.md, "Translating your plugin", shows the steps.

    :param register: the host's callback taking a domain name and a locale folder.
    """


@hookspec
def register_migrations(register: Callable[[Migrations], None]) -> None:
    """Register the plugin's own database migrations.

    Style: registry. Call ``register(migrations)`` with a ``sqlite_utils.Migrations`` whose name
    is unique to the plugin; the store applies every set at open, the core set first.

    :param register: the host's callback taking a ``sqlite_utils.Migrations``.
    """


@hookspec
def register_verdicts(register: Callable[[ClauseRule], None]) -> None:
    """Register the rule that decides a clause's verdict for a period (met, not met, no evidence, not due).

    Style: registry. Call ``register(ClauseRule(clause="R7", decide=...))``; ``decide`` takes a
    :class:`watchkeeper.site.verdicts.VerdictContext` and returns a
    :class:`watchkeeper.site.verdicts.Verdict` naming the evidence ids and the rule branch that
    decided it, from the store alone. One rule per clause: the host refuses a second, naming both
    plugins.

    :param register: the host's callback taking a :class:`watchkeeper.site.verdicts.ClauseRule`.
    """


@hookspec
def register_routes(register: Callable[..., None]) -> None:
    """Add pages or API endpoints to the web dashboard that `watchkeeper run` serves.

    Style: registry. Call ``register(method, path, handler, action=None)``; ``handler`` is an aiohttp
    handler ``async def handler(request) -> web.Response`` and finds the opened site at
    ``request.app[watchkeeper.faces.web.APP]``. Paths must start with ``/plugins/``; the host refuses
    others so a plugin cannot shadow the dashboard's own pages. Every request is made by a logged-in
    person (`watchkeeper.faces.webauth`); ``action`` is what ``authorize`` is asked before the handler
    runs: by default "console.view" for GET and a refusal (403) for a state-changing method, so a
    POST route names its action (and the person, ``webauth.require(request, action)``, signs it).

    :param register: the host's callback taking a method, a path, a handler and an optional action.
    """


# --- decisions --------------------------------------------------------------------------------


@hookspec(firstresult=True)
def authorize(actor: str, action: str, resource: str, site: Site, people: PeopleView,
              request: ActionRequest) -> bool | Refusal | None:
    """Decide whether a person may perform an action (R2, R9).

    Style: decision (firstresult). Return ``True`` to allow, ``Refusal("why")`` (from
    ``watchkeeper.site.context``) or ``False`` to refuse, ``None`` to defer to the next plugin. A
    refusal is journaled with its reason and the refusing plugin's name; any other answer refuses,
    naming the plugin that gave it. The built-in policy (``trylast``) allows an action only to a
    known, unrevoked person whose roles grant it, and refuses operator actions to an operator with no,
    expired or future-dated training.

    :param actor: the person's id.
    :param action: e.g. ``"inspect.sign"``, ``"footage.approve"``, ``"footage.export"``.
    :param resource: what is acted on, e.g. a camera id or ``"request-7"``.
    :param site: the loaded site.
    :param people: the site's current people, read from the store (``people.get(actor)`` gives roles,
        training and revocation as they are now, after any ``people add|revoke|train``); read-only.
    :param request: the same question as an :class:`~watchkeeper.site.context.ActionRequest`:
        ``request.history`` lists the journal entries about the resource (who requested, who
        approved), ``request.view`` reads the store.
    :returns: ``True``, a ``Refusal``, ``False`` or ``None``.
    """


@hookspec(firstresult=True)
def retention_days(camera: str, site: Site, view: SiteView) -> int | None:
    """How many days of recording a camera must keep (R8).

    Style: decision (firstresult). The built-in policy returns the camera's ``retention_days``
    from the config, else the site policy (the sector preset's figure unless the site wrote its own;
    ``watchkeeper.site.presets``).

    :param camera: the camera id.
    :param site: the loaded site.
    :param view: the site's store, read-only (e.g. evidence holds on the camera).
    :returns: days, or ``None`` to defer.
    """


@hookspec(firstresult=True)
def clock_tolerance(device: str, site: Site, view: SiteView) -> float | None:
    """The largest clock offset, in seconds, a device may have (R7).

    Style: decision (firstresult). The built-in policy returns the site's
    ``policies.clock_tolerance_seconds`` (the sector preset's, 30 s in every preset, unless the site
    wrote its own).

    :param device: the camera or recorder id.
    :param site: the loaded site.
    :param view: the site's store, read-only (e.g. the device's earlier clock readings).
    :returns: seconds, or ``None`` to defer.
    """


@hookspec(firstresult=True)
def entry_decision(door: str, person: Any, credential: Any, site: Site, view: SiteView) -> Any:
    """Decide whether a credential read at a door opens it (R3).

    Style: decision (firstresult). Return an ``EntryDecision`` (allowed, reason) or ``None`` to
    defer. The built-in access rule admits staff in their hours (operators only while trained) and
    approved visitors inside their window, and refuses everyone else.

    :param door: the door id.
    :param person: the person (as the store holds them now: roles, training, revocation) or visitor the
        credential belongs to, or ``None`` if unknown.
    :param credential: the :class:`watchkeeper.core.models.CredentialRead`.
    :param site: the loaded site.
    :param view: the site's store, read-only (e.g. today's ``access_events`` at this door).
    :returns: an ``EntryDecision`` or ``None``.
    """


# --- events -----------------------------------------------------------------------------------

#: The event hooks: the host guards each implementation, so one plugin's error is logged and the
#: other plugins and the caller carry on. Callers call them through ``pm.hook`` like any hook.
EVENT_HOOKS = frozenset({"on_finding", "on_journal_entry", "on_access_event", "on_inspection_complete",
                         "report_sections"})


@hookspec
def on_finding(finding: Finding, site: Site, opened: bool) -> None:
    """A finding was opened or closed.

    Style: event. Notifiers and organisation plugins send it on; errors are logged and journaled.

    :param finding: the :class:`watchkeeper.core.findings.Finding`.
    :param site: the loaded site.
    :param opened: ``True`` when the finding is new, ``False`` when it was closed.
    """


@hookspec
def on_journal_entry(entry: dict[str, Any]) -> None:
    """An entry was committed to the journal.

    Style: event. ``entry`` is the stored row (seq, time, kind, actor, subject, body, hashes);
    it never contains secrets.

    :param entry: the journal row as a dict.
    """


@hookspec
def on_access_event(event: dict[str, Any], site: Site) -> None:
    """A door decision, entry, exit or alarm happened (R3).

    Style: event.

    :param event: the ``access_events`` row as a dict.
    :param site: the loaded site.
    """


@hookspec
def on_inspection_complete(run: dict[str, Any], site: Site) -> None:
    """A daily inspection run finished (R5).

    Style: event.

    :param run: the inspection run with per-camera results.
    :param site: the loaded site.
    """


@hookspec
def report_sections(report: dict[str, Any], site: Site) -> list[dict[str, Any]] | None:
    """Add sections to the compliance report (R10).

    Style: collected. Return a list of sections, each ``{"title": ..., "html": ..., "data": ...}``,
    or ``None``.

    :param report: the report being built (period, clause statuses).
    :param site: the loaded site.
    :returns: sections to append, or ``None``.
    """

