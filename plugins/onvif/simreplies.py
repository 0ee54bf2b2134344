"""Reply bodies of the simulated ONVIF device, element for element as the recorded fixtures show them."""

from __future__ import annotations

from datetime import datetime, timezone

from .soap import text, xml_time

SERVICE_PATHS = {
    "http://www.onvif.org/ver10/device/wsdl": "/onvif/device_service",
    "http://www.onvif.org/ver10/media/wsdl": "/onvif/media_service",
    "http://www.onvif.org/ver10/events/wsdl": "/onvif/event_service",
    "http://www.onvif.org/ver10/search/wsdl": "/onvif/search_service",
    "http://www.onvif.org/ver10/recording/wsdl": "/onvif/recording_service",
    "http://www.onvif.org/ver10/replay/wsdl": "/onvif/replay_service",
}
#: Whether the simulated device answers GetServices (gSOAP-era devices only have GetCapabilities).
TOPIC_DIALECT = "http://www.onvif.org/ver10/tev/topicExpression/ConcreteSet"


def date_time(device_utc: datetime, tz: str, ntp: bool) -> str:
    utc = device_utc.astimezone(timezone.utc)
    return (
        "<tds:GetSystemDateAndTimeResponse><tds:SystemDateAndTime>"
        f"<tt:DateTimeType>{'NTP' if ntp else 'Manual'}</tt:DateTimeType>"
        "<tt:DaylightSavings>false</tt:DaylightSavings>"
        f"<tt:TimeZone><tt:TZ>{text(tz)}</tt:TZ></tt:TimeZone>"
        f"<tt:UTCDateTime><tt:Time><tt:Hour>{utc.hour}</tt:Hour><tt:Minute>{utc.minute}</tt:Minute>"
        f"<tt:Second>{utc.second}</tt:Second></tt:Time><tt:Date><tt:Year>{utc.year}</tt:Year>"
        f"<tt:Month>{utc.month}</tt:Month><tt:Day>{utc.day}</tt:Day></tt:Date></tt:UTCDateTime>"
        "</tds:SystemDateAndTime></tds:GetSystemDateAndTimeResponse>")


def device_information(manufacturer: str, model: str, firmware: str, serial: str) -> str:
    return ("<tds:GetDeviceInformationResponse>"
            f"<tds:Manufacturer>{text(manufacturer)}</tds:Manufacturer><tds:Model>{text(model)}</tds:Model>"
            f"<tds:FirmwareVersion>{text(firmware)}</tds:FirmwareVersion>"
            f"<tds:SerialNumber>{text(serial)}</tds:SerialNumber><tds:HardwareId>V1.0</tds:HardwareId>"
            "</tds:GetDeviceInformationResponse>")


def services(base: str, omit: frozenset[str] = frozenset()) -> str:
    """GetServices; `omit` holds the namespaces of services this device model does not have."""
    items = "".join(
        f"<tds:Service><tds:Namespace>{ns}</tds:Namespace><tds:XAddr>{base}{path}</tds:XAddr>"
        "<tds:Version><tt:Major>2</tt:Major><tt:Minor>42</tt:Minor></tds:Version></tds:Service>"
        for ns, path in SERVICE_PATHS.items() if ns not in omit)
    return f"<tds:GetServicesResponse>{items}</tds:GetServicesResponse>"


def capabilities(base: str, omit: frozenset[str] = frozenset()) -> str:
    """GetCapabilities, without the sections of the services in `omit` (namespaces)."""
    reply = _capabilities(base)
    for namespace in omit:
        section = SECTION_OF.get(namespace)
        if section:
            start, end = reply.find(f"<tt:{section}>"), reply.find(f"</tt:{section}>")
            reply = reply[:start] + reply[end + len(f"</tt:{section}>"):] if start >= 0 else reply
    return reply


#: GetCapabilities section of each optional service's namespace.
SECTION_OF = {
    "http://www.onvif.org/ver10/events/wsdl": "Events",
    "http://www.onvif.org/ver10/search/wsdl": "Search",
    "http://www.onvif.org/ver10/recording/wsdl": "Recording",
    "http://www.onvif.org/ver10/replay/wsdl": "Replay",
}


