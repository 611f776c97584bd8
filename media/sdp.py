"""SDP offers checked before aiortc sees them.

aiortc parses SDP with ``assert`` and bare ``int()`` calls and checks the DTLS fingerprint only once the handshake
runs, so a malformed offer surfaced as an ``AssertionError`` (a 500 / ``internal``) or as a peer answered and then
failed in the background. :func:`check_offer` refuses such offers with :class:`InvalidSdp` and a message that names
the line: size, UTF-8 text, the ``x=value`` line grammar, the DTLS fingerprint (present in every media section,
a supported hash, a digest of the right length, one value per hash), the setup role, the ICE credentials, the
direction and rtcp-mux of RTP sections, payload types 0–127,
well-formed ``a=candidate`` lines, and bounded media sections and candidates. Last, aiortc's own parser must
accept the text: anything it raises is a refusal too.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field

from aiortc.sdp import SessionDescription

from .errors import NegotiationFailed

__all__ = ["SdpLimits", "SdpOffer", "InvalidSdp", "check_offer"]


class InvalidSdp(NegotiationFailed):
    """An offer that is not acceptable SDP; the message says which line and why."""


@dataclass(frozen=True)
class SdpLimits:
    max_bytes: int = 48 * 1024
    # A browser offers 2-3 sections (audio, video, data); bundled, it lists a few candidates per interface.
    max_media_sections: int = 8
    max_candidates: int = 64


@dataclass(frozen=True)
class SdpOffer:
    """What the check learnt about an accepted offer."""

    text: str
    media_kinds: tuple[str, ...]
    candidates: int
    fingerprints: dict[str, str] = field(default_factory=dict)  # hash function -> digest (upper case)


# RFC 8122 §5 hash function names and their digest sizes; aiortc verifies only the SHA-2 ones below.
_DIGEST_BYTES = {"sha-1": 20, "sha-224": 28, "sha-256": 32, "sha-384": 48, "sha-512": 64, "md5": 16, "md2": 16}
_VERIFIED_HASHES = frozenset({"sha-256", "sha-384", "sha-512"})
_LINE = re.compile(r"^[a-z]=.*$", re.DOTALL)
# Control characters, and the separators str.splitlines() honours, would make aiortc split lines differently.
_FORBIDDEN_CHAR = re.compile("[\x00-\x08\x0a-\x1f\x7f\x85\u2028\u2029]")
_MEDIA = re.compile(r"^m=([a-z]+) ([0-9]{1,5})(?:/[0-9]+)? ([A-Z/]+) ([^ ].*)$")
_DIGEST = re.compile(r"^[0-9A-Fa-f]{2}(?::[0-9A-Fa-f]{2})*$")
_PT_ATTRIBUTES = ("rtpmap", "fmtp", "rtcp-fb")
_SETUP = frozenset({"actpass", "active", "passive"})
_FOUNDATION = re.compile(r"^[A-Za-z0-9+/]{1,32}$")
_ADDRESS = re.compile(r"^[A-Za-z0-9.:_-]{1,255}$")
_CANDIDATE_TYPES = frozenset({"host", "srflx", "prflx", "relay"})
_DIRECTIONS = frozenset({"sendrecv", "sendonly", "recvonly", "inactive"})
# What aiortc needs in each media section (at session level for the ICE credentials) or it fails to answer.
_REQUIRED = {"ice-ufrag": "an ICE user name", "ice-pwd": "an ICE password"}
_REQUIRED_RTP = {"direction": "a direction (sendrecv, sendonly, recvonly or inactive)", "rtcp-mux": "rtcp-mux"}
_INTEGER_ATTRIBUTES = {"ssrc": 0xFFFFFFFF, "sctp-port": 65535, "max-message-size": 2**53, "rtcp": 65535}


@dataclass
class _Section:
    index: int  # 0 = session level, then 1.. for each m= line
    kind: str = ""
    rtp: bool = False
    formats: tuple[str, ...] = ()
    fingerprints: dict[str, str] = field(default_factory=dict)
    setup: str | None = None
    rtpmap: set[int] = field(default_factory=set)
    fmtp: list[int] = field(default_factory=list)
    flags: set[str] = field(default_factory=set)  # present attributes among _REQUIRED

    def where(self) -> str:
        return "at session level" if self.index == 0 else f"in media section {self.index} ({self.kind})"


def check_offer(sdp: object, limits: SdpLimits = SdpLimits()) -> SdpOffer:
    """Return what the offer holds, or raise :class:`InvalidSdp` saying what is wrong with it."""
    text = _text(sdp, limits)
    sections: list[_Section] = [_Section(0)]
    candidates = 0
    for number, line in _lines(text):
        if line.startswith("m="):
            sections.append(_media_line(number, line, len(sections)))
            if len(sections) - 1 > limits.max_media_sections:
                raise InvalidSdp(f"the offer has more than {limits.max_media_sections} media sections")
        elif line.startswith("a=") and _attribute(number, line, sections[-1]):  # True for a candidate
            candidates += 1
            if candidates > limits.max_candidates:
                raise InvalidSdp(f"the offer has more than {limits.max_candidates} ICE candidates")
    media = sections[1:]
    if not any(section.kind in ("audio", "video") for section in media):
        raise InvalidSdp("the offer has no audio or video")
    fingerprints = _check_transport(sections[0], media)
    _parse_like_aiortc(text)
    return SdpOffer(text, tuple(section.kind for section in media), candidates, fingerprints)


def _text(sdp: object, limits: SdpLimits) -> str:
    if not isinstance(sdp, str):
        raise InvalidSdp("the SDP offer must be text")
    try:
        size = len(sdp.encode("utf-8"))
    except UnicodeEncodeError as exc:
        raise InvalidSdp("the SDP offer is not valid UTF-8 text") from exc
    if size > limits.max_bytes:
        raise InvalidSdp(f"the SDP offer is larger than {limits.max_bytes} bytes")
    if not sdp.startswith("v=0\r\n") and not sdp.startswith("v=0\n"):
        raise InvalidSdp("an SDP offer starts with the line v=0")
    return sdp


def _lines(text: str) -> Iterator[tuple[int, str]]:
    lines = text.split("\n")
    if lines[-1] == "":
        lines.pop()  # the final line ending
    for number, raw in enumerate(lines, start=1):
        line = raw.removesuffix("\r")
        if not _LINE.match(line):
            raise InvalidSdp(f"SDP line {number} is not of the form x=value")
        if _FORBIDDEN_CHAR.search(line):
            raise InvalidSdp(f"SDP line {number} holds a control character")
        yield number, line


def _media_line(number: int, line: str, index: int) -> _Section:
    match = _MEDIA.match(line)
    if match is None:
        raise InvalidSdp(f"SDP line {number} is not a valid m= line")
    kind, port, proto, formats = match.groups()
    if int(port) > 65535:
        raise InvalidSdp(f"SDP line {number}: port {port} is out of range")
    section = _Section(index, kind, "RTP" in proto, tuple(formats.split()))
    if section.rtp:
        for value in section.formats:
            _payload_type(number, value)
    return section


def _payload_type(number: int, value: str) -> int:
    if not value.isdigit() or len(value) > 3 or int(value) > 127:
        raise InvalidSdp(f"SDP line {number}: payload type {value[:12]!r} is not a number from 0 to 127")
    return int(value)


def _attribute(number: int, line: str, section: _Section) -> bool:
    """Check one a= line against ``section``; True when it is an ICE candidate."""
    name, _, value = line[2:].partition(":")
    if name == "candidate":
        _candidate(number, value)
        return True
    if name in _DIRECTIONS:
        section.flags.add("direction")
    elif name in _REQUIRED or name == "rtcp-mux":
        if name != "rtcp-mux" and not value:
            raise InvalidSdp(f"SDP line {number}: {name} is empty")
        section.flags.add(name)
    elif name == "fingerprint":
        _fingerprint(number, value, section)
    elif name == "setup":
        if value not in _SETUP:
            raise InvalidSdp(f"SDP line {number}: setup must be actpass, active or passive")
        section.setup = value
    elif name in _PT_ATTRIBUTES:
        _payload_attribute(number, name, value, section)
    elif name in _INTEGER_ATTRIBUTES:
        head = value.split(" ", 1)[0]
        if not head.isdigit() or len(head) > 16 or int(head) > _INTEGER_ATTRIBUTES[name]:
            raise InvalidSdp(f"SDP line {number}: {name} needs a number in range")
    elif name == "extmap":
        ext_id = value.split(" ", 1)[0].split("/", 1)[0]
        if not ext_id.isdigit() or len(ext_id) > 3 or len(value.split()) < 2:
            raise InvalidSdp(f"SDP line {number}: extmap needs a numeric id and a URI")
    return False


def _payload_attribute(number: int, name: str, value: str, section: _Section) -> None:
    if section.index == 0:
        raise InvalidSdp(f"SDP line {number}: {name} belongs in a media section")
    head, _, rest = value.partition(" ")
    if name == "rtcp-fb" and head == "*":
        return
    payload_type = _payload_type(number, head)
    if name == "rtpmap":
        encoding = rest.split("/")
        if len(encoding) < 2 or not encoding[0] or not encoding[1].isdigit() or len(encoding[1]) > 9:
            raise InvalidSdp(f"SDP line {number}: rtpmap must be <payload type> <codec>/<clock rate>")
        if len(encoding) > 2 and not encoding[2].isdigit():
            raise InvalidSdp(f"SDP line {number}: rtpmap channels must be a number")
        section.rtpmap.add(payload_type)
    elif name == "fmtp":
        if not rest:
            raise InvalidSdp(f"SDP line {number}: fmtp needs parameters")
        section.fmtp.append(payload_type)


def _fingerprint(number: int, value: str, section: _Section) -> None:
    parts = value.split(" ")
    if len(parts) != 2:
        raise InvalidSdp(f"SDP line {number}: a fingerprint is <hash function> <digest>")
    algorithm, digest = parts[0].lower(), parts[1].upper()
    size = _DIGEST_BYTES.get(algorithm)
    if size is None:
        raise InvalidSdp(f"SDP line {number}: unknown fingerprint hash function {parts[0][:20]!r}")
    if not _DIGEST.match(digest) or len(digest) != 3 * size - 1:
        raise InvalidSdp(f"SDP line {number}: the {algorithm} fingerprint is not {size} hexadecimal bytes")
    known = section.fingerprints.get(algorithm)
    if known is not None and known != digest:
        raise InvalidSdp(f"SDP line {number}: two different {algorithm} fingerprints {section.where()}")
    section.fingerprints[algorithm] = digest


def _candidate(number: int, value: str) -> None:
    bits = value.split(" ")
    problem = _candidate_problem(bits)
    if problem:
        raise InvalidSdp(f"SDP line {number}: malformed ICE candidate ({problem})")


def _candidate_problem(bits: list[str]) -> str | None:
    if len(bits) < 8 or bits[6] != "typ":
        return "expected: foundation component transport priority address port typ type"
    foundation, component, transport, priority, address, port, _, kind = bits[:8]
    checks = [
        (_FOUNDATION.match(foundation) is not None, "foundation"),
        (component.isdigit() and 1 <= len(component) <= 3 and 1 <= int(component) <= 256, "component"),
        (transport.lower() in ("udp", "tcp"), "transport"),
        (priority.isdigit() and len(priority) <= 10 and int(priority) <= 0xFFFFFFFF, "priority"),
        (_ADDRESS.match(address) is not None, "address"),
        (_is_port(port), "port"),
        (kind in _CANDIDATE_TYPES, "type"),
        (len(bits) % 2 == 0, "extension attributes come in name value pairs"),
    ]
    for ok, what in checks:
        if not ok:
            return what
    extensions = dict(zip(bits[8::2], bits[9::2], strict=True))
    if "rport" in extensions and not _is_port(extensions["rport"]):
        return "rport"
    if "raddr" in extensions and not _ADDRESS.match(extensions["raddr"]):
        return "raddr"
    return None


def _is_port(value: str) -> bool:
    return value.isdigit() and len(value) <= 5 and int(value) <= 65535


def _check_transport(session: _Section, media: list[_Section]) -> dict[str, str]:
    """Every media section has a fingerprint aiortc can verify and a setup role; one digest per hash function."""
    everything: dict[str, str] = dict(session.fingerprints)
    for section in media:
        for pt in section.fmtp:
            if section.rtp and pt not in section.rtpmap:
                raise InvalidSdp(f"fmtp for payload type {pt} has no rtpmap {section.where()}")
        fingerprints = section.fingerprints or session.fingerprints
        if not fingerprints:
            raise InvalidSdp(f"the offer has no a=fingerprint {section.where()}: DTLS cannot be checked")
        if not _VERIFIED_HASHES & set(fingerprints):
            raise InvalidSdp(f"no sha-256, sha-384 or sha-512 fingerprint {section.where()}")
        if (section.setup or session.setup) is None:
            raise InvalidSdp(f"the offer has no a=setup {section.where()}")
        required = {**_REQUIRED, **(_REQUIRED_RTP if section.rtp else {})}
        for flag, what in required.items():
            if flag not in section.flags | (session.flags & set(_REQUIRED)):
                raise InvalidSdp(f"the offer lacks {what} {section.where()}")
        for algorithm, digest in section.fingerprints.items():
            if everything.setdefault(algorithm, digest) != digest:
                raise InvalidSdp(f"the offer holds two different {algorithm} fingerprints")
    return everything


def _parse_like_aiortc(text: str) -> None:
    try:
        SessionDescription.parse(text)
    except Exception as exc:  # aiortc's parser asserts and int()s: any failure is a malformed offer
        raise InvalidSdp(f"the SDP offer is malformed ({type(exc).__name__})") from exc
