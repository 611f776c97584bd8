"""Server-side media with aiortc: relay when peer-to-peer fails, live view fan-out and frame capture.

Not built yet: this package is issue #3's. It will expose a peer registry that owns every
``RTCPeerConnection`` and closes it on every path, an encoded-frame forwarding relay and a frame capture.
"""

__all__: list[str] = []