def _capabilities(base: str) -> str:
    return (
        "<tds:GetCapabilitiesResponse><tds:Capabilities>"
        f"<tt:Device><tt:XAddr>{base}/onvif/device_service</tt:XAddr>"
        "<tt:Network><tt:IPFilter>false</tt:IPFilter><tt:ZeroConfiguration>false</tt:ZeroConfiguration>"
        "<tt:IPVersion6>false</tt:IPVersion6><tt:DynDNS>false</tt:DynDNS></tt:Network>"
        "<tt:System><tt:DiscoveryResolve>true</tt:DiscoveryResolve><tt:DiscoveryBye>true</tt:DiscoveryBye>"
        "<tt:RemoteDiscovery>false</tt:RemoteDiscovery><tt:SystemBackup>false</tt:SystemBackup>"
        "<tt:SystemLogging>false</tt:SystemLogging><tt:FirmwareUpgrade>false</tt:FirmwareUpgrade>"
        "<tt:SupportedVersions><tt:Major>2</tt:Major><tt:Minor>42</tt:Minor></tt:SupportedVersions></tt:System>"
        "<tt:Security><tt:TLS1.1>false</tt:TLS1.1><tt:TLS1.2>false</tt:TLS1.2>"
        "<tt:OnboardKeyGeneration>false</tt:OnboardKeyGeneration><tt:AccessPolicyConfig>false</tt:AccessPolicyConfig>"
        "<tt:X.509Token>false</tt:X.509Token><tt:SAMLToken>false</tt:SAMLToken>"
        "<tt:KerberosToken>false</tt:KerberosToken><tt:RELToken>false</tt:RELToken></tt:Security></tt:Device>"
        f"<tt:Events><tt:XAddr>{base}/onvif/event_service</tt:XAddr><tt:WSSubscriptionPolicySupport>false"
        "</tt:WSSubscriptionPolicySupport><tt:WSPullPointSupport>true</tt:WSPullPointSupport>"
        "<tt:WSPausableSubscriptionManagerInterfaceSupport>false</tt:WSPausableSubscriptionManagerInterfaceSupport>"
        "</tt:Events>"
        f"<tt:Media><tt:XAddr>{base}/onvif/media_service</tt:XAddr><tt:StreamingCapabilities>"
        "<tt:RTPMulticast>false</tt:RTPMulticast><tt:RTP_TCP>true</tt:RTP_TCP><tt:RTP_RTSP_TCP>true</tt:RTP_RTSP_TCP>"
        "</tt:StreamingCapabilities></tt:Media>"
        "<tt:Extension>"
        f"<tt:Recording><tt:XAddr>{base}/onvif/recording_service</tt:XAddr><tt:ReceiverSource>false</tt:ReceiverSource>"
        "<tt:MediaProfileSource>true</tt:MediaProfileSource><tt:DynamicRecordings>false</tt:DynamicRecordings>"
        "<tt:DynamicTracks>false</tt:DynamicTracks><tt:MaxStringLength>64</tt:MaxStringLength></tt:Recording>"
        f"<tt:Search><tt:XAddr>{base}/onvif/search_service</tt:XAddr><tt:MetadataSearch>false</tt:MetadataSearch></tt:Search>"
        f"<tt:Replay><tt:XAddr>{base}/onvif/replay_service</tt:XAddr></tt:Replay>"
        "</tt:Extension></tds:Capabilities></tds:GetCapabilitiesResponse>")


def ntp(servers: list[str], from_dhcp: bool = False) -> str:
    manual = "".join(
        f"<tt:NTPManual><tt:Type>DNS</tt:Type><tt:DNSname>{text(s)}</tt:DNSname></tt:NTPManual>" for s in servers)
    return (f"<tds:GetNTPResponse><tds:NTPInformation><tt:FromDHCP>{str(from_dhcp).lower()}</tt:FromDHCP>"
            f"{manual}</tds:NTPInformation></tds:GetNTPResponse>")


def scopes(name: str, model: str) -> str:
    items = [f"onvif://www.onvif.org/name/{name}", f"onvif://www.onvif.org/hardware/{model}",
             "onvif://www.onvif.org/Profile/Streaming", "onvif://www.onvif.org/Profile/G",
             "onvif://www.onvif.org/type/video_encoder"]
    body = "".join(f"<tds:Scopes><tt:ScopeDef>Fixed</tt:ScopeDef><tt:ScopeItem>{text(i)}</tt:ScopeItem></tds:Scopes>"
                   for i in items)
    return f"<tds:GetScopesResponse>{body}</tds:GetScopesResponse>"


