// The practitioner's consultation room: patient and guest links, the live waiting room, admission, the call,
// chat, and ending the consultation with its report.
import { api } from './api.js';
import { boot } from './boot.js';
import { PeerManager } from './call.js';
import { Chat } from './chat.js';
import { CallControls } from './controls.js';
import { log, observe, setState } from './hook.js';
import { t } from './i18n.js';
import { LocalMedia } from './media.js';
import { Signaling } from './signaling.js';
import { $, element, randomInstance, setStatus, show } from './ui.js';

const cid = boot.consultationId;
const base = `/api/consultations/${cid}`;
const signaling = new Signaling();
const media = new LocalMedia();
const pageTitle = document.title;
// Set while this tab is in the call, so that a reload (or a crash of the tab) goes straight back in.
const inCallKey = `lucarne:in-call:${cid}`;
let joined = null;
let manager = null;
let patientLink = null;
let ended = ['ended', 'cancelled'].includes($('#consultation-status').dataset.status);
let participants = []; // the waiting room as last shown

// -- links ---------------------------------------------------------------------------------------------------
function showPatientLink(link) {
  if (ended) {
    closeLinks();
    return;
  }
  patientLink = link;
  const anchor = $('#link-url');
  anchor.textContent = link ? link.url : '';
  anchor.href = link ? link.url : '#';
  show($('#link-details'), Boolean(link));
  if (link) {
    $('#link-qr').src = link.qr_url;
    $('#sms-text').textContent = link.sms_text;
    $('#email-text').textContent = `${link.email_subject}\n\n${link.email_text}`;
    $('#link-ics').href = link.ics_url;
  }
  const note = !link ? t('js_no_link') : link.exchanged ? t('js_link_used') : '';
  $('#link-note').textContent = note;
  show($('#link-note'), Boolean(note));
}

async function loadPatientLink() {
  const { links } = await api('GET', `${base}/links`);
  const usable = links.filter((link) => link.role === 'patient' && !link.revoked);
  if (usable.length) showPatientLink(usable[usable.length - 1]);
  else if (!ended) await newPatientLink();
  else showPatientLink(null);
}

// An ended consultation is read-only: its links no longer open, so nothing offers to copy or renew them.
function closeLinks() {
  patientLink = null;
  for (const id of ['#link-url', '#link-details', '#guest-panel']) show($(id), false);
  for (const button of document.querySelectorAll('#link-panel button')) show(button, false);
  $('#link-note').textContent = t('js_links_closed');
  show($('#link-note'), true);
}

async function newPatientLink() {
  showPatientLink(await api('POST', `${base}/links`, { role: 'patient' }));
}

async function revokePatientLink() {
  if (!patientLink) return;
  await api('POST', `${base}/links/${patientLink.jti}/revoke`);
  showPatientLink(null);
}

async function newGuestLink() {
  const label = $('#guest-label').value.trim();
  const link = await api('POST', `${base}/links`, { role: 'guest', label });
  const anchor = $('#guest-link-url');
  anchor.textContent = link.url;
  anchor.href = link.url;
  $('#guest-sms-text').textContent = link.sms_text;
  show($('#guest-link'), true);
}

async function copy(text) {
  try {
    await navigator.clipboard.writeText(text);
    setStatus(t('js_link_copied'), 'ok');
  } catch (error) {
    log(`copy failed: ${error.message}`);
  }
}

// -- waiting room --------------------------------------------------------------------------------------------
function renderWaitingRoom({ participants: latest = [] }) {
  // Once the consultation is over nobody is online or in the call, whatever a late update says.
  participants = ended ? latest.map((participant) => ({ ...participant, online: false, in_call: false })) : latest;
  const list = $('#waiting-list');
  list.replaceChildren(...participants.map(waitingItem));
  show($('#waiting-empty'), participants.length === 0);
  const waiting = ended ? 0 : participants.filter((participant) => participant.state === 'waiting').length;
  document.title = waiting ? `(${waiting}) ${pageTitle}` : pageTitle;
  $('#waiting-room').classList.toggle('attention', waiting > 0);
}

