"""WS-Management SOAP envelopes: parse a request, build responses and faults.

Only what the WinRS shell operations need (docs/behaviour/protocols.md §1.2-§1.5).  Requests
are parsed by namespace, never by prefix, because prefixes are the client's choice.
Responses are built from small templates whose text and attributes are escaped here, so the
server never hands an unescaped client value back to a client.
"""

from __future__ import annotations

import re
import uuid
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from xml.sax.saxutils import escape, quoteattr

NS = {
    "s": "http://www.w3.org/2003/05/soap-envelope",
    "a": "http://schemas.xmlsoap.org/ws/2004/08/addressing",
    "x": "http://schemas.xmlsoap.org/ws/2004/09/transfer",
    "w": "http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd",
    "p": "http://schemas.microsoft.com/wbem/wsman/1/wsman.xsd",
    "rsp": "http://schemas.microsoft.com/wbem/wsman/1/windows/shell",
    "f": "http://schemas.microsoft.com/wbem/wsman/1/wsmanfault",
}

SHELL_URI = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell"
CMD_RESOURCE_URI = SHELL_URI + "/cmd"
TRANSFER = "http://schemas.xmlsoap.org/ws/2004/09/transfer"
FAULT_ACTION = "http://schemas.dmtf.org/wbem/wsman/1/wsman/fault"

# Action URIs by short name (docs/behaviour/protocols.md §1.3).
ACTIONS = {
    TRANSFER + "/Create": "Create",
    TRANSFER + "/Delete": "Delete",
    SHELL_URI + "/Command": "Command",
    SHELL_URI + "/Send": "Send",
    SHELL_URI + "/Receive": "Receive",
    SHELL_URI + "/Signal": "Signal",
}
RESPONSE_ACTIONS = {
    "Create": TRANSFER + "/CreateResponse",
    "Delete": TRANSFER + "/DeleteResponse",
    "Command": SHELL_URI + "/CommandResponse",
    "Send": SHELL_URI + "/SendResponse",
    "Receive": SHELL_URI + "/ReceiveResponse",
    "Signal": SHELL_URI + "/SignalResponse",
}
STATE_RUNNING = SHELL_URI + "/CommandState/Running"
STATE_DONE = SHELL_URI + "/CommandState/Done"

# WSManFault codes (docs/behaviour/protocols.md §1.5, §1.10 item 6).  The quota codes are the
# ones real hosts put in their faults (e.g. hashicorp/vagrant#7489 shows 2150859173 with
# "maximum number of N concurrent shells").
CODE_TIMED_OUT = 2150858793  # ERROR_WSMAN_OPERATION_TIMEDOUT
CODE_SHELL_NOT_FOUND = 2150858843  # 0x8033805B
CODE_MAX_SHELLS = 2150859173  # 0x803381A5, quota: shells per user
CODE_MAX_OPERATIONS = 2150859174  # 0x803381A6, quota: concurrent operations
CODE_INVALID_PARAMETER = 87  # ERROR_INVALID_PARAMETER, as WinRM reports bad selectors/ids
# ERROR_NO_DATA, "The pipe is being closed.": a Send to a command whose process has exited
# (Ansible's WinRM connection plugin, ansible/plugins/connection/winrm.py _winrm_exec,
# recovers from a failed stdin push by reading the command's output anyway).
CODE_NO_DATA = 232

DEFAULT_MAX_ENVELOPE = 153600
DEFAULT_OPERATION_TIMEOUT = 60.0  # seconds; WinRM's default when the header is absent


class WSManFault(Exception):
    """A fault to send back.  ``http_status`` is 500 for every WS-Man fault on real hosts.

    ``wmi_error=True`` puts the code in an ``MSFT_WmiError`` object instead of a
    ``WSManFault`` element, as WinRM reports its quota violations (pywinrm
    winrm/exceptions.py ``WSManFaultError``: "The wmierror_code can contain more fatal
    service error codes returned as a MSFT_WmiError object, for example quota violations";
    winrm/protocol.py reads ``s:Detail/MSFT_WmiError/error_Code``).
    """

    def __init__(self, reason: str, *, subcode: str, code: str = "s:Sender",
                 wsman_code: int | None = None, http_status: int = 500,
                 wmi_error: bool = False):
        super().__init__(reason)
        self.reason = reason
        self.subcode = subcode
        self.code = code
        self.wsman_code = wsman_code
        self.http_status = http_status
        self.wmi_error = wmi_error


def malformed(reason: str) -> WSManFault:
    return WSManFault(f"The simulated WS-Management service could not understand the request: "
                      f"{reason}", subcode="w:SchemaValidationError", http_status=400)


_DURATION = re.compile(
    r"^P(?:(?P<d>\d+)D)?(?:T(?:(?P<h>\d+)H)?(?:(?P<m>\d+)M)?(?:(?P<s>\d+(?:\.\d+)?)S)?)?$")


