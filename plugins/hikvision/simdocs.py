"""The ISAPI documents the simulator answers with, shaped like the recorded device replies."""

from __future__ import annotations

from datetime import datetime
from xml.sax.saxutils import escape

from .isapi import NAMESPACE

XML_HEAD = '<?xml version="1.0" encoding="UTF-8"?>\r\n'


def _leaves(values: dict[str, object]) -> str:
    return "".join(f"<{key}>{escape(str(value))}</{key}>\r\n" for key, value in values.items())


def doc(name: str, body: str, head: bool = True) -> bytes:
    """A root element in the ver20 namespace; real devices use CRLF line ends, so do we."""
    text = f'<{name} version="2.0" xmlns="{NAMESPACE}">\r\n{body}</{name}>\r\n'
    return ((XML_HEAD if head else "") + text).encode()


def response_status(url: str, code: int = 1, status: str = "OK", sub: str = "ok") -> bytes:
    return doc("ResponseStatus", _leaves({"requestURL": url, "statusCode": code, "statusString": status,
                                          "subStatusCode": sub}))


def device_info(name: str, serial: str, model: str, device_type: str, mac: str, device_id: str) -> bytes:
    return doc("DeviceInfo", _leaves({
        "deviceName": name, "deviceID": device_id, "deviceDescription": device_type,
        "deviceLocation": "hangzhou", "systemContact": "Hikvision.China", "model": model,
        "serialNumber": serial, "macAddress": mac, "firmwareVersion": "V5.5.0",
        "firmwareReleasedDate": "build 170725", "encoderVersion": "V7.3", "encoderReleasedDate": "build 170627",
        "bootVersion": "V1.3.4", "bootReleasedDate": "100316", "hardwareVersion": "0x0",
        "deviceType": device_type, "telecontrolID": 88, "supportBeep": "false", "supportVideoLoss": "false",
        "firmwareVersionInfo": "B-R-G1-0"}))


def device_status(now_local: datetime, uptime: int) -> bytes:
    return doc("DeviceStatus", _leaves({"currentDeviceTime": now_local.isoformat(), "deviceUpTime": uptime})
               + "<CPUList>\r\n<CPU>\r\n" + _leaves({"cpuDescription": "ARM926EJ-Sid(wb)", "cpuUtilization": 12})
               + "</CPU>\r\n</CPUList>\r\n<MemoryList>\r\n<Memory>\r\n"
               + _leaves({"memoryDescription": "DDR Memory", "memoryUsage": 73, "memoryAvailable": 40596})
               + "</Memory>\r\n</MemoryList>\r\n" + _leaves({"totalRebootCount": 0}))


def time_doc(mode: str, now_local: datetime, zone: str) -> bytes:
    return doc("Time", _leaves({"timeMode": mode, "localTime": now_local.isoformat(), "timeZone": zone}))


def ntp_servers(servers: list[str]) -> bytes:
    items = []
    for number, server in enumerate(servers, 1):
        numeric = server.replace(".", "").isdigit()
        items.append('<NTPServer version="2.0">\r\n' + _leaves({
            "id": number, "addressingFormatType": "ipaddress" if numeric else "hostname",
            "hostName": "" if numeric else server, "ipAddress": server if numeric else "0.0.0.0",
            "portNo": 123, "synchronizeInterval": 1440}) + "</NTPServer>\r\n")
    return doc("NTPServerList", "".join(items))


def channel_list(root: str, item: str, channels: int, host: str) -> bytes:
    body = []
    for channel in range(1, channels + 1):
        if item == "InputProxyChannel":
            inner = (f'<{item} version="2.0">\r\n<id>{channel}</id>\r\n<name>Camera {channel:02d}</name>\r\n'
                     f"<sourceInputPortDescriptor>\r\n<proxyProtocol>HIKVISION</proxyProtocol>\r\n"
                     f"<addressingFormatType>ipaddress</addressingFormatType>\r\n"
                     f"<ipAddress>{escape(host)}</ipAddress>\r\n<managePortNo>8000</managePortNo>\r\n"
                     f"<srcInputPort>{channel}</srcInputPort>\r\n</sourceInputPortDescriptor>\r\n</{item}>\r\n")
        else:
            inner = (f'<{item} version="2.0">\r\n' + _leaves({"id": channel, "inputPort": channel,
                                                               "videoInputEnabled": "true",
                                                               "name": f"Camera {channel:02d}"}) + f"</{item}>\r\n")
        body.append(inner)
    return doc(root, "".join(body))


def streaming_channels(channels: int) -> bytes:
    items = "".join(
        f'<StreamingChannel version="2.0">\r\n<id>{c}{s:02d}</id>\r\n<channelName>Camera {c:02d}</channelName>\r\n'
        f"<enabled>true</enabled>\r\n</StreamingChannel>\r\n"
        for c in range(1, channels + 1) for s in (1, 2))
    return doc("StreamingChannelList", items)