def hostname(name: str) -> str:
    return (f"<tds:GetHostnameResponse><tds:HostnameInformation><tt:FromDHCP>false</tt:FromDHCP>"
            f"<tt:Name>{text(name)}</tt:Name></tds:HostnameInformation></tds:GetHostnameResponse>")


def _profile(channel: int, sub: bool) -> str:
    token = f"Profile_{channel}{'_sub' if sub else ''}"
    width, height = (640, 360) if sub else (1920, 1080)
    return (
        f'<trt:Profiles fixed="true" token="{token}"><tt:Name>{token}</tt:Name>'
        f'<tt:VideoSourceConfiguration token="VideoSourceConfig_{channel}"><tt:Name>VideoSourceConfig_{channel}</tt:Name>'
        f"<tt:UseCount>2</tt:UseCount><tt:SourceToken>VideoSource_{channel}</tt:SourceToken>"
        '<tt:Bounds height="1080" width="1920" y="0" x="0"></tt:Bounds></tt:VideoSourceConfiguration>'
        f'<tt:VideoEncoderConfiguration token="VideoEncoder_{channel}{"_sub" if sub else ""}">'
        f"<tt:Name>{'Sub' if sub else 'Main'} stream encoder</tt:Name><tt:UseCount>1</tt:UseCount>"
        f"<tt:Encoding>H264</tt:Encoding><tt:Resolution><tt:Width>{width}</tt:Width><tt:Height>{height}</tt:Height>"
        "</tt:Resolution><tt:Quality>8</tt:Quality><tt:RateControl><tt:FrameRateLimit>25</tt:FrameRateLimit>"
        "<tt:EncodingInterval>1</tt:EncodingInterval><tt:BitrateLimit>4096</tt:BitrateLimit></tt:RateControl>"
        "<tt:H264><tt:GovLength>50</tt:GovLength><tt:H264Profile>High</tt:H264Profile></tt:H264>"
        "<tt:Multicast><tt:Address><tt:Type>IPv4</tt:Type><tt:IPv4Address>0.0.0.0</tt:IPv4Address></tt:Address>"
        "<tt:Port>0</tt:Port><tt:TTL>0</tt:TTL><tt:AutoStart>false</tt:AutoStart></tt:Multicast>"
        "<tt:SessionTimeout>PT60S</tt:SessionTimeout></tt:VideoEncoderConfiguration></trt:Profiles>")


def profiles(channels: int) -> str:
    body = "".join(_profile(ch, sub) for ch in range(1, channels + 1) for sub in (False, True))
    return f"<trt:GetProfilesResponse>{body}</trt:GetProfilesResponse>"


def video_sources(channels: int) -> str:
    body = "".join(
        f'<trt:VideoSources token="VideoSource_{ch}"><tt:Framerate>25</tt:Framerate><tt:Resolution>'
        "<tt:Width>1920</tt:Width><tt:Height>1080</tt:Height></tt:Resolution></trt:VideoSources>"
        for ch in range(1, channels + 1))
    return f"<trt:GetVideoSourcesResponse>{body}</trt:GetVideoSourcesResponse>"


def media_uri(element: str, uri: str) -> str:
    return (f"<trt:{element}Response><trt:MediaUri><tt:Uri>{text(uri)}</tt:Uri>"
            "<tt:InvalidAfterConnect>false</tt:InvalidAfterConnect><tt:InvalidAfterReboot>false</tt:InvalidAfterReboot>"
            f"<tt:Timeout>PT60S</tt:Timeout></trt:MediaUri></trt:{element}Response>")


def recording_summary(data_from: datetime, data_until: datetime, count: int) -> str:
    return (f"<tse:GetRecordingSummaryResponse><tse:Summary><tt:DataFrom>{xml_time(data_from)}</tt:DataFrom>"
            f"<tt:DataUntil>{xml_time(data_until)}</tt:DataUntil><tt:NumberRecordings>{count}</tt:NumberRecordings>"
            "</tse:Summary></tse:GetRecordingSummaryResponse>")