def parse_duration(text: str) -> float:
    """xs:duration (days, hours, minutes, decimal seconds) to seconds; ValueError otherwise."""
    m = _DURATION.match(text.strip())
    if not m or text.strip() in ("P", "PT") or text.strip().endswith("T"):
        raise ValueError(f"not an xs:duration: {text!r}")
    d, h, mi, s = (m.group(k) for k in "dhms")
    return (int(d or 0) * 86400 + int(h or 0) * 3600 + int(mi or 0) * 60 + float(s or 0))


@dataclass
class Request:
    """The parts of a WS-Man request the shell operations use."""

    action_uri: str
    message_id: str
    resource_uri: str | None
    selectors: dict[str, str]
    options: dict[str, str]
    must_comply: set[str]  # option names the client marked MustComply="true"
    max_envelope_size: int
    operation_timeout: float
    body: ET.Element
    raw: bytes = field(repr=False, default=b"")
    fault: str | None = None  # a kind injected by harness.sim.faults for this request

    @property
    def action(self) -> str | None:
        """Short name (``Create``...) or None for an action this server does not implement."""
        return ACTIONS.get(self.action_uri)


def _q(prefix: str, local: str) -> str:
    return f"{{{NS[prefix]}}}{local}"


def parse_request(data: bytes) -> Request:
    """Parse a SOAP 1.2 WS-Man request or raise :class:`WSManFault` (400, malformed)."""
    if not data.strip():
        raise malformed("the request body is empty")
    if b"<!DOCTYPE" in data or b"<!ENTITY" in data:
        # SOAP forbids DTDs (SOAP 1.2 part 1 §5); refusing them also rules out entity bombs.
        raise malformed("a SOAP message must not contain a document type declaration")
    try:
        root = ET.fromstring(data)
    except ET.ParseError as exc:
        raise malformed(f"not well-formed XML ({exc})") from None
    if root.tag != _q("s", "Envelope"):
        raise malformed(f"the root element is {root.tag}, not a SOAP 1.2 Envelope")
    header = root.find(_q("s", "Header"))
    body = root.find(_q("s", "Body"))
    if header is None or body is None:
        raise malformed("the Envelope needs both a Header and a Body")

    def text(prefix: str, local: str) -> str | None:
        el = header.find(_q(prefix, local))
        return None if el is None else (el.text or "").strip()

    action = text("a", "Action")
    if not action:
        raise malformed("the Header has no a:Action")
    message_id = text("a", "MessageID")
    if not message_id:
        raise malformed("the Header has no a:MessageID")

    selectors: dict[str, str] = {}
    sel_set = header.find(_q("w", "SelectorSet"))
    if sel_set is not None:
        for sel in sel_set.findall(_q("w", "Selector")):
            name = sel.get("Name")
            if not name:
                raise malformed("a w:Selector has no Name attribute")
            selectors[name] = (sel.text or "").strip()

    options: dict[str, str] = {}
    must_comply: set[str] = set()
    opt_set = header.find(_q("w", "OptionSet"))
    if opt_set is not None:
        for opt in opt_set.findall(_q("w", "Option")):
            name = opt.get("Name")
            if not name:
                raise malformed("a w:Option has no Name attribute")
            options[name] = (opt.text or "").strip()
            if (opt.get("MustComply") or "").lower() == "true":
                must_comply.add(name)

    max_env = DEFAULT_MAX_ENVELOPE
    env_text = text("w", "MaxEnvelopeSize")
    if env_text is not None:
        try:
            max_env = int(env_text)
        except ValueError:
            raise malformed(f"w:MaxEnvelopeSize {env_text!r} is not an integer") from None
        if max_env <= 0:
            raise malformed(f"w:MaxEnvelopeSize {max_env} is not positive")

    op_timeout = DEFAULT_OPERATION_TIMEOUT
    timeout_text = text("w", "OperationTimeout")
    if timeout_text is not None:
        try:
            op_timeout = parse_duration(timeout_text)
        except ValueError:
            raise malformed(f"w:OperationTimeout {timeout_text!r} is not an xs:duration") from None

    return Request(action_uri=action, message_id=message_id,
                   resource_uri=text("w", "ResourceURI"), selectors=selectors,
                   options=options, must_comply=must_comply, max_envelope_size=max_env,
                   operation_timeout=op_timeout, body=body, raw=data)


def best_effort_message_id(data: bytes) -> str | None:
    """The a:MessageID of a request that failed to parse fully, for RelatesTo in the fault."""
    m = re.search(rb"MessageID[^>]*>\s*([^<\s]{1,200})\s*<", data or b"")
    return m.group(1).decode("ascii", "replace") if m else None


# --- building responses -----------------------------------------------------------------

_ENVELOPE_OPEN = (
    '<s:Envelope xml:lang="en-US"'
    + "".join(f' xmlns:{p}="{u}"' for p, u in NS.items() if p != "f")
    + ">"
)


def envelope(action_uri: str, relates_to: str | None, body: str) -> bytes:
    """A complete response envelope; ``body`` is already-escaped XML for inside s:Body."""
    relates = f"<a:RelatesTo>{escape(relates_to)}</a:RelatesTo>" if relates_to else ""
    return (
        f"{_ENVELOPE_OPEN}<s:Header>"
        f"<a:Action>{escape(action_uri)}</a:Action>"
        f"<a:MessageID>uuid:{str(uuid.uuid4()).upper()}</a:MessageID>"
        f"<a:To>http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous</a:To>"
        f"{relates}</s:Header><s:Body>{body}</s:Body></s:Envelope>"
    ).encode()