def admin_accesses(http_port: int, rtsp_port: int) -> bytes:
    items = "".join('<AdminAccessProtocol version="2.0">\r\n' + _leaves({"id": n, "enabled": "true",
                                                                          "protocol": p, "portNo": port})
                    + "</AdminAccessProtocol>\r\n"
                    for n, (p, port) in enumerate((("HTTP", http_port), ("HTTPS", 443), ("DEV_MANAGE", 8000),
                                                   ("RTSP", rtsp_port)), 1))
    return doc("AdminAccessProtocolList", items)


def io_outputs(count: int) -> bytes:
    items = "".join('<IOOutputPort version="2.0">\r\n' + _leaves({"id": n, "outputName": f"Alarm Output {n}"})
                    + "</IOOutputPort>\r\n" for n in range(1, count + 1))
    return doc("IOOutputPortList", items)


def event_triggers(channels: int) -> bytes:
    """One trigger per channel and event type, notifying the `center` (the alert stream)."""
    items, number = [], 0
    for channel in range(1, channels + 1):
        for event in ("VMD", "videoloss", "tamperdetection", "shelteralarm"):
            number += 1
            items.append(
                f'<EventTrigger version="2.0">\r\n<id>{event}-{channel}</id>\r\n<eventType>{event}</eventType>\r\n'
                f"<videoInputChannelID>{channel}</videoInputChannelID>\r\n<EventTriggerNotificationList>\r\n"
                f"<EventTriggerNotification>\r\n<id>center</id>\r\n<notificationMethod>center</notificationMethod>\r\n"
                f"<notificationRecurrence>beginning</notificationRecurrence>\r\n</EventTriggerNotification>\r\n"
                f"</EventTriggerNotificationList>\r\n</EventTrigger>\r\n")
    return doc("EventTriggerList", "".join(items))


def motion_detection(channel: int) -> bytes:
    return doc("MotionDetection", _leaves({"id": channel, "enabled": "true", "enableHighlight": "false"}))


def search_result(search_id: str, status: str, items: list[str]) -> bytes:
    return doc("CMSearchResult", _leaves({"searchID": search_id, "responseStatus": "true",
                                          "responseStatusStrg": status, "numOfMatches": len(items)})
               + "<matchList>\r\n" + "".join(items) + "</matchList>\r\n")


def search_item(track: str, start: str, end: str, uri: str, record_type: str = "timing") -> str:
    return ("<searchMatchItem>\r\n" + _leaves({"sourceID": "{0000000000-0000-0000-0000-000000000000}",
                                               "trackID": track})
            + f"<timeSpan>\r\n<startTime>{start}</startTime>\r\n<endTime>{end}</endTime>\r\n</timeSpan>\r\n"
            + "<mediaSegmentDescriptor>\r\n" + _leaves({"contentType": "video", "codecType": "H.264-BP",
                                                        "playbackURI": uri})
            + "</mediaSegmentDescriptor>\r\n<metadataMatches>\r\n"
            + f"<metadataDescriptor>recordType.meta.hikvision.com/{record_type}</metadataDescriptor>\r\n"
            + "</metadataMatches>\r\n</searchMatchItem>\r\n")


def log_item(when: str, major: str, minor: str, user: str, address: str, channel: int | None, info: str) -> str:
    fields: dict[str, object] = {"metaId": f"log.std-cgi.com/{major}/{minor}", "StartDateTime": when, "localID": "",
              "userName": user, "ipAddress": address}
    if channel is not None:
        fields["ChannelID"] = channel
    fields["infoContent"] = info
    return "<searchMatchItem>\r\n<logDescriptor>\r\n" + _leaves(fields) + "</logDescriptor>\r\n</searchMatchItem>\r\n"


def daily_distribution(days: dict[int, bool]) -> bytes:
    items = "".join(f"<day>\r\n<id>{d}</id>\r\n<dayOfMonth>{d}</dayOfMonth>\r\n<record>{str(r).lower()}</record>\r\n"
                    f"<recordType>{'time' if r else ''}</recordType>\r\n</day>\r\n" for d, r in sorted(days.items()))
    return doc("trackDailyDistribution", f"<dayList>\r\n{items}</dayList>\r\n")


def storage(disks: list[dict[str, object]]) -> bytes:
    items = "".join('<hdd version="2.0">\r\n' + _leaves(d) + "</hdd>\r\n" for d in disks)
    return doc("storage", f'<hddList version="2.0">\r\n{items}</hddList>\r\n<nasList version="2.0">\r\n</nasList>\r\n')


def alert(event_type: str, state: str, channel: int | None, when: datetime, host: str, port: int,
          description: str, count: int) -> bytes:
    """An alertStream part body; devices send it without an XML declaration."""
    fields: dict[str, object] = {"ipAddress": host, "portNo": port, "protocol": "HTTP",
                                 "macAddress": "44:19:b6:00:00:01"}
    if channel is not None:
        fields["channelID"] = channel
    fields.update({"dateTime": when.isoformat(), "activePostCount": count, "eventType": event_type,
                   "eventState": state, "eventDescription": description})
    return doc("EventNotificationAlert", _leaves(fields), head=False)
