"""Malformed SDP offers (issue #9 Medium 12), each derived from a valid offer so that only one thing is wrong."""

from __future__ import annotations

import re

# A Chrome offer as sent by the case and call pages (trimmed: one candidate per kind of each sort Chrome sends).
CHROME_OFFER = "\r\n".join([
    "v=0",
    "o=- 4611731400430051336 2 IN IP4 127.0.0.1",
    "s=-",
    "t=0 0",
    "a=group:BUNDLE 0 1",
    "a=extmap-allow-mixed",
    "a=msid-semantic: WMS ",
    "m=video 9 UDP/TLS/RTP/SAVPF 96 97 102 103",
    "c=IN IP4 0.0.0.0",
    "a=rtcp:9 IN IP4 0.0.0.0",
    "a=candidate:1467250027 1 udp 2122260223 192.168.0.196 46243 typ host generation 0 network-id 1",
    "a=candidate:3290584421 1 udp 2122194687 a3f4c9b2-6a7e-4c2b-9a8e-1d2c3b4a5f6e.local 56781 typ host "
    "generation 0 network-id 2 network-cost 10",
    "a=candidate:435653019 1 tcp 1518280447 192.168.0.196 9 typ host tcptype active generation 0 network-id 1",
    "a=candidate:842163049 1 udp 1686052607 203.0.113.7 46243 typ srflx raddr 192.168.0.196 rport 46243 "
    "generation 0 network-id 1",
    "a=ice-ufrag:Oyef",
    "a=ice-pwd:7+J8mE0S1ltyhKCc7y6VeW5q",
    "a=ice-options:trickle",
    "a=fingerprint:sha-256 6B:8B:F0:65:5F:78:E2:51:3B:AC:6F:F3:3F:46:1B:35:DC:B8:5F:64:1A:24:C2:43:F0:A1:58:D0:A1:2C:19:08",
    "a=setup:actpass",
    "a=mid:0",
    "a=extmap:1 urn:ietf:params:rtp-hdrext:toffset",
    "a=extmap:2/recvonly http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time",
    "a=sendrecv",
    "a=msid:- 3c1f2e4d-aaaa-bbbb-cccc-0123456789ab",
    "a=rtcp-mux",
    "a=rtcp-rsize",
    "a=rtpmap:96 VP8/90000",
    "a=rtcp-fb:96 goog-remb",
    "a=rtcp-fb:96 transport-cc",
    "a=rtcp-fb:96 ccm fir",
    "a=rtcp-fb:96 nack",
    "a=rtcp-fb:96 nack pli",
    "a=rtpmap:97 rtx/90000",
    "a=fmtp:97 apt=96",
    "a=rtpmap:102 H264/90000",
    "a=fmtp:102 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42001f",
    "a=rtpmap:103 rtx/90000",
    "a=fmtp:103 apt=102",
    "a=ssrc-group:FID 1234 5678",
    "a=ssrc:1234 cname:abcdefgh",
    "a=ssrc:1234 msid:- 3c1f2e4d-aaaa-bbbb-cccc-0123456789ab",
    "a=ssrc:5678 cname:abcdefgh",
    "m=audio 9 UDP/TLS/RTP/SAVPF 111 63 9 0 8 13 110 126",
    "c=IN IP4 0.0.0.0",
    "a=rtcp:9 IN IP4 0.0.0.0",
    "a=ice-ufrag:Oyef",
    "a=ice-pwd:7+J8mE0S1ltyhKCc7y6VeW5q",
    "a=ice-options:trickle",
    "a=fingerprint:sha-256 6B:8B:F0:65:5F:78:E2:51:3B:AC:6F:F3:3F:46:1B:35:DC:B8:5F:64:1A:24:C2:43:F0:A1:58:D0:A1:2C:19:08",
    "a=setup:actpass",
    "a=mid:1",
    "a=extmap:14 urn:ietf:params:rtp-hdrext:ssrc-audio-level",
    "a=sendrecv",
    "a=rtcp-mux",
    "a=rtpmap:111 opus/48000/2",
    "a=rtcp-fb:111 transport-cc",
    "a=fmtp:111 minptime=10;useinbandfec=1",
    "a=rtpmap:63 red/48000/2",
    "a=fmtp:63 111/111",
    "a=rtpmap:9 G722/8000",
    "a=rtpmap:0 PCMU/8000",
    "a=rtpmap:8 PCMA/8000",
    "a=rtpmap:13 CN/8000",
    "a=rtpmap:110 telephone-event/48000",
    "a=rtpmap:126 telephone-event/8000",
    "a=ssrc:9999 cname:abcdefgh",
    "",
])

