// Patient / guest page: device check -> waiting room -> call -> end.
import { t, $, showOnly, setStatus, setState, log, randomInstance, hook } from './boot.js';
import { Signaling } from './signaling.js';
import { PeerManager } from './call.js';
import { LocalMedia, meter } from './media.js';
import { wireChat } from './chat.js';
import { wireControls } from './controls.js';

const STEPS = ['device-check', 'waiting', 'call', 'ended'];
const signaling = new Signaling();
const media = new LocalMedia();
let joined = null;
let manager = null;
let stopMeter = () => {};

function step(id) {
  showOnly(STEPS, id);
  setState(id);
}

async function checkDevices() {
  $('#check-status').textContent = t('js_checking');
  try {
    const stream = await media.start();
    $('#preview').srcObject = stream;
    stopMeter = meter(stream, $('#mic-level'));
    $('#check-status').textContent = t('js_camera_ok');
    if (media.audioOnly) {
      $('#check-help').textContent = t('js_no_device_help');
      $('#check-help').classList.remove('hidden');
    }
    return true;
  } catch (error) {
    log(`device check failed ${error.name}`);
    const denied = error.name === 'NotAllowedError';
    $('#check-status').textContent = t(denied ? 'js_denied' : 'js_no_device');
    $('#check-help').textContent = t(denied ? 'js_denied_help' : 'js_no_device_help');
    $('#check-help').classList.remove('hidden');
    return false;
  }
}

async function checkNetwork() {
  const started = performance.now();
  joined = await signaling.join({ instance: randomInstance() });
  const rtt = performance.now() - started;
  hook.joinRtt = rtt;
  $('#network-status').textContent = `${t(rtt < 800 ? 'js_network_ok' : 'js_network_slow')} (${Math.round(rtt)} ms)`;
  return joined;
}

async function enterCall() {
  if (manager) return;
  step('call');
  $('#local-video').srcObject = media.stream;
  manager = new PeerManager({ signaling, localStream: media.stream, ice: joined.ice, container: $('#remote-videos') });
  const ack = await signaling.enter();
  manager.entered(ack.peers);
  setStatus(t('js_in_call'));
}

function end() {
  if (manager) manager.close();
  media.stop();
  stopMeter();
  step('ended');
}

async function main() {
  step('device-check');
  signaling.on('admitted', () => enterCall().catch((error) => log(`enter failed ${error.message}`)));
  signaling.on('ended', end);
  signaling.on('disconnect', () => setStatus(t('js_reconnecting')));
  signaling.on('connect', () => setStatus(manager ? t('js_in_call') : ''));
  const show = wireChat(signaling, () => joined && joined.me);
  const [devicesOk] = await Promise.all([
    checkDevices(),
    checkNetwork().catch(() => {
      $('#network-status').textContent = t('js_network_down');
    }),
  ]);
  for (const message of (joined && joined.chat) || []) show(message);
  $('#continue').disabled = !(devicesOk && joined);
  if (!devicesOk) $('#continue-audio').classList.remove('hidden');
  const proceed = async () => {
    stopMeter();
    if (joined.state === 'admitted') return enterCall();
    await signaling.ready();
    step('waiting');
  };
  $('#continue').onclick = proceed;
  $('#continue-audio').onclick = proceed;
  wireControls({
    media,
    manager: () => manager,
    onHangup: async () => {
      await signaling.request('leave').catch(() => {});
      end();
    },
  });
}

main().catch((error) => {
  log(`fatal ${error.message}`);
  setStatus(`${t('js_error')}: ${error.message}`);
});
