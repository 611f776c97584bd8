// The server forwards encoded media without decoding it (VP8 video, Opus audio), so every connection to one of its
// peers asks for those codecs only. Browsers without setCodecPreferences keep their defaults; the server then
// refuses an offer it cannot forward, with a clear error.
const FORWARDED = { video: 'video/vp8', audio: 'audio/opus' };

// onRefused(error) when the browser refuses the preference (its defaults stay).
export function preferForwardable(transceiver, kind, onRefused = () => {}) {
  if (!transceiver.setCodecPreferences || !window.RTCRtpReceiver || !RTCRtpReceiver.getCapabilities) return;
  const capabilities = RTCRtpReceiver.getCapabilities(kind);
  const codecs = ((capabilities && capabilities.codecs) || []).filter(
    (codec) => codec.mimeType.toLowerCase() === FORWARDED[kind]);
  try {
    if (codecs.length) transceiver.setCodecPreferences(codecs);
  } catch (error) {
    onRefused(error);
  }
}
