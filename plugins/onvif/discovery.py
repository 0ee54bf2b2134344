"""WS-Discovery: the simulator answers Probes; `watchkeeper discover` finds devices and prints config stanzas."""

from __future__ import annotations

import asyncio
import re
import socket
import time
import uuid
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import click

from watchkeeper.core.i18n import _
from watchkeeper.devices.drivers import DeviceError
from watchkeeper.devices.safeparse import parse_xml

from .soap import find, find_text, text

if TYPE_CHECKING:
    from .simulator import OnvifSimDevice

WS_DISCOVERY_PORT = 3702
MULTICAST_GROUP = "239.255.255.250"
NS_DISCOVERY = "http://schemas.xmlsoap.org/ws/2005/04/discovery"
NS_ADDRESSING = "http://schemas.xmlsoap.org/ws/2004/08/addressing"
NVT = ("http://www.onvif.org/ver10/network/wsdl", "NetworkVideoTransmitter")


def probe_match(device: OnvifSimDevice, relates_to: str) -> bytes:
    """A ProbeMatch for one device, as ONVIF cameras send it (SOAP 1.2 over UDP, dn:NetworkVideoTransmitter)."""
    scopes = " ".join([f"onvif://www.onvif.org/name/wk-sim-{device.index}", "onvif://www.onvif.org/hardware/WK-ONVIF-NVR",
                       "onvif://www.onvif.org/Profile/Streaming", "onvif://www.onvif.org/Profile/G"])
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        f'<SOAP-ENV:Envelope xmlns:SOAP-ENV="http://www.w3.org/2003/05/soap-envelope" xmlns:wsa="{NS_ADDRESSING}" '
        f'xmlns:wsdd="{NS_DISCOVERY}" xmlns:dn="{NVT[0]}"><SOAP-ENV:Header>'
        f"<wsa:MessageID>uuid:{uuid.uuid4()}</wsa:MessageID><wsa:RelatesTo>{text(relates_to)}</wsa:RelatesTo>"
        "<wsa:To>http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous</wsa:To>"
        f"<wsa:Action>{NS_DISCOVERY}/ProbeMatches</wsa:Action>"
        f'<wsdd:AppSequence InstanceId="{device.state.boots}" MessageNumber="1"/></SOAP-ENV:Header>'
        "<SOAP-ENV:Body><wsdd:ProbeMatches><wsdd:ProbeMatch><wsa:EndpointReference>"
        f"<wsa:Address>urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, device.base_url)}</wsa:Address></wsa:EndpointReference>"
        f"<wsdd:Types>dn:{NVT[1]}</wsdd:Types><wsdd:Scopes>{scopes}</wsdd:Scopes>"
        f"<wsdd:XAddrs>{device.base_url}/onvif/device_service</wsdd:XAddrs>"
        "<wsdd:MetadataVersion>1</wsdd:MetadataVersion></wsdd:ProbeMatch></wsdd:ProbeMatches></SOAP-ENV:Body>"
        "</SOAP-ENV:Envelope>").encode()


class _Responder(asyncio.DatagramProtocol):
    def __init__(self, devices: Sequence[OnvifSimDevice]) -> None:
        self.devices = devices
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: Any) -> None:
        self.transport = transport

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        try:
            document = parse_xml(data, "probe")
        except DeviceError:
            return  # not ours to answer
        body = find(document, "Body")
        if find(body, "Probe") is None or self.transport is None:
            return
        types = find_text(body, "Probe", "Types")
        if types and NVT[1] not in types and "Device" not in types:
            return
        message_id = find_text(find(document, "Header"), "MessageID")
        for device in self.devices:
            if not device.state.device_faults.offline:
                self.transport.sendto(probe_match(device, message_id), addr)