# A Firefox offer (fingerprint, ICE options at session level; upper-case transports; mDNS host candidates).
FIREFOX_OFFER = "\r\n".join([
    "v=0",
    "o=mozilla...THIS_IS_SDPARTA-99.0 4961421346296151044 0 IN IP4 0.0.0.0",
    "s=-",
    "t=0 0",
    "a=fingerprint:sha-256 1A:2B:3C:4D:5E:6F:70:81:92:A3:B4:C5:D6:E7:F8:09:1A:2B:3C:4D:5E:6F:70:81:92:A3:B4:C5:D6:E7:F8:09",
    "a=group:BUNDLE 0 1",
    "a=ice-options:trickle",
    "a=msid-semantic:WMS *",
    "m=video 9 UDP/TLS/RTP/SAVPF 120 124 121 125 126 127 97 98",
    "c=IN IP4 0.0.0.0",
    "a=candidate:0 1 UDP 2122252543 6f1c2d3e-4a5b-6c7d-8e9f-0a1b2c3d4e5f.local 52433 typ host",
    "a=candidate:1 1 TCP 2105524479 6f1c2d3e-4a5b-6c7d-8e9f-0a1b2c3d4e5f.local 9 typ host tcptype active",
    "a=sendrecv",
    "a=extmap:3 urn:ietf:params:rtp-hdrext:sdes:mid",
    "a=extmap:4 http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time",
    "a=extmap:5 urn:ietf:params:rtp-hdrext:toffset",
    "a=extmap:6/recvonly http://www.webrtc.org/experiments/rtp-hdrext/playout-delay",
    "a=fmtp:126 profile-level-id=42e01f;level-asymmetry-allowed=1;packetization-mode=1",
    "a=fmtp:97 profile-level-id=42e01f;level-asymmetry-allowed=1",
    "a=fmtp:120 max-fs=12288;max-fr=60",
    "a=fmtp:124 apt=120",
    "a=fmtp:121 max-fs=12288;max-fr=60",
    "a=fmtp:125 apt=121",
    "a=fmtp:127 apt=126",
    "a=fmtp:98 apt=97",
    "a=ice-pwd:5e4a1c0d9b8f7e6a5d4c3b2a19081726",
    "a=ice-ufrag:a1b2c3d4",
    "a=mid:0",
    "a=msid:{5f3c7a9e-1234-4bcd-9ef0-123456789abc} {0a1b2c3d-4e5f-6789-abcd-ef0123456789}",
    "a=rtcp-fb:120 nack",
    "a=rtcp-fb:120 nack pli",
    "a=rtcp-fb:120 ccm fir",
    "a=rtcp-fb:120 goog-remb",
    "a=rtcp-fb:120 transport-cc",
    "a=rtcp-fb:121 nack",
    "a=rtcp-fb:126 nack pli",
    "a=rtcp-mux",
    "a=rtcp-rsize",
    "a=rtpmap:120 VP8/90000",
    "a=rtpmap:124 rtx/90000",
    "a=rtpmap:121 VP9/90000",
    "a=rtpmap:125 rtx/90000",
    "a=rtpmap:126 H264/90000",
    "a=rtpmap:127 rtx/90000",
    "a=rtpmap:97 H264/90000",
    "a=rtpmap:98 rtx/90000",
    "a=setup:actpass",
    "a=ssrc:3017345117 cname:{9a8b7c6d-5e4f-3a2b-1c0d-efefefefefef}",
    "a=ssrc:2398121203 cname:{9a8b7c6d-5e4f-3a2b-1c0d-efefefefefef}",
    "a=ssrc-group:FID 3017345117 2398121203",
    "m=audio 9 UDP/TLS/RTP/SAVPF 109 9 0 8 101",
    "c=IN IP4 0.0.0.0",
    "a=sendrecv",
    "a=extmap:1 urn:ietf:params:rtp-hdrext:ssrc-audio-level",
    "a=extmap:2/recvonly urn:ietf:params:rtp-hdrext:csrc-audio-level",
    "a=extmap:3 urn:ietf:params:rtp-hdrext:sdes:mid",
    "a=fmtp:109 maxplaybackrate=48000;stereo=1;useinbandfec=1",
    "a=fmtp:101 0-15",
    "a=ice-pwd:5e4a1c0d9b8f7e6a5d4c3b2a19081726",
    "a=ice-ufrag:a1b2c3d4",
    "a=mid:1",
    "a=msid:{5f3c7a9e-1234-4bcd-9ef0-123456789abc} {11111111-2222-3333-4444-555555555555}",
    "a=rtcp-mux",
    "a=rtpmap:109 opus/48000/2",
    "a=rtpmap:9 G722/8000/1",
    "a=rtpmap:0 PCMU/8000",
    "a=rtpmap:8 PCMA/8000",
    "a=rtpmap:101 telephone-event/8000",
    "a=setup:actpass",
    "a=ssrc:1573468723 cname:{9a8b7c6d-5e4f-3a2b-1c0d-efefefefefef}",
    "",
])

