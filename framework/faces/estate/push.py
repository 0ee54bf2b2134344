"""Sends the outbox to the estate: in order, in batches, acknowledged by seq, retried with backoff.

The push is a background task of `watchkeeper run`: every call has a timeout, a dead or slow estate
only lengthens the queue and the wait before the next try, and nothing here ever raises into the
appliance's other tasks.
"""

from __future__ import annotations

import asyncio
import logging
import random
import ssl
from typing import Any

import aiohttp

from watchkeeper.core.i18n import _
from watchkeeper.evidence.journal import Verification
from watchkeeper.faces.estate import outbox
from watchkeeper.faces.health import JournalCache
from watchkeeper.faces.estate.protocol import BATCH_ITEMS, PUSH_PATH, SITE_HEADER
from watchkeeper.site.app import App
from watchkeeper.site.estatelink import EstateLink

log = logging.getLogger(__name__)
#: Seconds between tries while the estate cannot be reached, growing to the last, with jitter so
#: a hundred sites coming back after an estate outage do not all knock at once.
BACKOFF_SECONDS = (5, 10, 30, 60, 120, 300)


class PushRefused(Exception):
    """The estate refused the push (a wrong or revoked key: 401); retrying will not help until fixed."""


def ssl_context(link: EstateLink) -> ssl.SSLContext | None:
    """The TLS settings for an https estate: a private CA if set, and the appliance's own
    certificate when the estate asks for mutual TLS."""
    if not link.url.startswith("https:"):
        return None
    context = ssl.create_default_context(cafile=str(link.ca) if link.ca else None)
    if link.cert is not None and link.cert_key is not None:
        context.load_cert_chain(str(link.cert), str(link.cert_key))
    return context


class Pusher:
    """One appliance's link to its estate."""

    def __init__(self, app: App, link: EstateLink) -> None:
        self.app, self.link = app, link
        self.verification: Verification | None = None
        self.journal_cache = JournalCache()
        self.failures = 0
        self.last_error = ""

    async def snapshot(self) -> int:
        """Queue what changed. The journal is checked as the dashboard checks it: incrementally, in a
        worker thread on a read-only connection (never a walk of the chain on the loop that serves
        the doors), with a full walk every few minutes."""
        self.verification = await self.journal_cache.current(self.app)
        return outbox.snapshot(self.app, self.verification)

    async def send(self, session: aiohttp.ClientSession) -> int:
        """Send every queued item; returns the estate's ack. Raises on a failure to reach it."""
        after = outbox.first_unacked(self.app)
        headers = {"Authorization": f"Bearer {self.link.key.reveal()}", SITE_HEADER: self.link.site_id}
        timeout = aiohttp.ClientTimeout(total=self.link.timeout_seconds)
        sent = False
        while True:
            items = outbox.pending(self.app, after, BATCH_ITEMS)
            if not items and sent:
                return after
            sent = True  # with nothing queued, one empty push: the estate sees the site alive, and its ack
            if items and items[0]["seq"] != after + 1:
                items[0]["after_gap"] = True  # pruned before the estate had them: it flags the loss
            async with session.post(self.link.url + PUSH_PATH, json={"items": items}, headers=headers,
                                    timeout=timeout, ssl=ssl_context(self.link)) as response:
                if response.status == 401:
                    raise PushRefused(_("the estate refused site {site}'s key (401): enrol the site again and put the"
                                        " new key in [estate] key").format(site=self.link.site_id))
                if response.status == 409:  # the estate holds less than we think (its store restored)
                    acked = int((await response.json())["acked"])
                    log.warning("estate holds items up to %s only; resending from there", acked)
                    after = acked
                    continue
                response.raise_for_status()
                acked = int((await response.json())["acked"])
            if items and acked <= after and acked < items[-1]["seq"]:
                raise RuntimeError(f"the estate acknowledged nothing past item {acked}")
            outbox.acknowledge(self.app, acked)
            after = acked

    async def once(self, session: aiohttp.ClientSession) -> int:
        await self.snapshot()
        return await self.send(session)

    def wait(self) -> float:
        """Seconds to the next try: the interval when all is well, a growing backoff when not."""
        if not self.failures:
            return self.link.interval_seconds
        base = BACKOFF_SECONDS[min(self.failures - 1, len(BACKOFF_SECONDS) - 1)]
        return min(base, self.link.interval_seconds * 10) * random.uniform(0.8, 1.2)

    async def run(self) -> None:
        """Forever: snapshot, push, sleep. A failure is logged once per outage, not once per try."""
        async with aiohttp.ClientSession() as session:
            while True:
                try:
                    await self.once(session)
                    if self.failures:
                        log.info("estate %s reachable again; backlog sent", self.link.url)
                    self.failures, self.last_error = 0, ""
                except asyncio.CancelledError:
                    raise
                except Exception as error:  # the push never breaks the appliance; the queue waits
                    self.failures += 1
                    self.last_error = f"{type(error).__name__}: {error}"
                    level = logging.WARNING if self.failures == 1 else logging.DEBUG
                    log.log(level, "estate push to %s failed (%s items queued): %s", self.link.url,
                            outbox.backlog(self.app), self.last_error)
                await asyncio.sleep(self.wait())


    def status(self) -> dict[str, Any]:
        """The outbox at a glance: items waiting, and the highest the estate acknowledged."""
        return {"queued": outbox.backlog(self.app), "acked": outbox.first_unacked(self.app)}
