// Local camera and microphone: acquisition with fallbacks, mute, camera off, front/back switch.
import { log } from './boot.js';

const VIDEO = { width: { ideal: 640 }, height: { ideal: 480 }, frameRate: { ideal: 24 } };

export class LocalMedia {
  constructor() {
    this.stream = null;
    this.facingMode = 'user';
    this.audioOnly = false;
  }

  // Returns the stream; throws the browser's error (NotAllowedError, NotFoundError, ...) when nothing works.
  async start({ allowAudioOnly = true } = {}) {
    try {
      this.stream = await navigator.mediaDevices.getUserMedia({
        audio: { echoCancellation: true, noiseSuppression: true },
        video: { ...VIDEO, facingMode: this.facingMode },
      });
    } catch (error) {
      if (!allowAudioOnly || error.name === 'NotAllowedError') throw error;
      log(`video unavailable (${error.name}); trying audio only`);
      this.stream = await navigator.mediaDevices.getUserMedia({ audio: true });
      this.audioOnly = true;
    }
    return this.stream;
  }

  toggleAudio() {
    for (const track of this.stream ? this.stream.getAudioTracks() : []) track.enabled = !track.enabled;
    return this.stream && this.stream.getAudioTracks().some((track) => track.enabled);
  }

  toggleVideo() {
    for (const track of this.stream ? this.stream.getVideoTracks() : []) track.enabled = !track.enabled;
    return this.stream && this.stream.getVideoTracks().some((track) => track.enabled);
  }

  // Phones allow one camera at a time (iOS especially): stop the old track before opening the other camera.
  async switchCamera() {
    if (!this.stream || this.audioOnly) return null;
    const old = this.stream.getVideoTracks()[0];
    const next = this.facingMode === 'user' ? 'environment' : 'user';
    if (old) old.stop();
    let fresh;
    try {
      fresh = await navigator.mediaDevices.getUserMedia({ video: { ...VIDEO, facingMode: { ideal: next } } });
    } catch (error) {
      fresh = await navigator.mediaDevices.getUserMedia({ video: { ...VIDEO, facingMode: this.facingMode } });
    }
    const track = fresh.getVideoTracks()[0];
    if (old) this.stream.removeTrack(old);
    this.stream.addTrack(track);
    this.facingMode = next;
    return track;
  }

  stop() {
    for (const track of this.stream ? this.stream.getTracks() : []) track.stop();
  }
}

export function meter(stream, element) {
  if (!stream.getAudioTracks().length || !window.AudioContext) return () => {};
  const context = new AudioContext();
  const analyser = context.createAnalyser();
  context.createMediaStreamSource(stream).connect(analyser);
  const samples = new Uint8Array(analyser.fftSize);
  const timer = setInterval(() => {
    analyser.getByteTimeDomainData(samples);
    let peak = 0;
    for (const value of samples) peak = Math.max(peak, Math.abs(value - 128) / 128);
    element.value = peak;
  }, 100);
  let stopped = false;
  return () => {
    if (stopped) return;
    stopped = true;
    clearInterval(timer);
    context.close();
  };
}
