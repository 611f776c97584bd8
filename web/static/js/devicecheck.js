// The patient's device check: camera + microphone preview, a microphone level meter, plain help when access is
// refused or no device works (with the steps for Android and iPhone), and the network check (socket connected +
// round trip of the acknowledged `join`).
import { log } from './hook.js';
import { t } from './i18n.js';
import { DENIED, levelMeter } from './media.js';
import { $, element, show } from './ui.js';

const SLOW_RTT_MS = 800;
const BUSY = new Set(['NotReadableError', 'TrackStartError', 'AbortError']);

export class DeviceCheck {
  constructor(media) {
    this.media = media;
    this.stopMeter = () => {};
  }

  // Resolves with {camera, microphone, error}: what works, and the browser's error name when nothing does.
  async run() {
    this.stop();
    setCheckStatus(t('js_checking'), '');
    setHelp([]);
    try {
      const stream = await this.media.open();
      $('#preview').srcObject = stream;
      show($('#preview'), this.media.hasVideo);
      this.stopMeter = levelMeter(stream, $('#mic-level'));
      if (this.media.hasVideo) {
        setCheckStatus(t('js_camera_ok'), 'ok');
        return { camera: true, microphone: true, error: null };
      }
      setCheckStatus(t('js_audio_only'), 'warn');
      setHelp([t('js_audio_only_help')]);
      return { camera: false, microphone: true, error: this.media.videoError && this.media.videoError.name };
    } catch (error) {
      log(`device check failed: ${error.name}: ${error.message}`);
      show($('#preview'), false);
      const { title, lines } = explain(error);
      setCheckStatus(title, 'error');
      setHelp(lines);
      return { camera: false, microphone: false, error: error.name };
    }
  }

  stop() {
    this.stopMeter();
    this.stopMeter = () => {};
  }
}

// rtt in ms, or null when the server cannot be reached.
export function showNetwork(rtt) {
  const target = $('#network-status');
  if (rtt === null || rtt === undefined) {
    target.textContent = t('js_network_down');
    target.dataset.tone = 'error';
    return;
  }
  const ms = Math.round(rtt);
  target.textContent = t(ms < SLOW_RTT_MS ? 'js_network_ok' : 'js_network_slow', { ms });
  target.dataset.tone = ms < SLOW_RTT_MS ? 'ok' : 'warn';
}

function explain(error) {
  if (error.name === 'NotSupportedError') {
    return { title: t('js_unsupported'), lines: [t('js_unsupported_help')] };
  }
  if (DENIED.has(error.name)) {
    return { title: t('js_denied'), lines: [t('js_denied_help'), ...platformSteps()] };
  }
  if (BUSY.has(error.name)) {
    return { title: t('js_busy'), lines: [t('js_no_device_help')] };
  }
  return { title: t('js_no_device'), lines: [t('js_no_device_help')] };
}

// Where to re-allow the camera on this phone (both when we cannot tell; none on a computer).
function platformSteps() {
  const agent = navigator.userAgent;
  const ios = /iPhone|iPad|iPod/.test(agent) || (/Macintosh/.test(agent) && navigator.maxTouchPoints > 1);
  const android = /Android/.test(agent);
  if (ios) return [t('js_denied_ios')];
  if (android) return [t('js_denied_android')];
  return /Mobile/.test(agent) ? [t('js_denied_android'), t('js_denied_ios')] : [];
}

function setCheckStatus(text, tone) {
  const target = $('#check-status');
  target.textContent = text;
  target.dataset.tone = tone;
}

function setHelp(lines) {
  const help = $('#check-help');
  help.replaceChildren(...lines.map((line) => element('p', '', line)));
  show(help, lines.length > 0);
}