MSFT_WMIERROR_NS = "http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/MSFT_WmiError"


def _wmi_error(fault: WSManFault) -> str:
    """``s:Detail`` holding an MSFT_WmiError (CIM_Error) with the HRESULT as error_Code."""
    text = escape(fault.reason)
    code = int(fault.wsman_code or 0)
    return (f'<s:Detail><p:MSFT_WmiError xmlns:p="{MSFT_WMIERROR_NS}" '
            f'xmlns:cim="http://schemas.dmtf.org/wbem/wscim/1/common" '
            f'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
            f'xsi:type="p:MSFT_WmiError_Type">'
            f'<p:CIMStatusCode xsi:type="cim:cimUnsignedInt">27</p:CIMStatusCode>'
            f'<p:Message xsi:type="cim:cimString">{text}</p:Message>'
            f'<p:MessageID xsi:type="cim:cimString">HRESULT 0x{code:08x}</p:MessageID>'
            f'<p:error_Category xsi:type="cim:cimUnsignedShort">30</p:error_Category>'
            f'<p:error_Code xsi:type="cim:cimUnsignedInt">{code}</p:error_Code>'
            f'<p:error_Type xsi:type="cim:cimString">HRESULT</p:error_Type>'
            f'<p:error_WindowsErrorMessage xsi:type="cim:cimString">{text}'
            f'</p:error_WindowsErrorMessage></p:MSFT_WmiError></s:Detail>')


def fault_envelope(fault: WSManFault, relates_to: str | None, machine: str) -> bytes:
    detail = ""
    if fault.wmi_error:
        detail = _wmi_error(fault)
    elif fault.wsman_code is not None:
        detail = (f'<s:Detail><f:WSManFault xmlns:f="{NS["f"]}" Code="{fault.wsman_code}" '
                  f"Machine={quoteattr(machine)}><f:Message>{escape(fault.reason)}"
                  f"</f:Message></f:WSManFault></s:Detail>")
    body = (f"<s:Fault><s:Code><s:Value>{escape(fault.code)}</s:Value>"
            f"<s:Subcode><s:Value>{escape(fault.subcode)}</s:Value></s:Subcode></s:Code>"
            f'<s:Reason><s:Text xml:lang="en-US">{escape(fault.reason)}</s:Text></s:Reason>'
            f"{detail}</s:Fault>")
    return envelope(FAULT_ACTION, relates_to, body)


def create_response(relates_to: str, address: str, shell_id: str, extra: str = "") -> bytes:
    body = (f"<x:ResourceCreated><a:Address>{escape(address)}</a:Address>"
            f"<a:ReferenceParameters><w:ResourceURI>{CMD_RESOURCE_URI}</w:ResourceURI>"
            f'<w:SelectorSet><w:Selector Name="ShellId">{escape(shell_id)}</w:Selector>'
            f"</w:SelectorSet></a:ReferenceParameters></x:ResourceCreated>{extra}")
    return envelope(RESPONSE_ACTIONS["Create"], relates_to, body)


def command_response(relates_to: str, command_id: str) -> bytes:
    body = (f"<rsp:CommandResponse><rsp:CommandId>{escape(command_id)}</rsp:CommandId>"
            f"</rsp:CommandResponse>")
    return envelope(RESPONSE_ACTIONS["Command"], relates_to, body)


def simple_response(action: str, relates_to: str) -> bytes:
    body = {"Send": "<rsp:SendResponse/>", "Signal": "<rsp:SignalResponse/>",
            "Delete": ""}[action]
    return envelope(RESPONSE_ACTIONS[action], relates_to, body)


def receive_response(relates_to: str, command_id: str, streams: list[tuple[str, str, bool]],
                     exit_code: int | None) -> bytes:
    """``streams``: (name, base64 text, end) in order; ``exit_code`` None means Running."""
    cid = quoteattr(command_id)
    parts = ["<rsp:ReceiveResponse>"]
    for name, b64, end in streams:
        attrs = f"Name={quoteattr(name)} CommandId={cid}" + (' End="true"' if end else "")
        parts.append(f"<rsp:Stream {attrs}>{b64}</rsp:Stream>" if b64
                     else f"<rsp:Stream {attrs}/>")
    if exit_code is None:
        parts.append(f'<rsp:CommandState CommandId={cid} State="{STATE_RUNNING}"/>')
    else:
        parts.append(f'<rsp:CommandState CommandId={cid} State="{STATE_DONE}">'
                     f"<rsp:ExitCode>{int(exit_code)}</rsp:ExitCode></rsp:CommandState>")
    parts.append("</rsp:ReceiveResponse>")
    return envelope(RESPONSE_ACTIONS["Receive"], relates_to, "".join(parts))


def q(prefix: str, local: str) -> str:
    """Clark-notation tag name, for finding elements in a parsed body."""
    return _q(prefix, local)
