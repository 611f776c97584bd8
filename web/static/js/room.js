// Practitioner's consultation room: links, live waiting room, admission, call, chat, end and report.
import { boot, t, $, setStatus, setState, log, api, randomInstance } from './boot.js';
import { Signaling } from './signaling.js';
import { PeerManager } from './call.js';
import { LocalMedia } from './media.js';
import { wireChat } from './chat.js';
import { wireControls } from './controls.js';

const cid = boot.consultationId;
const signaling = new Signaling();
const media = new LocalMedia();
let joined = null;
let manager = null;
let currentLink = null;

function showLink(link) {
  currentLink = link;
  const anchor = $('#link-url');
  anchor.textContent = link ? link.url : '';
  anchor.href = link ? link.url : '#';
  $('#link-qr').classList.toggle('hidden', !link);
  if (link) $('#link-qr').src = link.qr_url;
  $('#sms-text').textContent = link ? link.sms_text : '';
  $('#email-text').textContent = link ? `${link.email_subject}\n\n${link.email_text}` : '';
  $('#link-ics').href = link ? link.ics_url : '#';
}

async function loadLinks() {
  const { links } = await api('GET', `/api/consultations/${cid}/links`);
  const usable = links.filter((link) => link.role === 'patient' && !link.revoked);
  showLink(usable.length ? usable[usable.length - 1] : null);
}

function renderWaitingRoom({ participants }) {
  const list = $('#waiting-list');
  list.replaceChildren();
  for (const participant of participants) {
    const item = document.createElement('li');
    item.dataset.participant = participant.id;
    item.dataset.state = participant.state;
    const label = document.createElement('span');
    const name = participant.label || t(`kind_${participant.kind}`);
    label.textContent = `${name} · ${t(`state_${participant.state}`)} · ${t(participant.online ? 'js_online' : 'js_offline')}`;
    item.append(label);
    if (participant.state === 'waiting') {
      const admit = document.createElement('button');
      admit.className = 'admit primary';
      admit.type = 'button';
      admit.textContent = t('admit');
      admit.onclick = () => signaling.request('admit', { participant: participant.id }).catch((e) => setStatus(e.message));
      item.append(admit);
    }
    list.append(item);
  }
}

async function startCall() {
  if (manager) return;
  $('#start-call').disabled = true;
  try {
    await media.start();
    $('#local-video').srcObject = media.stream;
  } catch (error) {
    log(`no local media ${error.name}`);
  }
  manager = new PeerManager({ signaling, localStream: media.stream, ice: joined.ice, container: $('#remote-videos') });
  const ack = await signaling.enter();
  manager.entered(ack.peers);
  setState('in_call');
  setStatus(t('js_in_call'));
}

function stopCall() {
  if (manager) manager.close();
  manager = null;
  media.stop();
  $('#start-call').disabled = false;
}

async function main() {
  setState('room');
  await loadLinks().catch((error) => setStatus(error.message));
  signaling.on('waiting-room', renderWaitingRoom);
  signaling.on('ended', () => {
    stopCall();
    $('#consultation-status').textContent = t('status_ended');
    setState('ended');
  });
  const show = wireChat(signaling, () => joined && joined.me);
  joined = await signaling.join({ consultation: cid, instance: randomInstance() });
  for (const message of joined.chat || []) show(message);
  setState('joined');

  $('#start-call').onclick = () => startCall().catch((error) => setStatus(error.message));
  $('#new-link').onclick = async () => showLink(await api('POST', `/api/consultations/${cid}/links`, { role: 'patient' }));
  $('#revoke-link').onclick = async () => {
    if (!currentLink) return;
    await api('POST', `/api/consultations/${cid}/links/${currentLink.jti}/revoke`);
    showLink(null);
  };
  $('#new-guest-link').onclick = async () => {
    const link = await api('POST', `/api/consultations/${cid}/links`, { role: 'guest', label: $('#guest-label').value });
    $('#guest-url').textContent = link.url;
  };
  $('#save-report').onclick = async () => {
    await api('PUT', `/api/consultations/${cid}/report`, { report: $('#report').value });
    setStatus(t('js_saved'));
  };
  $('#end-call').onclick = async () => {
    await api('POST', `/api/consultations/${cid}/end`, { report: $('#report').value });
  };
  wireControls({
    media,
    manager: () => manager,
    onHangup: async () => {
      await signaling.request('leave').catch(() => {});
      stopCall();
    },
  });
}

main().catch((error) => {
  log(`fatal ${error.message}`);
  setStatus(`${t('js_error')}: ${error.message}`);
});
