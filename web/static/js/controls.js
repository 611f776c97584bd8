// Call buttons shared by the patient and practitioner pages: microphone, camera, front/back camera, hang up.
import { log } from './hook.js';
import { t } from './i18n.js';
import { $, setStatus, show } from './ui.js';

export class CallControls {
  // media: LocalMedia; manager(): the current PeerManager or null; onHangup(): async.
  constructor({ media, manager, onHangup }) {
    this.media = media;
    this.manager = manager;
    this.mute = $('#mute');
    this.camera = $('#camera-off');
    this.switcher = $('#switch-camera');
    this.local = $('#local-video');
    this.mute.addEventListener('click', () => {
      this.media.setAudioEnabled(!this.media.audioEnabled);
      this.refresh();
      this.announce();
    });
    this.camera.addEventListener('click', () => {
      this.media.setVideoEnabled(!this.media.videoEnabled);
      this.refresh();
      this.announce();
    });
    if (this.switcher) this.switcher.addEventListener('click', () => this.switchCamera());
    $('#hangup').addEventListener('click', () => onHangup());
  }

  // The other participants see in words that our microphone or camera is off.
  announce() {
    const manager = this.manager();
    if (manager) manager.announceMedia();
  }

  // Show our own picture and bring the buttons in line with the local tracks.
  attachLocal() {
    this.local.srcObject = this.media.stream;
    this.refresh();
  }

  refresh() {
    const audio = this.media.hasAudio;
    const video = this.media.hasVideo;
    this.mute.disabled = !audio;
    this.mute.setAttribute('aria-pressed', String(audio && !this.media.audioEnabled));
    this.mute.textContent = t(audio && !this.media.audioEnabled ? 'js_unmute' : 'js_mute');
    this.camera.disabled = !video;
    this.camera.setAttribute('aria-pressed', String(video && !this.media.videoEnabled));
    this.camera.textContent = t(video && !this.media.videoEnabled ? 'js_camera_on' : 'js_camera_off');
    if (this.switcher) this.switcher.disabled = !video;
    this.local.classList.toggle('mirror', this.media.facingMode === 'user');
    show(this.local, video);
  }

  async switchCamera() {
    const manager = this.manager();
    this.switcher.disabled = true;
    try {
      if (manager) await manager.switchCamera();
      else await this.media.switchCamera();
    } catch (error) {
      log(`camera switch failed: ${error.name}: ${error.message}`);
      setStatus(`${t('js_error')}: ${error.message}`, 'error');
    }
    // The stream's video track changed: re-attach so every browser shows the new one.
    this.local.srcObject = null;
    this.local.srcObject = this.media.stream;
    this.refresh();
  }

  setEnabled(enabled) {
    for (const button of [this.mute, this.camera, this.switcher, $('#hangup')]) {
      if (button) button.disabled = !enabled;
    }
    if (enabled) this.refresh();
  }
}
