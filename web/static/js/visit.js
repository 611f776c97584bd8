// The patient's (or guest's) page, phone first: device check -> waiting room -> call -> end.
import { PeerManager } from './call.js';
import { Chat } from './chat.js';
import { CallControls } from './controls.js';
import { DeviceCheck, showNetwork } from './devicecheck.js';
import { log, mark, observe, setState } from './hook.js';
import { t } from './i18n.js';
import { LocalMedia } from './media.js';
import { Signaling } from './signaling.js';
import { $, randomInstance, setStatus, show, showOnly } from './ui.js';

const STEPS = ['device-check', 'waiting', 'call', 'ended'];
const NETWORK_PATIENCE_MS = 8000;

const signaling = new Signaling();
const media = new LocalMedia();
const check = new DeviceCheck(media);
let joined = null; // the last join ack
let devices = null; // the device check's result
let admitted = false;
let manager = null;
let step = 'device-check';
let chat = null;

function go(next) {
  step = next;
  showOnly(STEPS, next);
  setState(next);
  window.scrollTo(0, 0);
  keepScreenOn(next === 'waiting' || next === 'call');
}

// A phone must not go to sleep in the waiting room or during the call (where the browser allows it).
let wakeLock = null;
async function keepScreenOn(wanted) {
  try {
    if (wanted && !wakeLock && navigator.wakeLock && document.visibilityState === 'visible') {
      wakeLock = await navigator.wakeLock.request('screen');
      wakeLock.addEventListener('release', () => {
        wakeLock = null;
      });
    } else if (!wanted && wakeLock) {
      await wakeLock.release();
      wakeLock = null;
    }
  } catch (error) {
    log(`screen wake lock unavailable: ${error.name}`);
  }
}

// -- device check --------------------------------------------------------------------------------------------
async function runCheck() {
  $('#continue').disabled = true;
  show($('#continue-audio'), false);
  show($('#retry-check'), false);
  devices = await check.run();
  show($('#retry-check'), !devices.camera);
  updateContinue();
}

function updateContinue() {
  const reachable = Boolean(joined);
  $('#continue').disabled = !(devices && devices.camera && devices.microphone && reachable);
  if (!$('#continue').disabled) mark('continue_enabled');
  const audioOnly = Boolean(devices && devices.microphone && !devices.camera);
  show($('#continue-audio'), audioOnly);
  $('#continue-audio').disabled = !(audioOnly && reachable);
}

async function proceed() {
  $('#continue').disabled = true;
  $('#continue-audio').disabled = true;
  check.stop();
  if (admitted) {
    enterCall();
    return;
  }
  mark('continue_clicked');
  try {
    const ack = await signaling.ready();
    if (ack.state === 'admitted') admitted = true;
    if (step !== 'device-check') return;
    go('waiting');
    if (admitted) enterCall();
  } catch (error) {
    log(`ready failed: ${error.code} ${error.message}`);
    $('#check-status').textContent = `${t('js_error')}: ${error.message}`;
    updateContinue();
  }
}

// -- call ----------------------------------------------------------------------------------------------------
const controls = new CallControls({ media, manager: () => manager, onHangup: hangUp });

async function enterCall() {
  if (manager || step === 'ended') return;
  go('call');
  controls.attachLocal();
  manager = new PeerManager({
    signaling,
    me: joined && joined.me,
    ice: joined && joined.ice,
    media,
    policy: joined && joined.media,
    container: $('#remote-videos'),
    onChange: (change) => callChanged(change),
    onAutoplayBlocked: () => show($('#tap-to-play'), true),
  });
  observe(manager);
  callChanged();
  try {
    const ack = await signaling.enter();
    if (manager) manager.entered(ack.peers);
    chat.addAll(ack.chat); // a patient who hung up and was admitted again had no chat in its join
  } catch (error) {
    log(`enter failed: ${error.code} ${error.message}`);
    setStatus(`${t('js_error')}: ${error.message}`, 'error');
  }
}

