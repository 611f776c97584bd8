// The local camera and microphone: opening them (audio only when there is no usable camera), mute, camera off,
// and switching between the front and back cameras of a phone.
import { log, mark } from './hook.js';

const AUDIO = { echoCancellation: true, noiseSuppression: true, autoGainControl: true };
const VIDEO = { width: { ideal: 640 }, height: { ideal: 480 }, frameRate: { ideal: 24, max: 30 } };
// The user (or the browser's settings) said no: asking again without their action changes nothing.
export const DENIED = new Set(['NotAllowedError', 'SecurityError', 'PermissionDeniedError']);

export class LocalMedia {
  constructor() {
    this.stream = null;
    this.facingMode = 'user';
    this.videoError = null; // why the camera could not be used, when we fell back to audio only
  }

  static supported() {
    return Boolean(window.isSecureContext && navigator.mediaDevices && navigator.mediaDevices.getUserMedia
      && window.RTCPeerConnection);
  }

  get hasVideo() {
    return Boolean(this.stream && this.stream.getVideoTracks().some((track) => track.readyState === 'live'));
  }

  get hasAudio() {
    return Boolean(this.stream && this.stream.getAudioTracks().length);
  }

  get audioEnabled() {
    return this.hasAudio && this.stream.getAudioTracks().some((track) => track.enabled);
  }

  get videoEnabled() {
    return this.hasVideo && this.stream.getVideoTracks().some((track) => track.enabled);
  }

  // Camera + microphone, or the microphone alone when the camera is missing or busy. Throws the browser's error
  // (NotAllowedError, NotFoundError, NotReadableError...) when not even the microphone can be used.
  async open() {
    this.stop();
    this.videoError = null;
    if (!LocalMedia.supported()) {
      throw Object.assign(new Error('getUserMedia is not available'), { name: 'NotSupportedError' });
    }
    try {
      this.stream = await navigator.mediaDevices.getUserMedia({
        audio: AUDIO,
        video: { ...VIDEO, facingMode: { ideal: this.facingMode } },
      });
    } catch (error) {
      if (DENIED.has(error.name)) throw error;
      log(`camera + microphone failed (${error.name}); trying the microphone alone`);
      this.videoError = error;
      this.stream = await navigator.mediaDevices.getUserMedia({ audio: AUDIO });
    }
    mark('local_media');
    log(`local media: ${this.stream.getTracks().map((track) => track.kind).join(' + ')}`);
    return this.stream;
  }

  setAudioEnabled(enabled) {
    for (const track of this.stream ? this.stream.getAudioTracks() : []) track.enabled = enabled;
    return this.audioEnabled;
  }

  setVideoEnabled(enabled) {
    for (const track of this.stream ? this.stream.getVideoTracks() : []) track.enabled = enabled;
    return this.videoEnabled;
  }

  // A new video track from the other camera, already in this.stream; null when there is no camera.
  // Phones (iOS above all) open one camera at a time, so the old track is stopped before the new one is asked.
  async switchCamera() {
    if (!this.stream || !this.stream.getVideoTracks().length) return null;
    const old = this.stream.getVideoTracks()[0];
    const enabled = old.enabled;
    const wanted = this.facingMode === 'user' ? 'environment' : 'user';
    old.stop();
    this.stream.removeTrack(old);
    const attempts = [
      { ...VIDEO, facingMode: { exact: wanted } },
      { ...VIDEO, facingMode: { ideal: this.facingMode } }, // only one camera: take the same one back
      true,
    ];
    let lastError = null;
    for (const video of attempts) {
      try {
        const fresh = await navigator.mediaDevices.getUserMedia({ video });
        const track = fresh.getVideoTracks()[0];
        track.enabled = enabled;
        this.stream.addTrack(track);
        const settings = track.getSettings ? track.getSettings() : {};
        this.facingMode = settings.facingMode || (video === attempts[0] ? wanted : this.facingMode);
        log(`camera switched to ${this.facingMode}`);
        return track;
      } catch (error) {
        lastError = error;
      }
    }
    throw lastError;
  }

  stop() {
    for (const track of this.stream ? this.stream.getTracks() : []) track.stop();
  }
}

// Show the microphone level in a <meter> (0..1). Returns a function that stops it.
export function levelMeter(stream, meter) {
  const AudioContextClass = window.AudioContext || window.webkitAudioContext;
  if (!AudioContextClass || !stream.getAudioTracks().length) return () => {};
  const context = new AudioContextClass();
  const analyser = context.createAnalyser();
  analyser.fftSize = 512;
  context.createMediaStreamSource(stream).connect(analyser);
  const samples = new Uint8Array(analyser.fftSize);
  // Phones start audio contexts suspended until the user touches the page.
  const resume = () => context.resume().catch(() => {});
  resume();
  document.addEventListener('pointerdown', resume, { once: true });
  const timer = setInterval(() => {
    analyser.getByteTimeDomainData(samples);
    let sum = 0;
    for (const value of samples) sum += ((value - 128) / 128) ** 2;
    meter.value = Math.min(1, Math.sqrt(sum / samples.length) * 4);
  }, 100);
  return () => {
    clearInterval(timer);
    document.removeEventListener('pointerdown', resume);
    meter.value = 0;
    context.close().catch(() => {});
  };
}
