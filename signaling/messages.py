"""Validation of client events: shape, types and sizes, checked once at the edge before anything else runs."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from .errors import InvalidMessage

__all__ = ["Limits", "JoinMessage", "SignalMessage", "RelayMessage", "parse_join", "parse_signal", "parse_admit",
           "parse_chat", "parse_relay", "check_size", "check_structure", "MAX_NESTING", "empty"]

_ID_CHARS = frozenset("0123456789abcdef")
_SDP_TYPES = frozenset({"offer", "answer", "rollback", "pranswer"})
# The deepest event (a signal's candidate) nests four levels; anything past this is not one of ours.
MAX_NESTING = 32


@dataclass(frozen=True)
class Limits:
    """Size and rate limits for signaling events (documented in docs/protocol.md)."""

    max_event_bytes: int = 96 * 1024
    max_sdp_bytes: int = 48 * 1024
    max_candidate_bytes: int = 1024
    max_chat_chars: int = 2000
    signal_events_per_s: int = 50
    # Engine.IO connections per client address (a page reconnecting after a network change uses one each).
    connects_per_s: float = 5.0
    connect_burst: int = 60


@dataclass(frozen=True)
class JoinMessage:
    consultation_id: str | None
    instance: str


@dataclass(frozen=True)
class SignalMessage:
    to: str
    data: dict[str, Any]


@dataclass(frozen=True)
class RelayMessage:
    peer: str  # the other participant of the relayed pair
    sdp: str  # an SDP offer


def check_size(payload: Any, limits: Limits) -> None:
    """Reject a payload whose JSON encoding is larger than the event limit (or that is not JSON at all)."""
    try:
        size = len(json.dumps(payload, separators=(",", ":")))
    except (TypeError, ValueError, RecursionError) as exc:
        raise InvalidMessage("payload is not plain JSON") from exc
    if size > limits.max_event_bytes:
        raise InvalidMessage(f"payload is larger than {limits.max_event_bytes} bytes")


def check_structure(payload: Any, field: str = "payload") -> None:
    """Refuse nesting deeper than :data:`MAX_NESTING` and text that is not valid Unicode (a lone UTF-16
    surrogate such as the JSON escape ``\\udcff`` cannot be stored, encoded or shown), naming the field.

    Iterative, so a hostile depth costs no recursion."""
    stack: list[tuple[Any, str, int]] = [(payload, field, 0)]
    while stack:
        value, path, depth = stack.pop()
        if isinstance(value, str):
            _check_text(value, path)
        elif isinstance(value, (dict, list)):
            if depth >= MAX_NESTING:
                top = path.partition("[")[0].partition(".")[0]  # a path 32 levels long says nothing more
                raise InvalidMessage(f"{top} is nested more than {MAX_NESTING} levels deep")
            items = value.items() if isinstance(value, dict) else enumerate(value)
            for key, item in items:
                if isinstance(key, str):
                    _check_text(key, f"a field name in {path}")
                stack.append((item, _child(path, key), depth + 1))


def _child(path: str, key: object) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    name = str(key)[:40]  # the client chose it: bounded before it goes into a message
    return name if path == "payload" else f"{path}.{name}"


def _check_text(value: str, path: str) -> None:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidMessage(f"{path} must be valid Unicode text (it holds a lone UTF-16 surrogate)") from None


def _object(payload: Any, allowed: frozenset[str]) -> dict[str, Any]:
    if payload is None:
        payload = {}
    if not isinstance(payload, dict):
        raise InvalidMessage("payload must be an object")
    unknown = set(payload) - allowed
    if unknown:
        raise InvalidMessage(f"unexpected field {sorted(unknown)[0]!r}")
    return payload


def _participant_id(value: Any, field: str) -> str:
    if not isinstance(value, str) or len(value) != 32 or not set(value) <= _ID_CHARS:
        raise InvalidMessage(f"{field} must be a participant id")
    return value


def empty(payload: Any) -> None:
    _object(payload, frozenset())


def parse_join(payload: Any) -> JoinMessage:
    data = _object(payload, frozenset({"consultation", "instance"}))
    consultation = data.get("consultation")
    if consultation is not None:
        consultation = _participant_id(consultation, "consultation")
    instance = data.get("instance", "")
    if not isinstance(instance, str) or len(instance) > 64 or not instance.isprintable():
        raise InvalidMessage("instance must be a short printable string")
    return JoinMessage(consultation, instance)


def parse_admit(payload: Any) -> str:
    data = _object(payload, frozenset({"participant"}))
    return _participant_id(data.get("participant"), "participant")


def parse_chat(payload: Any, limits: Limits) -> str:
    data = _object(payload, frozenset({"text"}))
    text = data.get("text")
    if not isinstance(text, str) or not text.strip():
        raise InvalidMessage("text must be a non-empty string")
    if len(text) > limits.max_chat_chars:
        raise InvalidMessage(f"text is limited to {limits.max_chat_chars} characters")
    return text


def parse_relay(payload: Any, limits: Limits) -> RelayMessage:
    """``{peer: participant id, sdp: offer}`` for ``relay-publish`` / ``relay-subscribe``."""
    data = _object(payload, frozenset({"peer", "sdp"}))
    peer = _participant_id(data.get("peer"), "peer")
    sdp = data.get("sdp")
    if not isinstance(sdp, str) or not sdp.startswith("v=0"):
        raise InvalidMessage("sdp must be an SDP offer")
    if len(sdp.encode()) > limits.max_sdp_bytes:
        raise InvalidMessage(f"SDP is larger than {limits.max_sdp_bytes} bytes")
    return RelayMessage(peer, sdp)


def parse_signal(payload: Any, limits: Limits) -> SignalMessage:
    data = _object(payload, frozenset({"to", "data"}))
    to = _participant_id(data.get("to"), "to")
    body = data.get("data")
    if not isinstance(body, dict) or len(body) != 1:
        raise InvalidMessage("data must hold exactly one of description, candidate, restartRequest, media")
    (kind, value), = body.items()
    if kind == "description":
        return SignalMessage(to, {"description": _description(value, limits)})
    if kind == "candidate":
        return SignalMessage(to, {"candidate": _candidate(value, limits)})
    if kind == "restartRequest" and value is True:
        return SignalMessage(to, {"restartRequest": True})
    if kind == "media":
        return SignalMessage(to, {"media": _media_state(value)})
    raise InvalidMessage("data must hold exactly one of description, candidate, restartRequest, media")


def _media_state(value: Any) -> dict[str, bool]:
    """``{audio, video}``: whether the sender's microphone and camera are on, for the other side to show."""
    if not isinstance(value, dict) or set(value) != {"audio", "video"} \
            or not all(isinstance(flag, bool) for flag in value.values()):
        raise InvalidMessage("media must be {audio: true or false, video: true or false}")
    return {"audio": value["audio"], "video": value["video"]}