function callChanged(change = {}) {
  if (!manager || step !== 'call') return;
  if (change.left) {
    const name = change.left.label || t(`kind_${change.left.kind || 'practitioner'}`);
    setStatus(t('js_peer_left', { name }), 'warn');
    return;
  }
  const peers = manager.summary();
  if (!signaling.connected || manager.recovering) setStatus(t('js_reconnecting'), 'warn');
  else if (!peers.length) setStatus(t('js_alone'), '');
  else if (peers.some((peer) => peer.status === 'connected')) {
    // Say so when the call goes through the server (peer to peer failed, or relay is forced).
    setStatus(t(manager.relayed ? 'js_in_call_relayed' : 'js_in_call'), 'ok');
  }
  else setStatus(t('js_connecting'), '');
}

async function hangUp() {
  controls.setEnabled(false);
  try {
    await signaling.leave();
  } catch (error) {
    log(`leave failed: ${error.code}`);
  }
  finish('left');
}

// kind: 'over' (the consultation ended, or our access did) or 'left' (we hung up and may come back).
function finish(kind) {
  if (manager) manager.close();
  manager = null;
  observe(null);
  check.stop();
  media.stop();
  if (kind === 'over') signaling.close();
  show($('#ended-over'), kind === 'over');
  show($('#ended-left'), kind === 'left');
  go('ended');
  setState(kind === 'over' ? 'ended' : 'left');
}

// -- wiring --------------------------------------------------------------------------------------------------
function main() {
  go('device-check');
  chat = new Chat({ signaling, me: () => joined && joined.me });

  signaling.on('admitted', () => {
    mark('admitted');
    log('admitted');
    admitted = true;
    if (step === 'waiting') enterCall();
  });
  signaling.on('ended', () => finish('over'));
  signaling.on('removed', () => {
    $('#ended-over h1').textContent = t('js_removed_title');
    $('#ended-over .lead').textContent = t('js_removed');
    finish('over');
  });
  // Another device opened this consultation with our session: the server closes this socket next.
  signaling.on('replaced', () => {
    $('#ended-over .lead').textContent = t('js_replaced');
  });
  signaling.onRefused(() => {
    if (step !== 'ended') finish('over');
  });
  signaling.onStatus((status) => {
    $('#waiting-status').textContent = status === 'connected' ? '' : t('js_reconnecting');
    if (step === 'call') callChanged();
  });
  signaling.onRestored((ack, entered) => {
    joined = ack;
    if (ack.state === 'admitted') admitted = true;
    showNetwork(ack.rtt);
    updateContinue();
    chat.addAll(ack.chat);
    if (entered) chat.addAll(entered.chat); // messages sent while our socket was away
    if (manager) {
      manager.onRestored(ack, entered);
      callChanged();
    }
    // Admitted while our socket was away: the `admitted` event was missed.
    if (admitted && step === 'waiting') enterCall();
  });

  const networkTimer = setTimeout(() => {
    if (!joined) showNetwork(null);
  }, NETWORK_PATIENCE_MS);
  signaling.join({ instance: randomInstance() }, { timeout: 24 * 3600 * 1000 })
    .then(() => clearTimeout(networkTimer))
    .catch((error) => {
      log(`join failed: ${error.code} ${error.message}`);
      showNetwork(null);
    });

  $('#continue').addEventListener('click', proceed);
  $('#continue-audio').addEventListener('click', proceed);
  $('#retry-check').addEventListener('click', runCheck);
  $('#rejoin').addEventListener('click', () => window.location.reload());
  $('#tap-to-play').addEventListener('click', () => {
    show($('#tap-to-play'), false);
    if (manager) manager.resumePlayback();
  });
  // Leaving the page: release the camera and the connections (the server keeps our admission for a reload).
  window.addEventListener('pagehide', () => {
    if (manager) manager.close();
    media.stop();
  });
  document.addEventListener('visibilitychange', () => keepScreenOn(step === 'waiting' || step === 'call'));
  window.addEventListener('pageshow', (event) => {
    if (event.persisted) window.location.reload();
  });
  runCheck();
}

main();
