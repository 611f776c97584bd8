// Caller page (remote camera for emergency regulation): consent, rear camera, photos, location, stop.
// Live streaming to the regulator comes with the server-side media path (issue #3).
import { preferForwardable } from './codecs.js';

const boot = JSON.parse(document.getElementById('boot').textContent);
const t = (key) => (boot.strings && boot.strings[key]) || key;
const $ = (selector) => document.querySelector(selector);
let stream = null;
let location = null;

function step(id) {
  for (const section of ['consent', 'camera', 'stopped']) document.getElementById(section).classList.toggle('hidden', section !== id);
  window.lucarne = { ...(window.lucarne || {}), state: id };
}

async function event(kind, detail = {}) {
  const response = await fetch('/api/caller/events', {
    method: 'POST',
    credentials: 'same-origin',
    headers: { 'Content-Type': 'application/json', 'X-CSRF-Token': boot.csrf },
    body: JSON.stringify({ kind, detail }),
  });
  return response.ok;
}

// Says plainly on the phone whether the regulator is receiving the camera right now.
function showOnAir(connectionState) {
  const onAir = $('#on-air');
  onAir.hidden = !['connected', 'disconnected', 'failed'].includes(connectionState);
  onAir.dataset.state = connectionState === 'connected' ? 'live' : 'lost';
  onAir.textContent = t(connectionState === 'connected' ? 'js_caller_on_air' : 'js_caller_on_air_lost');
}

// A full-resolution photo where the phone supports ImageCapture; otherwise a frame of the preview.
async function snapshot() {
  const track = stream && stream.getVideoTracks()[0];
  if (track && window.ImageCapture) {
    try {
      return await new ImageCapture(track).takePhoto();
    } catch (error) {
      // fall back to the preview frame below
    }
  }
  return null;
}

async function photo(source = 'photo') {
  const full = source === 'photo' ? await snapshot() : null;
  if (full) return upload(full, source);
  const video = $('#preview');
  const canvas = document.createElement('canvas');
  canvas.width = video.videoWidth;
  canvas.height = video.videoHeight;
  canvas.getContext('2d').drawImage(video, 0, 0);
  const blob = await new Promise((resolve) => canvas.toBlob(resolve, 'image/jpeg', 0.9));
  return upload(blob, source);
}

async function upload(blob, source) {
  const query = location ? `?source=${source}&lat=${location.lat}&lon=${location.lon}` : `?source=${source}`;
  const response = await fetch(`/api/caller/stills${query}`, {
    method: 'POST',
    credentials: 'same-origin',
    headers: { 'Content-Type': blob.type === 'image/png' ? 'image/png' : 'image/jpeg', 'X-CSRF-Token': boot.csrf },
    body: blob,
  });
  $('#caller-status').textContent = t(uploadOutcome(response.status));
}

// Words for the caller, never the status code: 429 is a rate (wait), 413/507 a full case file or server.
function uploadOutcome(status) {
  if (status >= 200 && status < 300) return 'caller_sent';
  if (status === 429) return 'js_caller_photo_wait';
  if (status === 413 || status === 507) return 'js_caller_photo_full';
  return 'js_caller_photo_failed';
}

// Publish the camera to the server (aiortc does not trickle: send the offer once gathering is complete).
async function publish() {
  const pc = new RTCPeerConnection({ iceServers: [] });
  for (const track of stream.getVideoTracks()) {
    preferForwardable(pc.addTransceiver(track, { direction: 'sendonly', streams: [stream] }), 'video');
  }
  const gathered = new Promise((resolve) => {
    pc.onicegatheringstatechange = () => pc.iceGatheringState === 'complete' && resolve();
    setTimeout(resolve, 3000);
  });
  await pc.setLocalDescription(await pc.createOffer());
  await gathered;
  const response = await fetch('/api/caller/offer', {
    method: 'POST',
    credentials: 'same-origin',
    headers: { 'Content-Type': 'application/json', 'X-CSRF-Token': boot.csrf },
    body: JSON.stringify({ sdp: pc.localDescription.sdp }),
  });
  if (!response.ok) throw new Error(`offer refused (${response.status})`);
  await pc.setRemoteDescription({ type: 'answer', sdp: (await response.json()).sdp });
  window.lucarne.pc = pc;
  pc.onconnectionstatechange = () => {
    window.lucarne.connection = pc.connectionState;
    if (window.lucarne.pc === pc) showOnAir(pc.connectionState);
  };
}

let facing = 'environment';
let lastCommand = null;

