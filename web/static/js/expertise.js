// Tele-expertise pages: send a request, act on one (accept, decline, ask/give information, answer, close,
// escalate to video, attach files), and show a notice when the server says one of our requests changed.
import { retryAfterMs } from './connect-retry.js';

const boot = JSON.parse(document.getElementById('boot').textContent);

async function call(method, path, body, contentType = 'application/json') {
  const headers = { 'X-CSRF-Token': boot.csrf, Accept: 'application/json' };
  if (body !== undefined) headers['Content-Type'] = contentType;
  const payload = body === undefined || contentType !== 'application/json' ? body : JSON.stringify(body);
  const response = await fetch(path, { method, headers, body: payload, credentials: 'same-origin' });
  const data = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(data.message || `HTTP ${response.status}`);
  return data;
}

function showError(error) {
  const box = document.getElementById('form-error');
  box.textContent = error.message;
  box.classList.remove('hidden');
}

const create = document.getElementById('new-request');
if (create) {
  create.addEventListener('submit', async (event) => {
    event.preventDefault();
    const f = new FormData(create);
    const body = {
      specialty: f.get('specialty'), urgency: f.get('urgency'), commune: f.get('commune'), language: f.get('language'),
      question: f.get('question'), context: f.get('context'),
      patient: { family_name: f.get('family_name'), given_names: f.get('given_names'), birth_date: f.get('birth_date'),
        sex: f.get('sex'), identity_status: f.get('identity_status'), ins: f.get('ins') },
      consent: { obtained: f.get('consent') === 'yes', method: 'oral' },
    };
    try {
      const created = await call('POST', '/api/expertise/requests', body);
      window.location.assign(`/expertise/r/${created.id}`);
    } catch (error) { showError(error); }
  });
}

const actions = document.getElementById('actions');
if (actions) {
  const base = `/api/expertise/requests/${boot.requestId}`;
  actions.addEventListener('click', async (event) => {
    const action = event.target.dataset ? event.target.dataset.action : undefined;
    if (!action) return;
    const f = new FormData(actions);
    const text = f.get('text') || '';
    const bodies = {
      accept: undefined, cancel: undefined, teleconsultation: undefined,
      decline: { reason: text }, 'info-request': { text }, info: { text }, messages: { text },
      answer: { opinion: text, recommendations: f.get('recommendations') || '',
        consultation_needed: f.get('consultation_needed') || 'none' },
      'close-yes': { referral_avoided: true }, 'close-no': { referral_avoided: false },
    };
    const path = action.startsWith('close') ? 'close' : action;
    try {
      await call('POST', `${base}/${path}`, bodies[action]);
      window.location.reload();
    } catch (error) { showError(error); }
  });
  const attach = document.getElementById('attach');
  if (attach) {
    attach.addEventListener('change', async () => {
      const file = attach.files[0];
      if (!file) return;
      try {
        await call('POST', `${base}/attachments?name=${encodeURIComponent(file.name)}`, file, 'application/octet-stream');
        window.location.reload();
      } catch (error) { showError(error); }
    });
  }
}

if (window.io) {
  const socket = window.io('/expertise', { transports: ['websocket'] });
  socket.on('connect_error', (error) => {
    const wait = retryAfterMs(error); // refused for too many connections from this address: try again later
    if (wait !== null) setTimeout(() => socket.connect(), wait);
  });
  socket.on('request', (notice) => {
    if (boot.requestId && notice.request !== boot.requestId) return;
    document.getElementById('notice').classList.remove('hidden');
  });
}
