// Caller page (remote camera for emergency regulation): consent, rear camera, photos, location, stop.
// Live streaming to the regulator comes with the server-side media path (issue #3).
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
  await fetch('/api/caller/events', {
    method: 'POST',
    credentials: 'same-origin',
    headers: { 'Content-Type': 'application/json', 'X-CSRF-Token': boot.csrf },
    body: JSON.stringify({ kind, detail }),
  });
}

async function photo() {
  const video = $('#preview');
  const canvas = document.createElement('canvas');
  canvas.width = video.videoWidth;
  canvas.height = video.videoHeight;
  canvas.getContext('2d').drawImage(video, 0, 0);
  const blob = await new Promise((resolve) => canvas.toBlob(resolve, 'image/jpeg', 0.9));
  const query = location ? `?source=photo&lat=${location.lat}&lon=${location.lon}` : '?source=photo';
  const response = await fetch(`/api/caller/stills${query}`, {
    method: 'POST',
    credentials: 'same-origin',
    headers: { 'Content-Type': 'image/jpeg', 'X-CSRF-Token': boot.csrf },
    body: blob,
  });
  $('#caller-status').textContent = response.ok ? t('caller_sent') : `${response.status}`;
}

// Publish the camera to the server (aiortc does not trickle: send the offer once gathering is complete).
async function publish() {
  const pc = new RTCPeerConnection({ iceServers: [] });
  for (const track of stream.getVideoTracks()) pc.addTrack(track, stream);
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
  };
}

$('#accept').onclick = async () => {
  await event('consent', { given: true });
  stream = await navigator.mediaDevices.getUserMedia({
    video: { facingMode: { ideal: 'environment' }, width: { ideal: 640 }, height: { ideal: 480 } },
    audio: false,
  });
  $('#preview').srcObject = stream;
  step('camera');
  try {
    await publish();
  } catch (error) {
    $('#caller-status').textContent = error.message;
  }
};
$('#send-photo').onclick = () => photo();
$('#share-location').onclick = () => navigator.geolocation.getCurrentPosition((position) => {
  location = { lat: position.coords.latitude, lon: position.coords.longitude, accuracy: position.coords.accuracy };
  event('location', location);
});
$('#stop').onclick = async () => {
  if (stream) for (const track of stream.getTracks()) track.stop();
  await event('sharing.stopped');
  step('stopped');
};
step('consent');
