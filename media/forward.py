"""Encoded-frame forwarding: one publisher's VP8 video passed to any number of subscribers without decoding or
re-encoding it on the server (about 4–5 % of a core per stream instead of about 40 % for ``LiveSource``'s
transcoding relay; docs/research performance-baselines §1–2).

How it works (aiortc has no public API for this, so it uses private internals, checked at attach time):

* Receive side. ``RTCRtpReceiver._handle_rtp_packet`` depayloads each RTP packet and calls
  ``self.__jitter_buffer.add(packet)``; a complete encoded frame comes back as a ``JitterFrame`` and is queued to
  the receiver's decoder thread. :class:`ForwardingSource` replaces ``add`` on *that receiver's* jitter-buffer
  instance only (an instance attribute shadowing the class method; nothing module-global is patched). The wrapper
  calls the original ``add``, hands any complete frame to the source on the event loop (the receiver calls ``add``
  from the loop), and returns ``(pli_flag, None)``, so the decoder thread never sees a frame and never decodes.
  NACK, RTCP receiver reports and REMB towards the publisher keep working: they happen before ``add``.
* Send side (public behaviour). ``RTCRtpSender`` only re-packetizes when its track returns an ``av.Packet``
  instead of an ``av.Frame`` (``Vp8Encoder.pack``). Each subscriber gets a :class:`ForwardTrack` whose ``recv()``
  returns ``av.Packet`` with ``pts`` = the publisher's (unwrapped) RTP timestamp and ``time_base`` = 1/90000.
* Keyframes. A new subscriber receives nothing until a VP8 keyframe (``data[0] & 1 == 0``) and asks the publisher
  for one with an RTCP PLI (``RTCRtpReceiver._send_rtcp_pli``, private), again at every inter frame it skips
  while waiting (rate limited: browsers ignore a PLI that arrives within 300 ms of their previous keyframe).
  When a subscriber's queue overflows the
  queued frames are dropped and it waits for the next keyframe again (dropping single inter frames would corrupt
  its picture until the next keyframe). Keyframe requests from a subscriber (its PLI/FIR reach
  ``RTCRtpSender._send_keyframe``, private) are re-pointed upstream. All upstream PLIs are rate limited (one per
  ``pli_interval_s``; a request inside the interval is sent at its end, not lost).

Negotiation: both legs must negotiate VP8. aiortc offers and prefers VP8 first for video, so two aiortc peers
(and browsers answering an aiortc offer, or offering VP8 first as Chrome and Firefox do) pick it; a client that
prefers H264 must be steered with ``RTCRtpTransceiver.setCodecPreferences``. A non-VP8 publisher is refused frame by
frame (logged once, counted in ``frames_rejected``); the subscriber leg's codec is not checked here.

Still capture: the server no longer has decoded frames for a forwarded publisher. A source built with
``history=HistoryLimits()`` keeps the encoded frames since the last keyframe (bounded, ``media/history.py``) and
:meth:`ForwardingSource.newest_frame` decodes them at once in a worker thread, up to the newest frame received;
without a history (or before the first keyframe) it decodes from the next keyframe, asked for with a PLI.
:meth:`ForwardingSource.decoded` returns a track that decodes the forwarded packets (from a keyframe, in a worker
thread) only while it is consumed; stop that track when done.

Audio: an Opus receiver is forwarded the same way (every Opus frame stands alone, so there is no keyframe
gating and no PLI; ``OpusEncoder.pack`` re-packetizes with the timestamp from ``pts`` at 1/48000). aiortc's audio
jitter buffer holds four packets before releasing one (``prefetch=4``), so each relay hop adds about 80 ms.

Limits: frame-level (not packet-level) forwarding, so each hop keeps aiortc's one-frame jitter-buffer delay; no
per-subscriber bitrate adaptation (the subscriber's REMB only reaches the unused encoder).
"""

from __future__ import annotations

import asyncio
import contextlib
import fractions
import gc
import inspect
import logging
import sys
import time
from collections.abc import Callable
from typing import Any

import aiortc
import av
from aiortc import MediaStreamTrack, RTCPeerConnection, RTCRtpReceiver, RTCRtpSender
from aiortc.codecs.vpx import Vp8Encoder
from aiortc.jitterbuffer import JitterBuffer
from aiortc.mediastreams import MediaStreamError
from av.stream import Stream