function waitingItem(participant) {
  const item = element('li', 'participant');
  item.dataset.participant = participant.id;
  item.dataset.state = participant.state;
  item.dataset.online = String(Boolean(participant.online));
  const kindName = t(`kind_${participant.kind}`);
  const name = participant.label && participant.label !== participant.kind ? participant.label : kindName;
  const who = element('span', 'who', name);
  const kind = element('span', 'kind', name === kindName ? '' : kindName);
  const state = element('span', 'badge state', t(`state_${participant.state}`));
  const online = element('span', `badge ${participant.online ? 'online' : 'offline'}`,
    t(participant.online ? 'js_online' : 'js_offline'));
  item.append(who, kind, state, online);
  if (participant.in_call) item.append(element('span', 'badge in-call', t('js_in_call_badge')));
  if (participant.state === 'waiting' && !ended) {
    const admit = element('button', 'admit primary', t('admit'));
    admit.type = 'button';
    admit.addEventListener('click', async () => {
      admit.disabled = true;
      try {
        await signaling.request('admit', { participant: participant.id });
        setConsultationStatus('in_progress');
        // Admitting someone means talking to them: enter the call too, so nobody waits on a black screen.
        await startCall();
      } catch (error) {
        admit.disabled = false;
        setStatus(`${t('js_error')}: ${error.message}`, 'error');
      }
    });
    item.append(admit);
  }
  if (!ended) item.append(removeButton(participant));
  return item;
}

// Refuse someone waiting, or take them out of the call: their page says so and their access ends.
function removeButton(participant) {
  const remove = element('button', 'remove subtle-danger', t('js_remove'));
  remove.type = 'button';
  remove.addEventListener('click', async () => {
    remove.disabled = true;
    try {
      await api('POST', `${base}/participants/${participant.id}/remove`);
    } catch (error) {
      remove.disabled = false;
      setStatus(`${t('js_error')}: ${error.message}`, 'error');
    }
  });
  return remove;
}

// -- call ----------------------------------------------------------------------------------------------------
const controls = new CallControls({ media, manager: () => manager, onHangup: hangUp });

async function startCall() {
  if (manager || ended || !joined) return;
  $('#start-call').disabled = true;
  try {
    await media.open();
  } catch (error) {
    log(`no local media (${error.name}): receiving only`);
    setStatus(`${t('js_error')}: ${error.name}`, 'warn');
  }
  controls.attachLocal();
  controls.setEnabled(true);
  manager = new PeerManager({
    signaling,
    me: joined.me,
    ice: joined.ice,
    media,
    policy: joined.media,
    container: $('#remote-videos'),
    onChange: (change) => callChanged(change),
    onAutoplayBlocked: () => show($('#tap-to-play'), true),
  });
  observe(manager);
  try {
    const ack = await signaling.enter();
    if (manager) manager.entered(ack.peers);
    sessionStorage.setItem(inCallKey, '1');
    setState('in_call');
    callChanged();
  } catch (error) {
    log(`enter failed: ${error.code} ${error.message}`);
    setStatus(`${t('js_error')}: ${error.message}`, 'error');
    stopCall();
  }
}