_FINGERPRINT = re.compile(r"^a=fingerprint:.*\r\n", re.MULTILINE)
_OTHER_DIGEST = ":".join(["AB"] * 32)


def _first_candidate(sdp: str) -> str:
    match = re.search(r"^a=candidate:.*$", sdp, re.MULTILINE)
    assert match, "the base offer lists a candidate"
    return match.group(0)


def _with_candidates(sdp: str, count: int) -> str:
    lines = "".join(f"a=candidate:{n} 1 udp 2130706431 127.0.0.1 {1024 + n % 60000} typ host\r\n"
                    for n in range(count))
    return sdp.replace("a=end-of-candidates\r\n", lines + "a=end-of-candidates\r\n", 1)


def corpus(valid: str) -> dict[str, str]:
    """Name -> offer: every entry must be refused with a clear message (``valid`` is an aiortc offer with
    one sha-256 fingerprint per media section and an ``a=end-of-candidates`` line)."""
    video_pt = re.search(r"^m=video \d+ \S+ (\d+)", valid, re.MULTILINE).group(1)  # type: ignore[union-attr]
    candidate = _first_candidate(valid)
    no_fingerprint = _FINGERPRINT.sub("", valid)
    return {
        "empty": "",
        "1 MB": valid + "a=x-padding:" + "x" * (1024 * 1024) + "\r\n",
        "missing fingerprint": no_fingerprint,
        "two different fingerprints": valid.replace(
            "a=setup:", f"a=fingerprint:sha-256 {_OTHER_DIGEST}\r\na=setup:", 1),
        "unknown hash": _FINGERPRINT.sub("a=fingerprint:sha-999 AB:CD:EF\r\n", valid),
        "payload type 99999": re.sub(rf"^(m=video \d+ \S+) {video_pt}\b", r"\1 99999", valid, count=1,
                                     flags=re.MULTILINE).replace(f"a=rtpmap:{video_pt} ", "a=rtpmap:99999 ", 1),
        "truncated candidate": valid.replace(candidate, candidate.split(" typ ")[0].rsplit(" ", 2)[0], 1),
        "10k candidates": _with_candidates(valid, 10_000),
        "100 candidates": _with_candidates(valid, 100),
        "non-UTF-8": valid.replace("s=-", "s=\udcff", 1),
        "not SDP": "hello",
        "no media": "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n",
        "garbage line": valid.replace("s=-", "s=-\r\nthis is not sdp", 1),
        "no ICE password": re.sub(r"^a=ice-pwd:.*\r\n", "", valid, flags=re.MULTILINE),
        "no direction": re.sub(r"^a=(sendrecv|sendonly|recvonly)\r\n", "", valid, flags=re.MULTILINE),
    }