from .capture import LatestFrame, decode_newest
from .errors import MediaError
from .history import HistoryLimits, SinceKeyframe

__all__ = ["ForwardingSource", "ForwardTrack", "check_aiortc_internals", "TESTED_AIORTC_VERSIONS", "FORWARDED_CODECS"]

logger = logging.getLogger(__name__)

# The private names below were read from aiortc 1.16.0; tests/media/test_forward.py exercises them end to end.
TESTED_AIORTC_VERSIONS = ("1.16.0",)
_JITTER_BUFFER = "_RTCRtpReceiver__jitter_buffer"
_CODECS = "_RTCRtpReceiver__codecs"
_HOOK_MARK = "_lucarne_forwarding_source"
VIDEO_TIME_BASE = fractions.Fraction(1, 90000)
AUDIO_TIME_BASE = fractions.Fraction(1, 48000)
# The codec each kind must arrive in to be forwarded, and the RTP clock of its timestamps.
FORWARDED_CODECS = {"video": "video/vp8", "audio": "audio/opus"}
_TIME_BASES = {"video": VIDEO_TIME_BASE, "audio": AUDIO_TIME_BASE}


def _internals_problem() -> str | None:
    """What is missing from the installed aiortc for the forwarding hook, or None when everything is there."""
    required: list[tuple[type, str]] = [
        (RTCRtpReceiver, "_handle_rtp_packet"),
        (RTCRtpReceiver, "_send_rtcp_pli"),
        (RTCRtpSender, "_send_keyframe"),
        (RTCRtpSender, "_next_encoded_frame"),
        (JitterBuffer, "add"),
        (Vp8Encoder, "pack"),
    ]
    missing = [f"{owner.__name__}.{name}" for owner, name in required if not callable(getattr(owner, name, None))]
    if missing:
        return "missing " + ", ".join(missing)
    # The hook only works while the receiver still calls its jitter buffer's add() and the sender still packs
    # av.Packet objects; check the call sites too, so a refactor fails here instead of silently decoding again.
    checks: list[tuple[Callable[..., Any], str]] = [
        (RTCRtpReceiver._handle_rtp_packet, "self.__jitter_buffer.add("),
        (RTCRtpSender._next_encoded_frame, ".pack("),
    ]
    for function, needle in checks:
        try:
            source = inspect.getsource(function)
        except (OSError, TypeError):
            continue  # no source shipped: rely on the attribute checks and the end-to-end test
        if needle not in source:
            return f"{function.__qualname__} no longer contains {needle!r}"
    return None


_PROBLEM_AT_IMPORT = _internals_problem()


def check_aiortc_internals(receiver: RTCRtpReceiver | None = None) -> None:
    """Raise :class:`MediaError` naming the aiortc version if the private API the hook relies on is not there."""
    problem = _PROBLEM_AT_IMPORT
    if problem is None and receiver is not None:
        jitter_buffer = getattr(receiver, _JITTER_BUFFER, None)
        if not isinstance(jitter_buffer, JitterBuffer):
            problem = f"RTCRtpReceiver has no {_JITTER_BUFFER} JitterBuffer"
        elif not isinstance(getattr(receiver, _CODECS, None), dict):
            problem = f"RTCRtpReceiver has no {_CODECS} dict"
    if problem is not None:
        raise MediaError(
            f"encoded-frame forwarding does not support aiortc {aiortc.__version__} (tested with "
            f"{', '.join(TESTED_AIORTC_VERSIONS)}): {problem}"
        )


def is_vp8_keyframe(data: bytes) -> bool:
    # VP8 frame tag, RFC 6386 §9.1: bit 0 of the first byte is 0 for a key frame.
    return len(data) > 0 and data[0] & 1 == 0


