"""Profile G recording search: paging until Completed, recordings by source, IsDataPresent history → segments."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from watchkeeper.core.models import RecordingKind, RecordingSegment
from watchkeeper.devices.drivers import PROGRAMMING_ERRORS
from watchkeeper.core.i18n import N_
from watchkeeper.devices.safeparse import protocol_error

#: A search that is still "Searching" after this many pages is a device bug, not a big archive.
MAX_PAGES = 500
PAGE_SIZE = 50
#: Some recorders report DataFrom 1970-01-01 (an empty or reset disk); no CCTV footage predates this.
EPOCH_QUIRK = datetime(2000, 1, 1, tzinfo=timezone.utc)


async def find_all_pages(search: Any, find: str, get: str, query: dict[str, Any], item: str) -> list[Any]:
    """Start a search and page its results until the device says Completed, then end it."""
    token = (await getattr(search, find)(**query))
    token = getattr(token, "SearchToken", token)
    results: list[Any] = []
    try:
        for _ in range(MAX_PAGES):
            page = await getattr(search, get)(SearchToken=token, MinResults=1, MaxResults=PAGE_SIZE, WaitTime="PT1S")
            page = getattr(page, "ResultList", page)
            if page is None:
                raise protocol_error(N_("{what}: reply has no result list", what=get))
            results.extend(getattr(page, item, None) or [])
            if page.SearchState == "Completed":
                token = None
                return results
        raise protocol_error(N_("{what}: search never completed after {pages} pages", what=get, pages=MAX_PAGES))
    finally:
        if token is not None:
            try:
                await search.EndSearch(SearchToken=token)
            except Exception as error:  # ending is a courtesy; the device drops the search on KeepAliveTime anyway
                if isinstance(error, PROGRAMMING_ERRORS):
                    raise


def recording_token(results: list[Any], source: str) -> Any | None:
    """The recording whose source is the channel's video source (or the only one there is)."""
    for information in results:
        if information.Source is not None and information.Source.SourceId == source:
            return information
    return results[0] if len(results) == 1 else None


def _aware(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    value = value if value.tzinfo else value.replace(tzinfo=timezone.utc)
    value = value.astimezone(timezone.utc)
    return None if value < EPOCH_QUIRK else value


def span_segment(information: Any, channel: int, start: datetime, end: datetime) -> list[RecordingSegment]:
    """Without event history, the recording's earliest..latest span clipped to the window is all we know.

    An earliest time lost to the epoch quirk keeps the latest: the segment then ends at LatestRecording
    and says its start is not known (RecordingSegment.start_known), rather than the recording being dropped.
    """
    earliest, latest = _aware(information.EarliestRecording), _aware(information.LatestRecording)
    if latest is None:
        return []
    lower, upper = max(earliest or start, start), min(latest, end)
    if lower >= upper:
        return []
    return [RecordingSegment(channel=channel, start=lower, end=upper, kind=RecordingKind.CONTINUOUS,
                             token=information.RecordingToken, start_known=earliest is not None)]


def _is_data_present(result: Any) -> bool | None:
    message = result.Event.Message._value_1 if result.Event and result.Event.Message else None
    data = getattr(message, "Data", None)
    for simple in getattr(data, "SimpleItem", None) or []:
        if simple.Name == "IsDataPresent":
            return str(simple.Value).lower() == "true"
    return None


def _topic(result: Any) -> str:
    topic = result.Event.Topic if result.Event is not None else None
    return str(getattr(topic, "_value_1", topic) or "")


def segments_from_events(results: list[Any], channel: int, start: datetime, end: datetime,
                         information: Any) -> list[RecordingSegment]:
    """Turn RecordingHistory/Track/State transitions into [on, off) segments within [start, end)."""
    transitions = []
    for result in results:
        present = _is_data_present(result)
        if present is None or "RecordingHistory" not in _topic(result):
            continue
        when = _aware(result.Time) or start
        transitions.append((when, present))
    if not transitions:
        return span_segment(information, channel, start, end)
    transitions.sort(key=lambda item: item[0])
    segments, opened = [], None
    for when, present in transitions:
        when = min(max(when, start), end)
        if present and opened is None:
            opened = when
        elif not present and opened is not None:
            if when > opened:
                segments.append((opened, when))
            opened = None
    if opened is not None:
        latest = _aware(information.LatestRecording) or end
        closing = min(end, max(latest, opened))
        if closing > opened:
            segments.append((opened, closing))
    return [RecordingSegment(channel=channel, start=s, end=e, kind=RecordingKind.CONTINUOUS,
                             token=information.RecordingToken) for s, e in segments]
