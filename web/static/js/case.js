// Regulator's case page: caller link, live video through the server, captures, live timeline.
import { preferForwardable } from './codecs.js';
import { PositionView } from './position.js';
import { StreamState } from './stream-state.js';
import { CaptureGallery } from './capture-gallery.js';
import { clockTime, refusalSentence, sentence } from './timeline-words.js';

const boot = JSON.parse(document.getElementById('boot').textContent);
const caseId = boot.caseId;
const $ = (selector) => document.querySelector(selector);
window.lucarne = { state: 'case', events: [] };
const strings = boot.strings || {};
const t = (key, values = {}) => (strings[key] || key).replace(/\{(\w+)\}/g, (whole, name) => (name in values ? String(values[name]) : whole));
const position = new PositionView($('#position'), t);
const gallery = new CaptureGallery($('#captures'), $('#capture-dialog'), t, boot.lang);
const stream = new StreamState($('#stream-banner'), t, (state) => { window.lucarne.stream = state; });
let lastEvent = 0;
let watching = false;
let viewer = null; // the RTCPeerConnection watching the caller, while there is one

async function api(method, path, body) {
  const response = await fetch(path, {
    method,
    headers: { 'Content-Type': 'application/json', 'X-CSRF-Token': boot.csrf },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const data = await response.json().catch(() => ({}));
  if (!response.ok) throw Object.assign(new Error(data.message || response.statusText), { status: response.status });
  return data;
}

function showLink(link) {
  $('#caller-link').textContent = link.url;
  $('#caller-link').href = link.url;
}

// The caller's stream stopped (hang-up, lost connection, server media gone): the server closes this viewer's
// peer; say so and watch again on the next stream.started (the caller re-offers on the same link).
function streamStopped(byCaller = false) {
  if (viewer) viewer.close();
  viewer = null;
  watching = false;
  stream.gone(byCaller);
}

async function watch() {
  if (watching) return;
  watching = true;
  const pc = new RTCPeerConnection({ iceServers: [] });
  viewer = pc;
  stream.watching(pc);
  preferForwardable(pc.addTransceiver('video', { direction: 'recvonly' }), 'video');
  pc.ontrack = (event) => {
    $('#live').srcObject = new MediaStream([event.track]);
  };
  pc.onconnectionstatechange = () => {
    if (viewer !== pc) return;
    window.lucarne.live = pc.connectionState;
    if (['failed', 'closed'].includes(pc.connectionState)) watching = false;
    if (pc.connectionState === 'disconnected' || pc.connectionState === 'failed') stream.connectionLost();
  };
  try {
    await pc.setLocalDescription(await pc.createOffer());
    await new Promise((resolve) => {
      pc.onicegatheringstatechange = () => pc.iceGatheringState === 'complete' && resolve();
      setTimeout(resolve, 3000);
    });
    if (viewer !== pc) return; // the stream stopped while this one was being set up
    const answer = await api('POST', `/api/cases/${caseId}/watch`, { sdp: pc.localDescription.sdp });
    await pc.setRemoteDescription({ type: 'answer', sdp: answer.sdp });
    $('#status').textContent = '';
  } catch (error) {
    pc.close();
    if (viewer === pc) {
      viewer = null;
      watching = false;
    }
  }
}

// The gallery lists the case's captures (with time, author and position) from the server after each new one.
async function refreshCaptures() {
  const { captures } = await api('GET', `/api/cases/${caseId}/captures`);
  gallery.add(captures, (id) => `/api/cases/${caseId}/captures/${id}.jpg`);
}

async function poll() {
  try {
    const { events } = await api('GET', `/api/cases/${caseId}/timeline?after=${lastEvent}`);
    for (const event of events) {
      lastEvent = event.id;
      window.lucarne.events.push(event.kind);
      const item = document.createElement('li');
      item.dataset.kind = event.kind;
      const time = document.createElement('time');
      time.dateTime = event.at;
      time.textContent = clockTime(event.at, boot.lang);
      item.append(time, ` ${sentence(event, t)}`);
      if (event.kind === 'link.refused') {
        $('#status').textContent = `⚠ ${refusalSentence(event.detail || {}, t)}`;
        $('#status').classList.add('alert');
      }
      if (event.kind === 'caller.torch' && event.detail.supported === false) {
        $('#status').textContent = boot.torchUnavailable || 'torch not available on this phone';
      }
      $('#timeline').prepend(item); // newest first: the latest event is seen without scrolling
      if (event.kind === 'capture') refreshCaptures().catch(() => {});
      if (event.kind === 'caller.location') position.add(event.detail, event.at);
      if (event.kind === 'stream.started') watch();
      if (event.kind === 'stream.stopped') streamStopped();
      if (event.kind === 'caller.sharing.stopped') streamStopped(true);
      if (event.kind === 'case.closed') {
        stream.ended();
        $('#case-status').textContent = t('js_case_status_closed');
      }
    }
  } catch (error) {
    $('#status').textContent = error.message;
  }
  setTimeout(poll, 1000);
}

$('#send-sms').onclick = async () => showLink((await api('POST', `/api/cases/${caseId}/link/send`).catch((e) => e)).link || {});
$('#capture').onclick = async () => {
  try {
    await api('POST', `/api/cases/${caseId}/capture`);
  } catch (error) {
    $('#status').textContent = error.message;
  }
};
for (const [id, command] of [['#switch-camera', 'switch_camera'], ['#torch-on', 'torch_on'], ['#torch-off', 'torch_off']]) {
  $(id).onclick = () => api('POST', `/api/cases/${caseId}/commands`, { command }).catch((e) => { $('#status').textContent = e.message; });
}
$('#add-member').onclick = () => api('POST', `/api/cases/${caseId}/members`, { username: $('#member-username').value });
$('#close-case').onclick = async () => {
  await api('POST', `/api/cases/${caseId}/close`);
  $('#case-status').textContent = t('js_case_status_closed');
  stream.ended();
};
if (boot.link) showLink(boot.link);
poll();
