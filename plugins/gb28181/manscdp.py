"""MANSCDP bodies (GB/T 28181 Annex A): Query, Response and Notify XML, in GB2312 or UTF-8 as declared."""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import datetime
from typing import Any
from xml.etree.ElementTree import Element

import attrs
from defusedxml import ElementTree as SafeElementTree
from defusedxml.common import DefusedXmlException
from watchkeeper.core.i18n import N_
from watchkeeper.devices.safeparse import refused_xml

CONTENT_TYPE = "Application/MANSCDP+xml"
#: A Catalog page of a big NVR or a RecordInfo page stays well under this.
MAX_BODY_BYTES = 32 * 1024
MAX_ELEMENTS = 4000
_DECLARED = re.compile(rb"""^\s*<\?xml[^>]*encoding\s*=\s*["']([A-Za-z0-9_.-]+)["'][^>]*\?>""")
#: Devices declare GB2312 and often send GBK characters (names of places); GB18030 reads both.
_CODECS = {"gb2312": "gb18030", "gbk": "gb18030", "gb18030": "gb18030", "utf-8": "utf-8", "utf8": "utf-8"}
#: GB/T 28181 times: local time (the site's legal time), no zone, optional fraction.
TIME_FORMAT = "%Y-%m-%dT%H:%M:%S"


class ManscdpError(ValueError):
    """A body that is too big, not XML, in an unknown encoding, or missing CmdType/SN/DeviceID."""


@attrs.frozen
class Body:
    """What every MANSCDP message carries, and the whole element for the rest."""

    root: str
    cmd_type: str
    sn: int
    device_id: str
    element: Element = attrs.field(repr=False, eq=False)

    def text(self, path: str, default: str = "") -> str:
        found = self.element.find(path)
        return (found.text or "").strip() if found is not None and found.text else default

    def items(self, list_tag: str) -> list[dict[str, str]]:
        """The <Item> children of a list (DeviceList, RecordList, Alarmstatus) as flat dicts."""
        container = self.element.find(list_tag)
        if container is None:
            return []
        return [{child.tag: (child.text or "").strip() for child in item} for item in container.findall("Item")]


def decode(data: bytes) -> Body:
    """Parse a MANSCDP body defensively: bounded, no DTDs or entities, encoding as the device declares."""
    if len(data) > MAX_BODY_BYTES:
        raise ManscdpError(N_("body of {size} bytes is over {limit}", size=len(data), limit=MAX_BODY_BYTES))
    declared = _DECLARED.match(data)
    encoding = declared.group(1).decode("ascii").lower() if declared else "utf-8"
    codec = _CODECS.get(encoding)
    if codec is None:
        raise ManscdpError(N_("unknown encoding {encoding!r}", encoding=encoding[:40]))
    try:
        text = data.decode(codec)
    except UnicodeDecodeError:
        raise ManscdpError(N_("body is not valid {encoding}", encoding=encoding)) from None
    # The declaration is gone once decoded: expat reads only a few encodings itself.
    text = re.sub(r"^\s*<\?xml[^>]*\?>", "", text, count=1)
    try:
        element = SafeElementTree.fromstring(text, forbid_dtd=True)
    except DefusedXmlException as error:
        raise ManscdpError(N_("XML refused: {why}", why=refused_xml(error))) from None
    except SafeElementTree.ParseError as error:
        line, column = getattr(error, "position", (0, 0))  # expat's own message is English
        raise ManscdpError(N_("not well-formed XML at line {line}, column {column}", line=line, column=column)) from None
    if sum(1 for _ in element.iter()) > MAX_ELEMENTS:
        raise ManscdpError(N_("more than {limit} elements", limit=MAX_ELEMENTS))
    if element.tag not in ("Query", "Response", "Notify", "Control"):
        raise ManscdpError(N_("unknown root element <{tag}>", tag=element.tag[:40]))
    cmd_type = (element.findtext("CmdType") or "").strip()
    sn_text = (element.findtext("SN") or "").strip()
    device_id = (element.findtext("DeviceID") or "").strip()
    if not cmd_type or not sn_text.isdigit() or not device_id:
        raise ManscdpError(N_("CmdType, SN and DeviceID are required"))
    return Body(element.tag, cmd_type, int(sn_text), device_id, element)


def _escape(value: Any) -> str:
    text = str(value)
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _fields(fields: Iterable[tuple[str, Any]], indent: str = "") -> list[str]:
    lines = []
    for name, value in fields:
        if isinstance(value, tuple):  # a nested element: (tag, ((field, value), ...))
            lines.append(f"{indent}<{name}>")
            lines += _fields(value, indent)
            lines.append(f"{indent}</{name}>")
        elif isinstance(value, list):  # a list of items: (tag with Num=, [fields...])
            lines.append(f'{indent}<{name} Num="{len(value)}">')
            for item in value:
                lines.append(f"{indent}<Item>")
                lines += _fields(item, indent)
                lines.append(f"{indent}</Item>")
            lines.append(f"{indent}</{name}>")
        else:
            lines.append(f"{indent}<{name}>{_escape(value)}</{name}>")
    return lines


def encode(root: str, cmd_type: str, sn: int, device_id: str, fields: Iterable[tuple[str, Any]] = (),
           encoding: str = "GB2312") -> bytes:
    """A MANSCDP body; devices and platforms commonly declare GB2312."""
    lines = [f'<?xml version="1.0" encoding="{encoding}"?>', f"<{root}>", f"<CmdType>{cmd_type}</CmdType>",
             f"<SN>{sn}</SN>", f"<DeviceID>{_escape(device_id)}</DeviceID>", *_fields(fields), f"</{root}>"]
    codec = _CODECS.get(encoding.lower(), "utf-8")
    return ("\r\n".join(lines) + "\r\n").encode(codec)


def parse_time(value: str, zone: Any) -> datetime:
    """A GB/T 28181 time (`2026-11-29T08:00:00`, optional `.sss`), which is local time in `zone`."""
    text = value.strip().replace(" ", "T")
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise ManscdpError(N_("{value!r} is not a time like 2026-11-29T08:00:00", value=value[:40])) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=zone)


def format_time(moment: datetime, zone: Any) -> str:
    return moment.astimezone(zone).strftime(TIME_FORMAT)