function callChanged(change = {}) {
  if (!manager) return;
  if (change.left) {
    const name = change.left.label || t(`kind_${change.left.kind || 'patient'}`);
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

function stopCall() {
  if (manager) manager.close();
  manager = null;
  observe(null);
  media.stop();
  controls.setEnabled(false);
  $('#local-video').srcObject = null;
  $('#start-call').disabled = ended;
}

async function hangUp() {
  sessionStorage.removeItem(inCallKey);
  stopCall();
  setState('joined');
  setStatus('', '');
  try {
    await signaling.leave();
  } catch (error) {
    log(`leave failed: ${error.code}`);
  }
}

// -- end and report ------------------------------------------------------------------------------------------
async function endConsultation() {
  $('#end-call').disabled = true;
  try {
    await api('POST', `${base}/end`, { report: $('#report').value });
    consultationEnded();
  } catch (error) {
    $('#end-call').disabled = ended;
    setStatus(`${t('js_error')}: ${error.message}`, 'error');
  }
}

function setConsultationStatus(status) {
  const badge = $('#consultation-status');
  if (badge.dataset.status === 'ended') return;
  badge.dataset.status = status;
  badge.className = `badge status-${status}`;
  badge.textContent = t(`status_${status}`);
}

function consultationEnded() {
  ended = true;
  sessionStorage.removeItem(inCallKey);
  stopCall();
  for (const id of ['#start-call', '#end-call', '#new-link', '#revoke-link', '#new-guest-link']) $(id).disabled = true;
  renderWaitingRoom({ participants });
  closeLinks();
  setConsultationStatus('ended');
  setState('ended');
  setStatus(t('js_ended'), 'ok');
}

async function saveReport() {
  const button = $('#save-report');
  button.disabled = true;
  try {
    await api('PUT', `${base}/report`, { report: $('#report').value });
    setStatus(t('js_saved'), 'ok');
  } catch (error) {
    setStatus(`${t('js_error')}: ${error.message}`, 'error');
  } finally {
    button.disabled = false;
  }
}

// -- wiring --------------------------------------------------------------------------------------------------
function onClick(selector, action) {
  $(selector).addEventListener('click', () => {
    Promise.resolve(action()).catch((error) => {
      log(`${selector} failed: ${error.message}`);
      setStatus(`${t('js_error')}: ${error.message}`, 'error');
    });
  });
}

async function main() {
  setState('room');
  controls.setEnabled(false);
  const chat = new Chat({ signaling, me: () => joined && joined.me });
  signaling.on('waiting-room', renderWaitingRoom);
  signaling.on('ended', consultationEnded);
  signaling.onRefused(() => setStatus(t('js_session_over'), 'error'));
  // The patient's session joined from another device: back in the waiting room until admitted again.
  signaling.on('second-device', ({ label, kind }) => {
    setStatus(t('js_second_device', { name: label || t(`kind_${kind}`) }), 'warn');
  });
  signaling.onStatus(() => callChanged());
  signaling.onRestored((ack, entered) => {
    joined = ack;
    chat.addAll(ack.chat);
    if (manager) manager.onRestored(ack, entered);
    callChanged();
  });

  onClick('#start-call', startCall);
  onClick('#new-link', newPatientLink);
  onClick('#revoke-link', revokePatientLink);
  onClick('#copy-link', () => patientLink && copy(patientLink.url));
  onClick('#new-guest-link', newGuestLink);
  onClick('#copy-guest-link', () => copy($('#guest-link-url').textContent));
  onClick('#save-report', saveReport);
  // Ending is final for everyone: ask first, in a dialog that Escape or "keep going" closes.
  onClick('#end-call', () => $('#end-dialog').showModal());
  onClick('#end-cancel', () => $('#end-dialog').close());
  onClick('#end-confirm', () => {
    $('#end-dialog').close();
    return endConsultation();
  });
  onClick('#tap-to-play', () => {
    show($('#tap-to-play'), false);
    if (manager) manager.resumePlayback();
  });
  window.addEventListener('pagehide', () => {
    if (manager) manager.close();
    media.stop();
  });
  window.addEventListener('pageshow', (event) => {
    if (event.persisted) window.location.reload();
  });

  if (ended) consultationEnded();
  loadPatientLink().catch((error) => setStatus(`${t('js_error')}: ${error.message}`, 'error'));
  if (ended) return;
  $('#start-call').disabled = true;
  try {
    joined = await signaling.join({ consultation: cid, instance: randomInstance() });
    setState('joined');
    $('#start-call').disabled = false;
    if (sessionStorage.getItem(inCallKey)) await startCall();
  } catch (error) {
    log(`join failed: ${error.code} ${error.message}`);
    setStatus(`${t('js_error')}: ${error.message}`, 'error');
  }
}

main();