async def start_responder(devices: Sequence[OnvifSimDevice], host: str = "127.0.0.1",
                          port: int = 0, multicast: bool = False) -> tuple[asyncio.DatagramTransport, int]:
    """Answer Probes for these devices on host:port (the multicast group too when asked)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_UDP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("" if multicast else host, port))
    if multicast:
        membership = socket.inet_aton(MULTICAST_GROUP) + socket.inet_aton(host if host != "0.0.0.0" else "0.0.0.0")
        sock.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, membership)
    loop = asyncio.get_running_loop()
    transport, _ = await loop.create_datagram_endpoint(lambda: _Responder(devices), sock=sock)
    return transport, sock.getsockname()[1]


def _unicast_probe(timeout: float, address: str, port: int) -> list[Any]:
    """wsdiscovery's own Probe and ProbeMatch code over one socket: its threaded client never reads unicast
    replies to a directed probe, and a loopback-only search must not touch the multicast group."""
    from wsdiscovery import QName
    from wsdiscovery.actions import NS_ACTION_PROBE_MATCH, constructProbe
    from wsdiscovery.message import createSOAPMessage, parseSOAPMessage

    probe = constructProbe([QName(*NVT)], [])
    matches = []
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.sendto(createSOAPMessage(probe).encode(), (address, port))
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            sock.settimeout(left)
            try:
                data, sender = sock.recvfrom(65536)
            except (TimeoutError, OSError):
                break
            try:
                parse_xml(data, "ProbeMatches")  # minidom expands entities: refuse those before it sees them
            except DeviceError:
                continue
            env = parseSOAPMessage(data, sender[0])
            if env is not None and env.getAction() == NS_ACTION_PROBE_MATCH and \
                    env.getRelatesTo() == probe.getMessageId():
                matches.extend(env.getProbeResolveMatches())
    return matches


def find_devices(timeout: float, address: str | None = None, port: int | None = None) -> list[dict[str, Any]]:
    """Probe for ONVIF devices with the wsdiscovery package: multicast, or unicast to address:port."""
    if address:
        services = _unicast_probe(timeout, address, port or WS_DISCOVERY_PORT)
    else:
        from wsdiscovery import QName
        from wsdiscovery.discovery import ThreadedWSDiscovery

        discovery = ThreadedWSDiscovery()
        discovery.start()
        try:
            services = discovery.searchServices(types=[QName(*NVT)], timeout=timeout)
        finally:
            discovery.stop()
    found = []
    for service in services:
        for xaddr in service.getXAddrs():
            parts = urlsplit(xaddr)
            scopes = [str(scope.getValue()) for scope in service.getScopes()]
            name = next((s.rsplit("/", 1)[1] for s in scopes if "/name/" in s), parts.hostname or "onvif")
            found.append({"xaddr": xaddr, "host": parts.hostname, "port": parts.port or 80, "name": name,
                          "scopes": scopes})
    return sorted(found, key=lambda item: (item["host"] or "", item["port"]))


def stanza(device: dict[str, Any]) -> str:
    """A site.toml [[recorders]] stanza to paste and complete (credentials are never guessed)."""
    ident = re.sub(r"[^a-z0-9_-]+", "-", device["name"].lower()).strip("-") or "onvif"
    return (f"[[recorders]]\nid = \"{ident}\"\nplatform = \"onvif\"\nhost = \"{device['host']}\"\n"
            f"port = {device['port']}\nusername = \"admin\"\npassword = \"env:WATCHKEEPER_{ident.upper().replace('-', '_')}_PASSWORD\"\n"
            f"# {device['xaddr']}  scopes: {' '.join(device['scopes'])}\n")


@click.command(help=_("Find ONVIF devices by WS-Discovery and print site.toml stanzas for them."))
@click.option("--timeout", default=3.0, show_default=True, type=click.FloatRange(0.1, 600),
              help=_("Seconds to wait for replies."))
@click.option("--address", default=None, help=_("Probe this address (unicast) instead of the multicast group."))
@click.option("--port", default=WS_DISCOVERY_PORT, show_default=True, help=_("WS-Discovery port for --address."))
def discover(timeout: float, address: str | None, port: int) -> None:
    devices = find_devices(timeout, address, port if address else None)
    if not devices:
        click.echo(_("no ONVIF devices answered"), err=True)
        raise SystemExit(1)
    for device in devices:
        click.echo(stanza(device))