class ForwardTrack(MediaStreamTrack):
    """One subscriber's view of a :class:`ForwardingSource`: ``recv()`` returns encoded ``av.Packet`` objects."""

    kind = "video"

    def __init__(self, source: ForwardingSource, queue_size: int) -> None:
        super().__init__()
        self.kind = source.kind
        self._source = source
        self._queue: asyncio.Queue[av.Packet[Stream] | None] = asyncio.Queue(maxsize=queue_size)
        self._waiting_for_keyframe = True
        self._bind_tried = False
        self.sender: RTCRtpSender | None = None
        self.frames_queued = 0
        self.frames_dropped = 0

    def _offer(self, packet: av.Packet[Stream], keyframe: bool) -> None:
        if self.readyState != "live":
            return
        if self._waiting_for_keyframe:
            if not keyframe:
                # Keep asking while waiting (rate limited by the source): a publisher may ignore a request that
                # comes too soon after its last keyframe (libwebrtc drops PLIs within 300 ms of one), and the
                # subscriber, which has received nothing yet, does not ask by itself.
                self._source.request_keyframe()
                return
            self._waiting_for_keyframe = False
        if self._queue.full():
            # A slow subscriber: drop what it has queued (the oldest frames) and restart it at a keyframe,
            # since VP8 inter frames are useless without the frames they reference.
            while not self._queue.empty():
                self._queue.get_nowait()
                self.frames_dropped += 1
            if not keyframe:
                self.frames_dropped += 1
                self._waiting_for_keyframe = True
                self._source.request_keyframe()
                return
        self._queue.put_nowait(packet)
        self.frames_queued += 1

    def bind_sender(self, sender: RTCRtpSender) -> None:
        """Forward the keyframe requests ``sender`` receives from its subscriber to the publisher."""
        self.sender = sender
        sender._send_keyframe = self._source.request_keyframe  # type: ignore[method-assign]

    def _bind_caller(self) -> None:
        # recv() is awaited by RTCRtpSender._next_encoded_frame when the track was given to addTrack(); find that
        # sender so its PLI/FIR handling can be re-pointed upstream (bind_sender() does it explicitly).
        self._bind_tried = True
        caller = sys._getframe(2)  # 0 = here, 1 = recv, 2 = whoever awaited recv
        owner = caller.f_locals.get("self")
        if isinstance(owner, RTCRtpSender) and owner.track is self:
            self.bind_sender(owner)
        else:
            logger.debug("forward track %s is not read by an RTCRtpSender: its keyframe requests stay local", self.id)

    async def recv(self) -> av.Packet[Stream]:
        if self.readyState != "live":
            raise MediaStreamError
        if not self._bind_tried:
            self._bind_caller()
        packet = await self._queue.get()
        if packet is None:
            raise MediaStreamError
        return packet

    def stop(self) -> None:
        if self.readyState == "live":
            self._source._unsubscribe(self)
            while not self._queue.empty():
                self._queue.get_nowait()
            self._queue.put_nowait(None)  # wake a pending recv()
        super().stop()


class _DecodedTrack(MediaStreamTrack):
    """Decodes a :class:`ForwardTrack` (for still capture): ``recv()`` returns ``av.VideoFrame``."""

    kind = "video"

    def __init__(self, packets: ForwardTrack) -> None:
        super().__init__()
        self._packets = packets
        self._decoder = av.CodecContext.create("vp8", "r")

    async def recv(self) -> av.VideoFrame:
        while True:
            if self.readyState != "live":
                raise MediaStreamError
            try:
                packet = await self._packets.recv()
            except MediaStreamError:
                self.stop()
                raise
            try:
                frames = await asyncio.to_thread(self._decoder.decode, packet)
            except av.FFmpegError as exc:
                logger.warning("forwarded VP8 frame failed to decode: %s", exc)
                self._packets._source.request_keyframe()
                continue
            if frames:
                frame = frames[-1]
                frame.pts, frame.time_base = packet.pts, packet.time_base
                return frame

    def stop(self) -> None:
        self._packets.stop()
        super().stop()