def recording_information(channel: int, earliest: datetime, latest: datetime, recording: bool) -> str:
    status = "Recording" if recording else "Stopped"
    return (
        f"<tt:RecordingInformation><tt:RecordingToken>Recording_{channel}</tt:RecordingToken>"
        f"<tt:Source><tt:SourceId>VideoSource_{channel}</tt:SourceId><tt:Name>Camera {channel}</tt:Name>"
        "<tt:Location></tt:Location><tt:Description></tt:Description><tt:Address></tt:Address></tt:Source>"
        f"<tt:EarliestRecording>{xml_time(earliest)}</tt:EarliestRecording>"
        f"<tt:LatestRecording>{xml_time(latest)}</tt:LatestRecording><tt:Content>Continuous</tt:Content>"
        "<tt:Track><tt:TrackToken>VIDEO001</tt:TrackToken><tt:TrackType>Video</tt:TrackType>"
        f"<tt:Description></tt:Description><tt:DataFrom>{xml_time(earliest)}</tt:DataFrom>"
        f"<tt:DataTo>{xml_time(latest)}</tt:DataTo></tt:Track>"
        f"<tt:RecordingStatus>{status}</tt:RecordingStatus></tt:RecordingInformation>")


def recording_event(channel: int, when: datetime, present: bool, start_state: bool) -> str:
    return (
        f"<tt:Result><tt:RecordingToken>Recording_{channel}</tt:RecordingToken><tt:TrackToken>VIDEO001</tt:TrackToken>"
        f"<tt:Time>{xml_time(when)}</tt:Time><tt:Event>"
        f'<wsnt:Topic Dialect="{TOPIC_DIALECT}">tns1:RecordingHistory/Track/State</wsnt:Topic>'
        f'<wsnt:Message><tt:Message UtcTime="{xml_time(when)}"><tt:Source>'
        f'<tt:SimpleItem Name="RecordingToken" Value="Recording_{channel}"/><tt:SimpleItem Name="Track" Value="VIDEO001"/>'
        f'</tt:Source><tt:Data><tt:SimpleItem Name="IsDataPresent" Value="{str(present).lower()}"/></tt:Data>'
        f"</tt:Message></wsnt:Message></tt:Event><tt:StartStateEvent>{str(start_state).lower()}</tt:StartStateEvent>"
        "</tt:Result>")


def search_results(element: str, state: str, results: list[str]) -> str:
    return (f"<tse:{element}Response><tse:ResultList><tt:SearchState>{state}</tt:SearchState>"
            f"{''.join(results)}</tse:ResultList></tse:{element}Response>")


def notification(topic: str, when: datetime, source: tuple[str, str] | None, data: tuple[str, str],
                 operation: str = "Changed") -> str:
    """A wsnt:NotificationMessage; Monitoring topics (LastReboot, ...) carry no Source, as devices send them."""
    source_xml = (f'<tt:Source><tt:SimpleItem Name="{source[0]}" Value="{text(source[1])}"/></tt:Source>'
                  if source else "")
    return (
        f'<wsnt:NotificationMessage><wsnt:Topic Dialect="{TOPIC_DIALECT}">{topic}</wsnt:Topic>'
        f'<wsnt:Message><tt:Message UtcTime="{xml_time(when)}" PropertyOperation="{operation}">{source_xml}<tt:Data>'
        f'<tt:SimpleItem Name="{data[0]}" Value="{text(data[1])}"/></tt:Data></tt:Message></wsnt:Message>'
        "</wsnt:NotificationMessage>")


def pull_point(address: str, now: datetime, until: datetime) -> str:
    return (f"<tev:CreatePullPointSubscriptionResponse><tev:SubscriptionReference><wsa5:Address>{text(address)}"
            f"</wsa5:Address></tev:SubscriptionReference><wsnt:CurrentTime>{xml_time(now)}</wsnt:CurrentTime>"
            f"<wsnt:TerminationTime>{xml_time(until)}</wsnt:TerminationTime></tev:CreatePullPointSubscriptionResponse>")


def pull_messages(now: datetime, until: datetime, messages: list[str]) -> str:
    return (f"<tev:PullMessagesResponse><tev:CurrentTime>{xml_time(now)}</tev:CurrentTime>"
            f"<tev:TerminationTime>{xml_time(until)}</tev:TerminationTime>{''.join(messages)}</tev:PullMessagesResponse>")


def renew(now: datetime, until: datetime) -> str:
    return (f"<wsnt:RenewResponse><wsnt:TerminationTime>{xml_time(until)}</wsnt:TerminationTime>"
            f"<wsnt:CurrentTime>{xml_time(now)}</wsnt:CurrentTime></wsnt:RenewResponse>")


def service_capabilities(prefix: str, attributes: str) -> str:
    return (f"<{prefix}:GetServiceCapabilitiesResponse><{prefix}:Capabilities {attributes}/>"
            f"</{prefix}:GetServiceCapabilitiesResponse>")