// The regulator's requests arrive through a short poll (one small GET a second).
async function pollCommands() {
  try {
    const response = await fetch(`/api/caller/commands?after=${lastCommand || 0}`, { credentials: 'same-origin' });
    if (response.ok) {
      const { commands } = await response.json();
      const fresh = lastCommand === null ? [] : commands;
      if (commands.length) lastCommand = commands[commands.length - 1].id;
      else if (lastCommand === null) lastCommand = 0;
      for (const { command } of fresh) await run(command).catch((error) => event('mode', { error: error.name }));
    }
  } finally {
    setTimeout(pollCommands, 1000);
  }
}

async function run(command) {
  if (!stream) return;
  if (command === 'switch_camera') {
    const old = stream.getVideoTracks()[0];
    facing = facing === 'environment' ? 'user' : 'environment';
    if (old) old.stop();
    const fresh = (await navigator.mediaDevices.getUserMedia({ video: { facingMode: { ideal: facing } } })).getVideoTracks()[0];
    stream = new MediaStream([fresh]);
    $('#preview').srcObject = stream;
    const sender = window.lucarne.pc && window.lucarne.pc.getSenders().find((s) => s.track === old || (s.track && s.track.kind === 'video'));
    if (sender) await sender.replaceTrack(fresh);
    await event('camera.switched', { facing });
  } else if (command === 'torch_on' || command === 'torch_off') {
    const track = stream.getVideoTracks()[0];
    const capabilities = track && track.getCapabilities ? track.getCapabilities() : {};
    if (!capabilities.torch) {
      await event('torch', { supported: false });
      return;
    }
    await track.applyConstraints({ advanced: [{ torch: command === 'torch_on' }] });
    await event('torch', { supported: true, on: command === 'torch_on' });
  }
}

// Degrade path: no live video after 10 s -> a still every 5 s over HTTPS.
function degradeIfNoVideo() {
  setTimeout(async () => {
    const state = window.lucarne.connection;
    if (state === 'connected' || !stream) return;
    await event('mode', { mode: 'stills' });
    window.lucarne.mode = 'stills';
    const sendStill = async () => {
      if (!stream || window.lucarne.state === 'stopped') return;
      await photo('still').catch(() => {});
      setTimeout(sendStill, 5000);
    };
    sendStill();
  }, 10_000);
}

$('#accept').onclick = async () => {
  await event('consent', { given: true });
  try {
    stream = await navigator.mediaDevices.getUserMedia({
      video: { facingMode: { ideal: 'environment' }, width: { ideal: 640 }, height: { ideal: 480 } },
      audio: false,
    });
  } catch (error) {
    // Last resort: location and text only.
    await event('mode', { mode: 'location', reason: error.name });
    window.lucarne.mode = 'location';
    step('camera');
    $('#caller-status').textContent = t('js_caller_camera_denied');
    return;
  }
  $('#preview').srcObject = stream;
  step('camera');
  pollCommands();
  degradeIfNoVideo();
  try {
    await publish();
  } catch (error) {
    $('#caller-status').textContent = t('js_caller_video_failed');
  }
};
$('#send-photo').onclick = () => photo('photo');
// Once shared, the position follows the phone: a new fix is sent when it moved or got much more precise, and at
// least every 30 s, never more than one every 5 s.
let sentAt = 0;
let watchId = null;
function moved(a, b) {
  const metres = Math.hypot((a.lat - b.lat) * 110540, (a.lon - b.lon) * 111320 * Math.cos((b.lat * Math.PI) / 180));
  return metres > Math.max(20, b.accuracy / 2) || a.accuracy < b.accuracy / 2;
}
function onPosition(position) {
  const fix = { lat: position.coords.latitude, lon: position.coords.longitude, accuracy: position.coords.accuracy };
  const now = Date.now();
  if (location && (now - sentAt < 5000 || (!moved(fix, location) && now - sentAt < 30000))) return;
  location = fix;
  sentAt = now;
  event('location', fix).then((ok) => {
    $('#caller-status').textContent = t(ok ? 'js_caller_location_sent' : 'js_caller_location_failed');
  }).catch(() => { $('#caller-status').textContent = t('js_caller_location_failed'); });
}
$('#share-location').onclick = () => {
  if (!navigator.geolocation) return;
  if (watchId !== null) navigator.geolocation.clearWatch(watchId);
  location = null;
  watchId = navigator.geolocation.watchPosition(onPosition, () => {
    $('#caller-status').textContent = t('js_caller_location_failed');
  }, { enableHighAccuracy: true, maximumAge: 10000, timeout: 20000 });
};
$('#stop').onclick = async () => {
  if (watchId !== null) navigator.geolocation.clearWatch(watchId);
  if (stream) for (const track of stream.getTracks()) track.stop();
  if (window.lucarne.pc) window.lucarne.pc.close();
  $('#on-air').hidden = true;
  stream = null;
  await event('sharing.stopped');
  step('stopped');
};
step('consent');