def _description(value: Any, limits: Limits) -> dict[str, str]:
    if not isinstance(value, dict) or set(value) - {"type", "sdp"}:
        raise InvalidMessage("description must be {type, sdp}")
    kind, sdp = value.get("type"), value.get("sdp", "")
    if kind not in _SDP_TYPES:
        raise InvalidMessage("description.type must be offer, answer, pranswer or rollback")
    if not isinstance(sdp, str):
        raise InvalidMessage("description.sdp must be text")
    if len(sdp.encode()) > limits.max_sdp_bytes:
        raise InvalidMessage(f"SDP is larger than {limits.max_sdp_bytes} bytes")
    if kind != "rollback" and not sdp.startswith("v=0"):
        raise InvalidMessage("description.sdp is not an SDP body")
    return {"type": kind, "sdp": sdp}


def _candidate(value: Any, limits: Limits) -> dict[str, Any] | None:
    if value is None:  # end-of-candidates
        return None
    if not isinstance(value, dict) or set(value) - {"candidate", "sdpMid", "sdpMLineIndex", "usernameFragment"}:
        raise InvalidMessage("candidate must be an RTCIceCandidateInit object")
    line = value.get("candidate", "")
    if not isinstance(line, str) or len(line) > limits.max_candidate_bytes:
        raise InvalidMessage(f"candidate line must be text of at most {limits.max_candidate_bytes} bytes")
    if line and not line.startswith("candidate:"):
        raise InvalidMessage("candidate line must start with 'candidate:'")
    mid, index, ufrag = value.get("sdpMid"), value.get("sdpMLineIndex"), value.get("usernameFragment")
    if mid is not None and (not isinstance(mid, str) or len(mid) > 32):
        raise InvalidMessage("sdpMid must be a short string")
    if index is not None and (not isinstance(index, int) or isinstance(index, bool) or not 0 <= index < 64):
        raise InvalidMessage("sdpMLineIndex must be a small integer")
    if ufrag is not None and (not isinstance(ufrag, str) or len(ufrag) > 256):
        raise InvalidMessage("usernameFragment must be a short string")
    return {"candidate": line, "sdpMid": mid, "sdpMLineIndex": index, "usernameFragment": ufrag}