class ForwardingSource:
    """One publisher's received VP8 video (or Opus audio), forwarded encoded to every subscriber.

    Build it with the publisher's ``RTCRtpReceiver`` (or :meth:`from_peer` / :meth:`from_track`) from inside the
    event loop, as soon as the track arrives (``pc.on("track")`` / the ``PeerRegistry`` track handler), before
    media flows; frames that reached the decoder before that are simply not forwarded.
    """

    def __init__(self, receiver: RTCRtpReceiver, *, queue_size: int = 16, pli_interval_s: float = 0.3,
                 history: HistoryLimits | None = None) -> None:
        check_aiortc_internals(receiver)
        if aiortc.__version__ not in TESTED_AIORTC_VERSIONS:
            logger.warning("encoded-frame forwarding not tested with aiortc %s", aiortc.__version__)
        track = receiver.track
        if track is None or track.kind not in FORWARDED_CODECS:
            raise MediaError("only an audio or video receiver can be forwarded")
        jitter_buffer = getattr(receiver, _JITTER_BUFFER)
        if getattr(jitter_buffer, _HOOK_MARK, None) is not None:
            raise MediaError("this receiver is already forwarded")
        if queue_size < 2:
            raise MediaError("queue_size must be at least 2")
        self.receiver = receiver
        self.track = track
        self.kind: str = track.kind
        self._time_base = _TIME_BASES[track.kind]
        self._queue_size = queue_size
        self._pli_interval_s = pli_interval_s
        self._subscribers: set[ForwardTrack] = set()
        # Video frames since the last keyframe, for captures without waiting (None: not kept, nothing to copy).
        self.history = SinceKeyframe(history) if history is not None and self.kind == "video" else None
        self._jitter_buffer = jitter_buffer
        self._original_add: Callable[[Any], tuple[bool, Any]] = jitter_buffer.add
        self._codec_ok: dict[int, bool] = {}
        self._ssrc: int | None = None
        self._last_rtp: int | None = None
        self._pts = 0
        self._last_pli = -float("inf")
        self._pli_timer: asyncio.TimerHandle | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._loop = asyncio.get_running_loop()
        self.frames_forwarded = 0
        self.keyframes_forwarded = 0
        self.frames_rejected = 0
        self.decoded_frames = 0  # frames the receiver's own decoder produced after attach: 0 while the hook works
        self.plis_sent = 0
        self.ended = asyncio.Event()
        jitter_buffer.add = self._hooked_add
        setattr(jitter_buffer, _HOOK_MARK, self)
        self._watch_task = asyncio.create_task(self._watch_receiver_track())

    @classmethod
    def from_peer(cls, pc: RTCPeerConnection, track: MediaStreamTrack, **options: Any) -> ForwardingSource:
        """The source for ``track``, a video track ``pc`` receives."""
        for receiver in pc.getReceivers():
            if receiver.track is track:
                return cls(receiver, **options)
        raise MediaError("the track is not received by this peer connection")

    @classmethod
    def from_track(cls, track: MediaStreamTrack, **options: Any) -> ForwardingSource:
        """The source for a received ``track`` when only the track is at hand (``PeerRegistry``'s track handler).

        aiortc tracks do not reference their receiver, so the receiver is found among the track's referrers
        (a one-off scan of the garbage collector's objects; prefer the constructor or :meth:`from_peer`).
        """
        for referrer in gc.get_referrers(track):
            if isinstance(referrer, RTCRtpReceiver) and referrer.track is track:
                return cls(referrer, **options)
            if isinstance(referrer, dict):  # Python versions that expose the instance __dict__ instead
                for owner in gc.get_referrers(referrer):
                    if isinstance(owner, RTCRtpReceiver) and owner.track is track:
                        return cls(owner, **options)
        raise MediaError("no RTCRtpReceiver holds this track")

    # -- receive side -------------------------------------------------------------------------------------

    def _hooked_add(self, packet: Any) -> tuple[bool, Any]:
        pli_flag, frame = self._original_add(packet)
        if frame is None:
            return pli_flag, None
        payload_type = packet.payload_type
        ok = self._codec_ok.get(payload_type)
        if ok is None:
            codec = getattr(self.receiver, _CODECS, {}).get(payload_type)
            ok = codec is not None and codec.mimeType.lower() == FORWARDED_CODECS[self.kind]
            self._codec_ok[payload_type] = ok
            if not ok:
                name = codec.mimeType if codec else f"payload type {payload_type}"
                logger.error("cannot forward %s %s: only %s is forwarded", name, self.kind, FORWARDED_CODECS[self.kind])
        if not ok:
            self.frames_rejected += 1
            return pli_flag, None
        self._ssrc = packet.ssrc
        try:
            self._forward(frame.data, frame.timestamp)
        except Exception:  # never break the receiver's RTP handling
            logger.exception("forwarding a frame failed")
        return pli_flag, None

    def _forward(self, data: bytes, rtp_timestamp: int) -> None:
        if self._last_rtp is not None:
            delta = (rtp_timestamp - self._last_rtp) & 0xFFFFFFFF
            if delta >= 1 << 31:
                delta -= 1 << 32
            self._pts += delta
        self._last_rtp = rtp_timestamp
        if self.ended.is_set() or (not self._subscribers and self.history is None):
            return
        keyframe = self.kind == "audio" or is_vp8_keyframe(data)  # every Opus frame decodes on its own
        packet = av.Packet(data)  # shared by every subscriber and the history: nothing modifies it
        packet.pts = self._pts
        packet.time_base = self._time_base
        if self.history is not None and self.history.add(packet, keyframe):
            self.request_keyframe()
        for subscriber in list(self._subscribers):
            subscriber._offer(packet, keyframe)
        self.frames_forwarded += 1
        if keyframe:
            self.keyframes_forwarded += 1

    async def _watch_receiver_track(self) -> None:
        # The receiver's track ends when the publisher leaves (BYE, disconnect, peer closed): end the subscribers.
        try:
            while True:
                await self.track.recv()
                self.decoded_frames += 1
                if self.decoded_frames == 1:
                    logger.warning("the forwarded receiver still decodes frames: the hook is not effective")
        except MediaStreamError:
            pass
        finally:
            self._end_subscribers()

    # -- keyframes ----------------------------------------------------------------------------------------

    def request_keyframe(self) -> None:
        """Ask the publisher for a keyframe (RTCP PLI), at most once per ``pli_interval_s``; nothing for audio."""
        if self.kind != "video" or self.ended.is_set() or self._pli_timer is not None:
            return
        wait = self._last_pli + self._pli_interval_s - time.monotonic()
        if wait > 0:
            self._pli_timer = self._loop.call_later(wait, self._send_pli)
        else:
            self._send_pli()

    def _send_pli(self) -> None:
        self._pli_timer = None
        ssrc = self._ssrc
        if ssrc is None:
            sources = self.receiver.getSynchronizationSources()
            ssrc = sources[0].source if sources else None
        if ssrc is None or self.ended.is_set():
            return  # nothing received yet: the publisher's first frame is a keyframe anyway
        self._last_pli = time.monotonic()
        self.plis_sent += 1
        task = self._loop.create_task(self.receiver._send_rtcp_pli(ssrc))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- subscribers --------------------------------------------------------------------------------------

    def subscribe(self) -> ForwardTrack:
        """A new track for one subscriber (give it to ``addTrack`` / ``PeerRegistry.answer(send=...)``)."""
        if self.ended.is_set():
            raise MediaError("the forwarded publisher has ended")
        subscriber = ForwardTrack(self, self._queue_size)
        self._subscribers.add(subscriber)
        self.request_keyframe()
        return subscriber

    async def newest_frame(self, timeout_s: float) -> av.VideoFrame:
        """The newest video frame received, decoded: from the history when there is one (no waiting), otherwise
        from the next keyframe (asked for with a PLI). Raises ``TimeoutError`` if no frame decodes in time."""
        if self.kind != "video":
            raise MediaError("only video is decoded for capture")
        if self.history is not None:
            # Bounded work (at most max_frames frames), so not under the timeout: a thread cannot be cancelled.
            frame = await decode_newest(self.history.frames())
            if frame is not None:
                return frame
        return await self._next_decoded_frame(timeout_s)

    async def _next_decoded_frame(self, timeout_s: float) -> av.VideoFrame:
        latest = LatestFrame()
        decoded = self.decoded()
        consumer = asyncio.create_task(latest.consume(decoded))
        try:
            return await latest.wait_first(timeout_s)
        finally:
            decoded.stop()
            consumer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await consumer

    def decoded(self) -> MediaStreamTrack:
        """A track of decoded frames (for ``LatestFrame``); decodes only while consumed, stop it when done."""
        if self.kind != "video":
            raise MediaError("only video is decoded for capture")
        return _DecodedTrack(self.subscribe())

    def _unsubscribe(self, subscriber: ForwardTrack) -> None:
        self._subscribers.discard(subscriber)

    @property
    def subscriber_count(self) -> int:
        return len(self._subscribers)

    def _end_subscribers(self) -> None:
        self.ended.set()
        if self.history is not None:
            self.history.clear()
        if self._pli_timer is not None:
            self._pli_timer.cancel()
            self._pli_timer = None
        for subscriber in list(self._subscribers):
            subscriber.stop()

    async def stop(self) -> None:
        """End every subscriber track. The hook stays: the receiver keeps dropping its frames instead of decoding
        them into a queue nobody reads (close the publisher's peer to stop receiving)."""
        self._end_subscribers()
        self._watch_task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._watch_task
        for task in list(self._tasks):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
